import { DEFAULT_RESULTS_DIR, DEFAULT_STATE_DIR, runChaos } from './chaos-run';
import { FAULT_KINDS, FaultKind } from './nemesis';

/**
 * `npm run chaos -- --seed 42 --duration 5m [--profiles 40] [--faults all|none|kill-app,...] [--compactors 2]
 * [--delete-margin 3s]`
 */
async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const seed = args.seed !== undefined ? Number(args.seed) : Math.floor(Math.random() * 2 ** 31);
  const faults = parseFaults(args.faults ?? 'all');
  const report = await runChaos({
    seed,
    durationMs: parseDuration(args.duration ?? '5m'),
    profiles: Number(args.profiles ?? 40),
    workers: Number(args.workers ?? 4),
    faults,
    meanFaultGapMs: parseDuration(args['fault-gap'] ?? '40s'),
    meanCompactionGapMs: parseDuration(args['compaction-gap'] ?? '20s'),
    compactors: Number(args.compactors ?? 2),
    deleteMarginMs: parseDuration(args['delete-margin'] ?? '0'),
    resultsDir: args.results ?? DEFAULT_RESULTS_DIR,
    stateDir: args.state ?? DEFAULT_STATE_DIR,
  });
  process.stdout.write(`${report.summary}\nreport: ${report.reportFile}\n`);
  if (!report.passed) {
    process.stderr.write(`chaos FAILED with seed ${seed}: rerun with npm run chaos -- --seed ${seed}\n`);
    process.exitCode = 1;
  }
}

function parseArgs(argv: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    if (!argv[i].startsWith('--')) throw new Error(`unexpected argument ${argv[i]}`);
    out[argv[i].slice(2)] = argv[++i];
  }
  return out;
}

/** "90s", "5m", "1h" or plain milliseconds. */
export function parseDuration(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text);
  if (!match) throw new Error(`not a duration: ${text}`);
  const unit = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 }[match[2] ?? 'ms']!;
  return Math.round(Number(match[1]) * unit);
}

function parseFaults(text: string): FaultKind[] {
  if (text === 'all') return [...FAULT_KINDS];
  if (text === 'none') return [];
  const kinds = text.split(',');
  for (const k of kinds) if (!(FAULT_KINDS as readonly string[]).includes(k)) throw new Error(`unknown fault ${k}`);
  return kinds as FaultKind[];
}

main().catch((error) => {
  process.stderr.write(`${(error as Error).stack}\n`);
  process.exit(2);
});
