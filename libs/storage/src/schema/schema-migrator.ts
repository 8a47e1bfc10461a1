import { Client } from 'cassandra-driver';
import { AppConfig } from '@vh/config';
import { SCHEMA_MIGRATIONS, SchemaMigration } from './migrations';

export interface MigrationReport {
  keyspace: string;
  applied: number[];
  alreadyApplied: number[];
}

/** Creates the keyspace and applies every migration not yet recorded in schema_migrations. */
export async function migrateSchema(
  client: Client,
  config: AppConfig['cassandra'],
  migrations: readonly SchemaMigration[] = SCHEMA_MIGRATIONS,
): Promise<MigrationReport> {
  const ks = config.keyspace;
  await createKeyspace(client, ks, config);
  await client.execute(
    `CREATE TABLE IF NOT EXISTS ${ks}.schema_migrations (version int PRIMARY KEY, description text, applied_at timestamp)`,
  );
  const recorded = await client.execute(`SELECT version FROM ${ks}.schema_migrations`);
  const done = new Set(recorded.rows.map((row) => row.get('version') as number));
  const report: MigrationReport = { keyspace: ks, applied: [], alreadyApplied: [] };
  for (const migration of [...migrations].sort((a, b) => a.version - b.version)) {
    if (done.has(migration.version)) {
      report.alreadyApplied.push(migration.version);
      continue;
    }
    for (const statement of migration.statements(ks)) await client.execute(statement);
    await migration.backfill?.(client, ks);
    await client.execute(
      `INSERT INTO ${ks}.schema_migrations (version, description, applied_at) VALUES (?, ?, toTimestamp(now()))`,
      [migration.version, migration.description],
      { prepare: true },
    );
    report.applied.push(migration.version);
  }
  return report;
}

/**
 * Creates the keyspace, replicated to every datacenter of CASSANDRA_REPLICATION. An existing keyspace is
 * left as it is: adding a datacenter is ALTER KEYSPACE and `nodetool rebuild` (docs/operations.md).
 */
export async function createKeyspace(
  client: Client,
  keyspace: string,
  config: Pick<AppConfig['cassandra'], 'replication'>,
): Promise<void> {
  const replicas = Object.entries(config.replication).map(([dataCenter, n]) => `'${dataCenter}': ${n}`);
  await client.execute(
    `CREATE KEYSPACE IF NOT EXISTS ${keyspace} WITH replication = ` +
      `{'class': 'NetworkTopologyStrategy', ${replicas.join(', ')}}`,
  );
}

/** Versions not applied to the keyspace yet (all of them when it or its migrations table is missing). */
export async function pendingMigrations(
  client: Client,
  keyspace: string,
  migrations: readonly SchemaMigration[] = SCHEMA_MIGRATIONS,
): Promise<number[]> {
  const exists = await client.execute(
    'SELECT table_name FROM system_schema.tables WHERE keyspace_name = ? AND table_name = ?',
    [keyspace, 'schema_migrations'],
    {
      prepare: true,
    },
  );
  if (exists.rowLength === 0) return migrations.map((m) => m.version);
  const recorded = await client.execute(`SELECT version FROM ${keyspace}.schema_migrations`);
  const done = new Set(recorded.rows.map((row) => row.get('version') as number));
  return migrations.map((m) => m.version).filter((version) => !done.has(version));
}

export async function dropKeyspace(client: Client, keyspace: string): Promise<void> {
  await client.execute(`DROP KEYSPACE IF EXISTS ${keyspace}`);
}
