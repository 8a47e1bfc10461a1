import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CHECKOUT_ROOT } from './app-process';
import { freePort } from './free-port';

// From the checkout, not __dirname: compiled, this file runs from dist-bench/ too (bench commitlog).
const INFRA = join(CHECKOUT_ROOT, 'scripts/infra.sh');

/** True when this checkout's infra script started the service, so a test may stop and restart it. */
export function ownsService(service: 'kafka' | 'cassandra'): boolean {
  return spawnSync('bash', [INFRA, 'owns', service]).status === 0;
}

export function stopService(service: 'kafka' | 'cassandra'): void {
  const result = spawnSync('bash', [INFRA, 'stop', service], { encoding: 'utf8', timeout: 120_000 });
  if (result.status !== 0) throw new Error(`could not stop ${service}: ${result.stderr}`);
}

/** Starts the service again and waits until it answers. */
export function startService(service: 'kafka' | 'cassandra'): void {
  const result = spawnSync('bash', [INFRA, 'start', service], { encoding: 'utf8', timeout: 300_000 });
  if (result.status !== 0) throw new Error(`could not start ${service}: ${result.stderr}`);
}

/** A Redis of the test's own (append-only file, so queued jobs survive a restart), on a free port. */
export class PrivateRedis {
  private process: ChildProcess | null = null;
  private readonly dir = mkdtempSync(join(tmpdir(), 'vh-redis-'));

  constructor(readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts it unless it runs already (a nemesis heals every service, stopped or not). */
  async start(): Promise<void> {
    if (this.process && this.process.exitCode === null && this.process.signalCode === null) return;
    this.process = spawn(
      'redis-server',
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'yes',
        '--appendfsync',
        'always',
        '--dir',
        this.dir,
        '--maxmemory-policy',
        'noeviction',
      ],
      { stdio: 'ignore' },
    );
    for (let i = 0; i < 50; i++) {
      if (spawnSync('redis-cli', ['-p', String(this.port), 'ping'], { encoding: 'utf8' }).stdout.trim() === 'PONG')
        return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error('private redis did not start');
  }

  async stop(): Promise<void> {
    const child = this.process;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  }

  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * A single-node Cassandra of the test's own (scripts/infra.sh with its own state directory and ports, the
 * checkout's cassandra.yaml.template), so a test may kill -9 it without touching the shared node.
 */
export class PrivateCassandra {
  private readonly dir = mkdtempSync(join(tmpdir(), 'vh-cassandra-'));

  private constructor(
    readonly port: number,
    private readonly storagePort: number,
    private readonly jmxPort: number,
  ) {}

  /** On free ports; call `start` next. */
  static async create(): Promise<PrivateCassandra> {
    return new PrivateCassandra(await freePort(), await freePort(), await freePort());
  }

  /** For CASSANDRA_CONTACT_POINTS. */
  get contactPoint(): string {
    return `127.0.0.1:${this.port}`;
  }

  /**
   * scripts/infra.sh's environment for this node (also for `nodetool`), with `settings` (other INFRA_*
   * variables, e.g. INFRA_CASSANDRA_COMMITLOG_SYNC) on top.
   */
  infraEnv(settings: Record<string, string> = {}): NodeJS.ProcessEnv {
    return {
      ...process.env,
      INFRA_STATE_DIR: this.dir,
      INFRA_CASSANDRA_PORT: String(this.port),
      INFRA_CASSANDRA_STORAGE_PORT: String(this.storagePort),
      INFRA_CASSANDRA_JMX_PORT: String(this.jmxPort),
      ...settings,
    };
  }

  /**
   * Starts the node (again, on the same data after a kill or stop; cassandra.yaml rendered anew with
   * `settings`) and waits until it answers CQL.
   */
  async start(settings: Record<string, string> = {}): Promise<void> {
    await this.infra(['start', 'cassandra'], settings);
  }

  /** A clean stop (infra.sh: SIGTERM, then waits until the process is gone). */
  async stop(): Promise<void> {
    await this.infra(['stop', 'cassandra']);
  }

  /** A crash: SIGKILL of the JVM, nothing flushed; waits until the process is gone. */
  async kill(): Promise<void> {
    const pid = this.pid();
    if (pid === null) return;
    process.kill(pid, 'SIGKILL');
    while (this.pid() !== null) await new Promise((r) => setTimeout(r, 100));
  }

  async dispose(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** The JVM's pid, only while its command line names this node's own state directory. */
  pid(): number | null {
    const file = join(this.dir, 'cassandra', 'pid');
    if (!existsSync(file)) return null;
    const pid = Number(readFileSync(file, 'utf8').trim());
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      return cmdline.includes('CassandraDaemon') && cmdline.includes(this.dir) ? pid : null;
    } catch {
      return null;
    }
  }

  private async infra(args: string[], settings: Record<string, string> = {}): Promise<void> {
    const child = spawn('bash', [INFRA, ...args], {
      env: this.infraEnv(settings),
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    if (code !== 0) throw new Error(`private cassandra: infra.sh ${args.join(' ')} failed: ${stderr}`);
  }
}
