import { AppName, AppProcess } from './app-process';
import { freePort } from './free-port';
import { descendantsOf, signalAll } from './processes';

/** How many processes of each app a stack runs. Ingest processes share one consumer group. */
export interface StackLayout {
  collector?: number;
  ingest?: number;
  api?: number;
  compactor?: number;
}

const PORT_VARIABLE: Record<AppName, string> = {
  collector: 'COLLECTOR_PORT',
  ingest: 'INGEST_PORT',
  api: 'API_PORT',
  compactor: 'COMPACTOR_PORT',
};

/** One process of a stack, by a stable id ("ingest-2"), restartable on its own port. */
export class StackMember {
  private current: AppProcess | null = null;
  private exitedByItself = false;

  constructor(
    readonly id: string,
    readonly app: AppName,
    private readonly env: Record<string, string>,
  ) {}

  get process(): AppProcess {
    if (!this.current) throw new Error(`${this.id} is not running`);
    return this.current;
  }

  get running(): boolean {
    return this.current !== null;
  }

  get url(): string {
    return `http://127.0.0.1:${this.env[PORT_VARIABLE[this.app]]}`;
  }

  /** The process died without being told to (a crash, a fail point). */
  get exited(): boolean {
    return this.exitedByItself;
  }

  get pid(): number | undefined {
    return this.current?.pid;
  }

  /** Starts the process, retrying while its dependencies are down (a start during an outage may fail). */
  async start(extraEnv: Record<string, string> = {}, timeoutMs = 300_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const started = await AppProcess.start(this.app, { ...this.env, ...extraEnv }, PORT_VARIABLE[this.app]);
        this.current = started;
        this.exitedByItself = false;
        void started.exited().then(() => {
          if (this.current === started) this.exitedByItself = true;
        });
        return;
      } catch (error) {
        if (Date.now() > deadline) throw error;
        await new Promise((r) => setTimeout(r, 2_000));
      }
    }
  }

  async stop(): Promise<void> {
    const current = this.current;
    this.current = null;
    await current?.stop();
  }

  /**
   * kill -9 of the process and its children, as when a container dies: the compactor's BullMQ
   * sandboxed processors are child processes and would otherwise live on as orphans.
   */
  async kill(): Promise<void> {
    const current = this.current;
    this.current = null;
    if (current?.pid !== undefined) signalAll(descendantsOf(current.pid), 'SIGKILL');
    await current?.kill();
  }

  async restart(extraEnv: Record<string, string> = {}): Promise<void> {
    await this.kill();
    await this.start(extraEnv);
  }

  /** SIGSTOP for `ms`, then SIGCONT: a process that wakes after its lease or session ran out. */
  async pause(ms: number): Promise<void> {
    const pid = this.pid;
    if (pid === undefined) return;
    const tree = [pid, ...descendantsOf(pid)];
    signalAll(tree, 'SIGSTOP');
    await new Promise((r) => setTimeout(r, ms));
    signalAll(tree, 'SIGCONT');
  }

  get logs(): string {
    return this.current?.logs ?? '';
  }
}

/**
 * A stack of the apps as real processes from dist/, e.g. a collector, two ingest processes in one
 * group, two API processes and a compactor, all on one environment (see test-environment.ts).
 */
export class AppStack {
  private constructor(readonly members: StackMember[]) {}

  static async start(env: Record<string, string>, layout: StackLayout): Promise<AppStack> {
    const members: StackMember[] = [];
    for (const app of ['collector', 'ingest', 'api', 'compactor'] as const) {
      for (let i = 1; i <= (layout[app] ?? 0); i++) {
        const port = i === 1 && env[PORT_VARIABLE[app]] ? env[PORT_VARIABLE[app]] : String(await freePort());
        members.push(new StackMember(`${app}-${i}`, app, { ...env, [PORT_VARIABLE[app]]: port }));
      }
    }
    const stack = new AppStack(members);
    try {
      // One at a time: starting several Node processes at once on two cores only makes each slower.
      for (const member of members) await member.start();
    } catch (error) {
      await stack.stop();
      throw error;
    }
    return stack;
  }

  member(id: string): StackMember {
    const found = this.members.find((m) => m.id === id);
    if (!found) throw new Error(`no stack member ${id}`);
    return found;
  }

  of(app: AppName): StackMember[] {
    return this.members.filter((m) => m.app === app);
  }

  /** The first process of an app, e.g. `stack.first('api').url`. */
  first(app: AppName): StackMember {
    const [member] = this.of(app);
    if (!member) throw new Error(`the stack runs no ${app}`);
    return member;
  }

  async stop(): Promise<void> {
    await Promise.allSettled(this.members.map((m) => m.stop()));
  }
}
