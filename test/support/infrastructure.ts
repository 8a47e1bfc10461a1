import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const INFRA = join(__dirname, '../../scripts/infra.sh');

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
