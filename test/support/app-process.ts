import { ChildProcess, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** The checkout: found upwards, since this file also runs compiled from dist-bench/ (benchmarks). */
function checkoutRoot(from: string): string {
  return existsSync(join(from, 'package.json')) ? from : checkoutRoot(dirname(from));
}
export const CHECKOUT_ROOT = checkoutRoot(__dirname);
const ROOT = CHECKOUT_ROOT;
/** The compiled apps: dist/ for tests, VH_DIST_DIR (dist-bench) for benchmarks. */
const DIST = join(ROOT, process.env.VH_DIST_DIR || 'dist');
/** Extra node flags for the apps, e.g. VH_APP_NODE_ARGS=--prof to profile them under a benchmark. */
export const NODE_ARGS = (process.env.VH_APP_NODE_ARGS ?? '').split(' ').filter(Boolean);
export type AppName = 'collector' | 'ingest' | 'api' | 'compactor';

/** One app running as a real process from dist/, as it runs in production. */
export class AppProcess {
  private output = '';
  private exitedPromise: Promise<number | null>;

  private constructor(
    readonly name: AppName,
    readonly port: number,
    private readonly child: ChildProcess,
  ) {
    child.stdout?.on('data', (chunk: Buffer) => this.append(chunk));
    child.stderr?.on('data', (chunk: Buffer) => this.append(chunk));
    this.exitedPromise = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  }

  /**
   * `stdoutFile`: the process's stdout (its JSON log) goes to that file, as a log agent would take it, instead of
   * a pipe into this process, which then reads every line on the cores it measures (benchmarks); `logs` then
   * holds stderr only.
   * `checkout`: another checkout's build (its `dist/`, its dependencies) instead of this one's, to measure two
   * versions of the code side by side in one run (issue 14).
   */
  static async start(
    name: AppName,
    env: Record<string, string>,
    portVariable = `${name.toUpperCase()}_PORT`,
    options: { stdoutFile?: string; checkout?: string } = {},
  ): Promise<AppProcess> {
    const stdout = options.stdoutFile === undefined ? 'pipe' : openSync(options.stdoutFile, 'a');
    const [root, dist, distEnv] =
      options.checkout === undefined
        ? [ROOT, DIST, {}]
        : [options.checkout, join(options.checkout, 'dist'), { VH_DIST_DIR: 'dist' }];
    const child = spawn(
      process.execPath,
      [...NODE_ARGS, '-r', join(root, 'scripts/register-paths.js'), join(dist, `apps/${name}/src/main.js`)],
      {
        cwd: root,
        env: { ...process.env, ...env, ...distEnv, NO_COLOR: '1' },
        stdio: ['ignore', stdout, 'pipe'],
      },
    );
    if (typeof stdout === 'number') closeSync(stdout); // the child holds its own copy
    const app = new AppProcess(name, Number(env[portVariable]), child);
    await app.waitUntilLive();
    return app;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** The signal the process died of, if any (Nest re-raises SIGTERM once its shutdown hooks finish). */
  get exitSignal(): NodeJS.Signals | null {
    return this.child.signalCode;
  }

  get logs(): string {
    return this.output;
  }

  /** Graceful stop (SIGTERM) and wait for the exit code. */
  async stop(): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    return this.exitedPromise;
  }

  /** Resolves when the process exits by itself (a crash it caused). */
  async exited(): Promise<number | null> {
    return this.exitedPromise;
  }

  /** A crash: SIGKILL, nothing flushed, nothing committed. */
  async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.exitedPromise;
  }

  private append(chunk: Buffer): void {
    this.output = (this.output + chunk.toString()).slice(-20_000);
  }

  private async waitUntilLive(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.child.exitCode !== null)
        throw new Error(`${this.name} exited with ${this.child.exitCode}:\n${this.output}`);
      try {
        const response = await fetch(`${this.url}/health/live`);
        if (response.ok) return;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    await this.kill();
    throw new Error(`${this.name} did not become live within ${timeoutMs} ms:\n${this.output}`);
  }
}
