/**
 * The architecture, enforced (issue 18): the layers of docs/architecture.md as rules, run by `npm run lint`.
 *   domain, config, metrics  <  storage, messaging  <  erasure  <  ingestion, compaction, http, dead-letters  <  apps
 *   capacity (the capacity model) stands alone: arithmetic, no I/O, no other lib.
 * A rule names what may NOT be imported; a violation fails CI.
 */
const LIB = (names) => `^libs/(${names.join('|')})/`;
const SERVICES = ['ingestion', 'compaction', 'http', 'dead-letters'];
const LOWER = { storage: SERVICES, messaging: SERVICES };

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'A cycle makes load order matter and hides which module owns a concept.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'domain-has-no-io',
      severity: 'error',
      comment: 'libs/domain holds the rules and does no I/O: no Nest, driver, Kafka, BullMQ or Redis package.',
      from: { path: '^libs/domain/' },
      to: {
        path: '^node_modules/(@nestjs|cassandra-driver|kafkajs|bullmq|ioredis|@bull-board|nestjs-pino|pino|prom-client|express)',
      },
    },
    {
      name: 'domain-imports-only-domain',
      severity: 'error',
      from: { path: '^libs/domain/' },
      to: { path: '^(libs/(?!domain/)|apps/)' },
    },
    {
      name: 'config-and-metrics-are-ground-floor',
      severity: 'error',
      comment: 'config and metrics sit beside domain: they import no other lib but domain.',
      from: { path: '^libs/(config|metrics)/' },
      to: { path: LIB(['storage', 'messaging', ...SERVICES]) },
    },
    {
      name: 'storage-below-services',
      severity: 'error',
      from: { path: '^libs/storage/' },
      to: { path: LIB([...LOWER.storage, 'messaging']) },
    },
    {
      name: 'messaging-below-services',
      severity: 'error',
      from: { path: '^libs/messaging/' },
      to: { path: LIB([...LOWER.messaging, 'storage']) },
    },
    {
      name: 'erasure-below-services',
      severity: 'error',
      comment: 'Profile keys (docs/adr/0009) stand on storage and messaging; the services stand on them.',
      from: { path: '^libs/erasure/' },
      to: { path: LIB(['ingestion', 'compaction', 'http']) },
    },
    {
      name: 'storage-and-messaging-below-erasure',
      severity: 'error',
      from: { path: '^libs/(storage|messaging|domain|config|metrics)/' },
      to: { path: LIB(['erasure']) },
    },
    {
      name: 'services-do-not-import-each-other',
      severity: 'error',
      comment:
        'ingestion, compaction, http and dead-letters are one floor: each stands on storage/messaging, not on another.',
      from: { path: '^libs/(ingestion|compaction|http|dead-letters)/' },
      to: { path: '^libs/(ingestion|compaction|http|dead-letters)/', pathNot: '^libs/$1/' },
    },
    {
      name: 'capacity-is-arithmetic',
      severity: 'error',
      comment:
        'libs/capacity is the capacity model (docs/capacity.md): pure arithmetic over explicit inputs, no I/O, ' +
        'no other lib; bench/capacity.ts reads the figures and prints.',
      from: { path: '^libs/capacity/', pathNot: '\\.spec\\.ts$' },
      to: { path: '^(libs/(?!capacity/)|apps/|node_modules/)' },
    },
    {
      name: 'capacity-uses-no-node-builtins',
      severity: 'error',
      from: { path: '^libs/capacity/' },
      to: { dependencyTypes: ['core'] },
    },
    {
      name: 'no-lib-imports-an-app',
      severity: 'error',
      from: { path: '^libs/' },
      to: { path: '^apps/' },
    },
    {
      name: 'apps-do-not-import-each-other',
      severity: 'error',
      from: { path: '^apps/([^/]+)/' },
      to: { path: '^apps/', pathNot: '^apps/$1/' },
    },
    {
      name: 'features-stay-in-their-folder',
      severity: 'error',
      comment:
        "Inside an app, a feature folder does not reach into another feature's folder; what features share lives in shared/.",
      from: { path: '^apps/([^/]+)/src/([^/]+)/' },
      to: { path: '^apps/$1/src/[^/]+/', pathNot: '^apps/$1/src/($2|shared)/' },
    },
    {
      name: 'production-code-does-not-import-tests',
      severity: 'error',
      from: { path: '^(apps|libs)/', pathNot: '\\.spec\\.ts$' },
      to: { path: '(^test/|\\.spec\\.ts$|/testing/)' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|dist-bench|\\.infra)/' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'] },
  },
};
