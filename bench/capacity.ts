import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  BENCH_FILES,
  BenchResults,
  benchFigures,
  CapacityFigures,
  CapacityPolicy,
  defaultPolicy,
  given,
  planCapacity,
  renderPlan,
} from '@vh/capacity';

/**
 * `npm run capacity -- --events-per-s N --reads-per-s M --profiles P --regions R [overrides]`: the capacity
 * model (libs/capacity, docs/capacity.md) over the figures in bench/results. This file only reads and
 * prints; the arithmetic is the library's.
 */

const DEMAND = {
  '--events-per-s': 'eventsPerSecond',
  '--reads-per-s': 'readsPerSecond',
  '--profiles': 'profiles',
  '--regions': 'regions',
} as const;

/** Figures an operator may replace, e.g. with a storage run that includes session trails. */
const FIGURE_FLAGS: Record<string, keyof CapacityFigures> = {
  '--compressed-bytes-per-record': 'compressedBytesPerRecord',
  '--trail-bytes-per-event': 'trailBytesPerEvent',
  '--events-per-record': 'eventsPerRecord',
  '--live-bytes-per-event': 'liveBytesPerEvent',
  '--log-bytes-per-event': 'logBytesPerEvent',
  '--cassandra-write-us': 'cassandraCpuMicrosPerWrite',
};
const POLICY_FLAGS: Record<string, keyof CapacityPolicy> = {
  '--utilisation': 'utilisation',
  '--daily-active-share': 'dailyActiveShare',
  '--cassandra-cores-per-node': 'cassandraCoresPerNode',
  '--cassandra-data-bytes-per-node': 'cassandraDataBytesPerNode',
  '--partition-growth': 'partitionGrowth',
};

const USAGE =
  'usage: npm run capacity -- --events-per-s N --reads-per-s M --profiles P --regions R ' +
  `[--json] [--results DIR] ${[...Object.keys(FIGURE_FLAGS), ...Object.keys(POLICY_FLAGS)].map((f) => `[${f} X]`).join(' ')}`;

function fail(message: string): never {
  process.stderr.write(`${message}\n${USAGE}\n`);
  process.exit(2);
}

function main(argv: string[]) {
  const values = new Map<string, string>();
  let json = false;
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    if (flag === '--json') json = true;
    else if (flag === '--help' || flag === '-h') fail('');
    else if (flag in DEMAND || flag in FIGURE_FLAGS || flag in POLICY_FLAGS || flag === '--results') {
      if (argv[i + 1] === undefined) fail(`${flag} needs a value`);
      values.set(flag, argv[++i]);
    } else fail(`unknown argument ${flag}`);
  }
  const number = (flag: string) => {
    const value = Number(values.get(flag));
    if (!values.has(flag) || !Number.isFinite(value)) fail(`${flag} must be a number`);
    return value;
  };
  const demand = {
    eventsPerSecond: number('--events-per-s'),
    readsPerSecond: number('--reads-per-s'),
    profiles: number('--profiles'),
    regions: number('--regions'),
  };
  const dir = values.get('--results') ?? join(process.cwd(), 'bench', 'results');
  const results: BenchResults = {};
  for (const file of BENCH_FILES) {
    try {
      results[file] = JSON.parse(readFileSync(join(dir, file), 'utf8'));
    } catch (error) {
      fail(`cannot read ${join(dir, file)}: ${(error as Error).message}`);
    }
  }
  const figures = benchFigures(results);
  const policy = defaultPolicy();
  for (const [flag, key] of Object.entries(FIGURE_FLAGS))
    if (values.has(flag)) figures[key] = given(figures[key], number(flag), flag);
  for (const [flag, key] of Object.entries(POLICY_FLAGS))
    if (values.has(flag)) policy[key] = given(policy[key], number(flag), flag);
  const plan = planCapacity(demand, figures, policy);
  process.stdout.write(json ? `${JSON.stringify(plan, null, 2)}\n` : `${renderPlan(plan)}\n`);
}

try {
  main(process.argv.slice(2));
} catch (error) {
  fail((error as Error).message);
}
