import { ChildProcess, spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import autocannon from 'autocannon';
import { CHECKOUT_ROOT, NODE_ARGS } from '../test/support/app-process';
import { freePort } from '../test/support/free-port';
import { cpuProfile, round, servicePid } from './bench-context';

/** A-B-B-A rounds of `read_vs_raw`. */
export const READ_VS_RAW_ROUNDS = 3;

export interface ReadVsRawTarget {
  apiUrl: string;
  apiPid: number | undefined;
  readToken: string;
  keyspace: string;
  /** A history path (`/v1/profiles/<id>/history?limit=20`) of a random profile. */
  path: () => string;
}

/** Page reads/s of one server, closed loop, reads only. */
async function readsPerSecond(
  url: string,
  pid: number | undefined,
  token: string,
  path: () => string,
  connections: number,
  seconds: number,
) {
  const measured = await cpuProfile({ server: pid, cassandra: servicePid('cassandra') }, () =>
    autocannon({
      url,
      connections,
      duration: seconds,
      timeout: 10,
      headers: { authorization: `Bearer ${token}` },
      requests: [{ setupRequest: (r) => ({ ...r, path: path() }) }],
    }),
  );
  const result = measured.result;
  // Only answered pages count; a shed read (503) or an error is reported, not counted.
  return {
    reads: result['2xx'],
    notAnswered: result.non2xx + result.errors + result.timeouts,
    seconds: result.duration,
    serverCpuSeconds: measured.cpu.server,
    cassandraCpuSeconds: measured.cpu.cassandra,
  };
}

/** bench/raw-read-server.ts running as a process: the bare read path, and nothing else. */
export interface RawReadServer {
  url: string;
  pid: number | undefined;
  stop(): void;
}

/** Started with the apps' extra node flags (VH_APP_NODE_ARGS): a profiled run profiles both sides alike. */
export async function startRawReadServer(keyspace: string, checkout?: string): Promise<RawReadServer> {
  return startBareServer('raw-read-server.js', { CASSANDRA_KEYSPACE: keyspace }, checkout);
}

/**
 * A bench/ script (compiled beside this file, or in `checkout`'s dist-bench/: another checkout, built with
 * tsconfig.bench.json) as its own process, with the apps' node flags (VH_APP_NODE_ARGS).
 */
export function spawnBenchScript(
  script: string,
  env: Record<string, string>,
  stdio: ['ignore' | 'pipe', 'pipe', 'inherit' | 'pipe'],
  checkout?: string,
): ChildProcess {
  const root = checkout === undefined ? CHECKOUT_ROOT : resolve(checkout);
  const file = checkout === undefined ? join(__dirname, script) : join(root, 'dist-bench/bench', script);
  return spawn(process.execPath, [...NODE_ARGS, '-r', join(root, 'scripts/register-paths.js'), file], {
    cwd: root,
    env: { ...process.env, ...env, ...(checkout === undefined ? {} : { VH_DIST_DIR: 'dist-bench' }) },
    stdio,
  });
}

/**
 * A bench/ server script (compiled beside this file, or another checkout's: spawnBenchScript) as its own process on
 * a free port (`BARE_SERVER_PORT`), the apps' node flags included; resolves once it prints "listening".
 */
export async function startBareServer(
  script: string,
  env: Record<string, string>,
  checkout?: string,
): Promise<RawReadServer> {
  const port = await freePort();
  // RAW_READ_PORT: what the bare read server read before session 14 (another checkout's may be that old).
  const ports = { BARE_SERVER_PORT: String(port), RAW_READ_PORT: String(port) };
  const child = spawnBenchScript(script, { ...env, ...ports }, ['ignore', 'pipe', 'inherit'], checkout);
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (chunk: Buffer) => chunk.toString().includes('listening') && resolve());
      child.on('exit', (code) => reject(new Error(`${script} exited with ${code}`)));
    });
  } catch (error) {
    child.kill('SIGTERM');
    throw error;
  }
  return { url: `http://127.0.0.1:${port}`, pid: child.pid, stop: () => child.kill('SIGTERM') };
}

/** A server answering the history path: the API, the bare read server, or the API under another setting. */
export interface ReadServer {
  url: string;
  pid: number | undefined;
}

/**
 * Page reads/s and server CPU per read of `first` against `second`, reads only, each warmed up first (a process
 * started for the comparison pays its JIT there, not in the figures), then measured A-B-B-A so that a burst of
 * the shared machine's other load, or what the first pass leaves behind, falls on both.
 */
export async function alternatedReads(
  first: ReadServer,
  second: ReadServer,
  request: { readToken: string; path: () => string },
  connections: number,
  seconds: number,
  /** A-B-B-A this many times, pooled; each round's own ratio is kept (`roundRatios`) to show the spread. */
  rounds = 1,
) {
  const tallies = [first, second].map(() => ({ reads: 0, notAnswered: 0, seconds: 0, cpu: 0 }));
  for (const server of [first, second])
    await readsPerSecond(server.url, server.pid, request.readToken, request.path, connections, Math.min(5, seconds));
  const roundRatios: number[] = [];
  for (let round_ = 0; round_ < rounds; round_++) {
    // The round's own ratio: the tallies' growth over it.
    const before = tallies.map((t) => ({ ...t }));
    // A-B-B-A: whatever runs first (a flush of the writes before, a warmer cache) falls on both.
    for (const i of [0, 1, 1, 0]) {
      const server = [first, second][i];
      const r = await readsPerSecond(server.url, server.pid, request.readToken, request.path, connections, seconds);
      tallies[i].reads += r.reads;
      tallies[i].notAnswered += r.notAnswered;
      tallies[i].seconds += r.seconds;
      tallies[i].cpu += r.serverCpuSeconds ?? 0;
    }
    const [a, b] = [0, 1].map((i) => (tallies[i].reads - before[i].reads) / (tallies[i].seconds - before[i].seconds));
    roundRatios.push(round(a / b));
  }
  const [a, b] = tallies.map((t) => ({
    readsPerSecond: round(t.reads / t.seconds),
    notAnswered: t.notAnswered,
    cpuMicrosPerRead: round((t.cpu * 1e6) / t.reads, 1),
  }));
  return {
    connections,
    seconds,
    first: a,
    second: b,
    ratio: round(a.readsPerSecond / b.readsPerSecond),
    ...(rounds > 1 ? { roundRatios } : {}),
  };
}

/**
 * `read_vs_raw` (issue 14): the read API's page reads/s at `connections` against bench/raw-read-server.ts
 * answering the same requests with the same reads and fold and nothing else.
 */
export async function readVsRaw(target: ReadVsRawTarget, raw: RawReadServer, connections: number, seconds: number) {
  // Three rounds, pooled: one round's ratio spread 0.49-0.87 over the quiet runs of sessions 13-16 (0.49 and 0.54
  // with neither side's code changed beyond the noise since 0.70: session 16, paired against session 13's build).
  const { first, second, ...rest } = await alternatedReads(
    { url: target.apiUrl, pid: target.apiPid },
    raw,
    target,
    connections,
    seconds,
    READ_VS_RAW_ROUNDS,
  );
  return { ...rest, api: first, raw: second };
}
