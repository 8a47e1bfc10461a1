// `node bench/profiling/summarise-cpu-profile.js <file.cpuprofile> [units]`: self time by category (the
// library or room of the project a sample's frame belongs to), and the top functions; with `units` (events
// or requests handled while profiled), microseconds of CPU per unit. Idle time is left out.
'use strict';
const { readFileSync } = require('node:fs');

const CATEGORIES = [
  ['idle', (f) => f.functionName === '(idle)' || (f.functionName === '(program)' && false)],
  ['gc', (f) => f.functionName === '(garbage collector)'],
  ['program (native, unattributed)', (f) => f.functionName === '(program)'],
  ['kafkajs', (f) => /node_modules\/kafkajs\//.test(f.url)],
  ['gzip (zlib)', (f) => /zlib/.test(f.url) || /zlib|gzip|gunzip|inflate|deflate/i.test(f.functionName)],
  ['cassandra-driver', (f) => /node_modules\/cassandra-driver\//.test(f.url)],
  ['zod (validation)', (f) => /node_modules\/zod\//.test(f.url)],
  [
    'pino (logging)',
    (f) =>
      /node_modules\/(pino|pino-http|nestjs-pino|sonic-boom|thread-stream|fast-redact|pino-std-serializers)\//.test(
        f.url,
      ),
  ],
  ['prom-client (metrics)', (f) => /node_modules\/prom-client\//.test(f.url) || /libs\/metrics\//.test(f.url)],
  ['jose (auth)', (f) => /node_modules\/jose\//.test(f.url) || /libs\/http\/src\/auth\//.test(f.url)],
  ['nest', (f) => /node_modules\/@nestjs\//.test(f.url)],
  [
    'express / http framework',
    (f) =>
      /node_modules\/(express|router|body-parser|raw-body|iconv-lite|finalhandler|send|qs|type-is|on-finished|content-type|media-typer|mime|negotiator|accepts|path-to-regexp|parseurl|cookie|etag|fresh|range-parser|debug|depd|statuses|http-errors|bytes|destroy|unpipe|encodeurl|escape-html|vary|setprototypeof|ipaddr.js|proxy-addr|forwarded|merge-descriptors|utils-merge|methods|serve-static|content-disposition|safe-buffer)\//.test(
        f.url,
      ),
  ],
  ['rxjs', (f) => /node_modules\/rxjs\//.test(f.url)],
  ['zstd', (f) => /zstd/.test(f.url)],
  ['other node_modules', (f) => /node_modules\//.test(f.url)],
  ['domain (fold, pages, codecs)', (f) => /libs\/domain\//.test(f.url)],
  ['storage (repositories, codecs)', (f) => /libs\/storage\//.test(f.url)],
  ['messaging / ingestion', (f) => /libs\/(messaging|ingestion)\//.test(f.url)],
  ['http lib (errors, shedding, health)', (f) => /libs\/http\//.test(f.url)],
  ['apps', (f) => /\/apps\//.test(f.url)],
  ['JSON', (f) => /^JSON\.|stringify|parse$/.test(f.functionName) && f.url === ''],
  [
    'node: net / stream / http',
    (f) =>
      /^node:(net|stream|_http|http|internal\/streams|internal\/http|internal\/stream_base|_stream)/.test(f.url) ||
      /^node:internal\/(stream|http|net|tcp)/.test(f.url),
  ],
  ['node: crypto / buffer', (f) => /crypto|buffer/.test(f.url)],
  ['node: other', (f) => /^node:/.test(f.url)],
  ['native / builtins', () => true],
];

function summarise(path, units) {
  const profile = JSON.parse(readFileSync(path, 'utf8'));
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const counts = new Map();
  for (const id of profile.samples) counts.set(id, (counts.get(id) ?? 0) + 1);
  const totalUs = profile.endTime - profile.startTime;
  const perSample = totalUs / profile.samples.length;
  const byCategory = new Map();
  const byFunction = new Map();
  let busy = 0;
  for (const [id, count] of counts) {
    const frame = byId.get(id).callFrame;
    const [category] = CATEGORIES.find(([, test]) => test(frame));
    if (category === 'idle') continue;
    busy += count;
    byCategory.set(category, (byCategory.get(category) ?? 0) + count);
    const name = `${frame.functionName || '(anonymous)'} ${frame.url.replace(/.*node_modules\//, '').replace(/.*dist-bench\//, '')}:${frame.lineNumber + 1}`;
    byFunction.set(name, (byFunction.get(name) ?? 0) + count);
  }
  const us = (count) => (count * perSample) / 1;
  const rows = [...byCategory].sort((a, b) => b[1] - a[1]);
  const out = { file: path, busySeconds: +(us(busy) / 1e6).toFixed(2), categories: {}, top: [] };
  for (const [category, count] of rows)
    out.categories[category] = {
      share: +(count / busy).toFixed(3),
      ...(units ? { microsPerUnit: +(us(count) / units).toFixed(2) } : {}),
    };
  if (units) out.microsPerUnit = +(us(busy) / units).toFixed(2);
  out.top = [...byFunction]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 25)
    .map(([name, c]) => `${((c / busy) * 100).toFixed(1)}% ${name}`);
  return out;
}

module.exports = { summarise };
if (require.main === module) {
  const [path, units] = process.argv.slice(2);
  process.stdout.write(`${JSON.stringify(summarise(path, units ? Number(units) : undefined), null, 2)}\n`);
}
