import { randomBytes, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { Client, types } from 'cassandra-driver';
import { AppConfig, loadConfig } from '@vh/config';
import { PlaybackEvent } from '@vh/domain';
import { playbackEvent } from '@vh/domain/testing/viewing-event.fixtures';
import {
  CassandraProfileKeyStore,
  classifyMessage,
  migrateProfileKeys,
  newDataKey,
  ProfileKeyOpener,
  ProfileKeys,
  ProfileKeySealer,
  seal,
} from '@vh/erasure';
import { createCassandraClient } from '@vh/storage';
import { CHECKOUT_ROOT } from './support/app-process';
import { eventually } from './support/eventually';
import { uniqueProfileId } from './support/playback-events';
import { PrivateRegions, REGION_KEYS_PORTS, RegionName } from './support/private-regions';

const sealedKeyIdOf = (value: string | Buffer) => {
  const classified = classifyMessage(Buffer.from(value));
  if (classified.kind !== 'sealed') throw new Error(`not sealed: ${classified.kind}`);
  return classified.envelope.keyId;
};

/**
 * A new profile's first key while the regions are cut apart (docs/adr/0012, issue 16): each region's collector
 * creates one at LOCAL_SERIAL, which only its own datacenter agrees on. Once the link heals, every event either
 * region sealed must still open in both: an event that opens as erased or unknown is an acknowledged event lost
 * (invariant 2). Two datacenters of one Cassandra cluster, no apps: each region's ProfileKeys as its collector
 * (sealing) and its ingest (opening, a fresh process) use them.
 */
describe("a new profile's first key created in two regions cut apart", () => {
  const regions = new PrivateRegions(join(CHECKOUT_ROOT, '.infra', 'region-keys-e2e'), REGION_KEYS_PORTS, {
    cuttableLink: true,
  });
  const keyspace = `e2e_region_keys_${randomBytes(4).toString('hex')}`;
  const config = {} as Record<RegionName, AppConfig>;
  const client = {} as Record<RegionName, Client>;
  /** A process of the region: a collector sealing, or an ingest opening, with nothing cached. */
  const keysOf = (region: RegionName) =>
    new ProfileKeys(new CassandraProfileKeyStore(client[region], config[region]), config[region]);
  /** Each region's datacenter (CASSANDRA_LOCAL_DC): the name of its row in profile_region_keys. */
  const DATA_CENTER = {} as Record<RegionName, string>;

  beforeAll(async () => {
    const started = Date.now();
    await regions.startCassandra();
    for (const region of ['a', 'b'] as const) {
      config[region] = loadConfig({ ...process.env, ...regions.env(region), PROFILE_KEYS_KEYSPACE: keyspace });
      client[region] = createCassandraClient(config[region].cassandra, `region-keys-${region}`);
      DATA_CENTER[region] = config[region].cassandra.localDataCenter;
    }
    // Both datacenters up: the driver waits for them to agree on the schema.
    await migrateProfileKeys(client.a, config.a);
    log(`two datacenters started and migrated in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }, 600_000);

  afterAll(async () => {
    await Promise.allSettled([client.a?.shutdown(), client.b?.shutdown()]);
    await regions.dispose();
  }, 120_000);

  it('keeps every event either region sealed openable in both regions after the link heals', async () => {
    const profiles = Array.from({ length: 3 }, () => uniqueProfileId('new-in-a-cut'));
    // Mid-upgrade (docs/adr/0012): old collectors in both regions meet this profile first during the cut, and
    // each creates a pre-region key in profile_keys; replication keeps one of them after the heal.
    const upgrading = uniqueProfileId('old-collectors-in-a-cut');
    const everyProfile = [...profiles, upgrading];
    regions.partition();
    const cutAt = Date.now();
    const preRegion = { b: await createPreRegionKey('b', upgrading), a: await createPreRegionKey('a', upgrading) };
    // Each region's (new) collector meets each profile during the cut, and seals its event.
    const sealed: {
      region: RegionName;
      profileId: string;
      keyId: string;
      value: string | Buffer;
      event: PlaybackEvent;
    }[] = [];
    for (const region of ['a', 'b'] as const) {
      const collector = new ProfileKeySealer(keysOf(region), config[region]);
      for (const profileId of everyProfile) {
        const event = play(profileId, `title-from-${region}`);
        const [value] = await collector.seal([event]);
        sealed.push({ region, profileId, keyId: sealedKeyIdOf(value), value, event });
      }
    }
    // The cut is real: each datacenter holds its own region's key of each new profile and not the other's, and
    // its own old collector's pre-region key.
    for (const region of ['a', 'b'] as const) {
      for (const profileId of profiles) {
        expect(await regionKeysIn(region, profileId)).toEqual([
          [DATA_CENTER[region], keyIdIn(sealed, region, profileId)],
        ]);
      }
      expect(await preRegionKeyIn(region, upgrading)).toBe(preRegion[region]);
    }
    const healAt = Date.now();
    regions.heal();
    // Converged for certain (not left to hints): a full repair, once the nodes see each other again.
    await eventually(() => regions.nodetool('a', 'repair', '-full', keyspace), 120_000, 1_000);
    log(
      `cut of ${((healAt - cutAt) / 1000).toFixed(1)} s; both datacenters repaired ` +
        `${((Date.now() - healAt) / 1000).toFixed(1)} s after the heal`,
    );
    for (const region of ['a', 'b'] as const) {
      for (const profileId of everyProfile) {
        expect(await rowsOf(region, profileId)).toEqual(await rowsOf(region === 'a' ? 'b' : 'a', profileId));
      }
    }
    // Replication kept one pre-region key: the other is gone, with whatever its old collector sealed (the gap
    // ADR 12 leaves until every collector of both regions is upgraded); what new processes sealed must not be.
    const kept = await preRegionKeyIn('a', upgrading);
    expect([preRegion.a, preRegion.b]).toContain(kept);
    expect(await preRegionKeyIn('b', upgrading)).toBe(kept);
    log(`replication kept region ${kept === preRegion.a ? 'a' : 'b'}'s pre-region key`);

    // Every event opens in both regions, as ingest (a fresh process, a replay) opens it.
    for (const region of ['a', 'b'] as const) {
      const ingest = new ProfileKeyOpener(keysOf(region));
      const opened = await ingest.open(
        sealed.map((s, i) => ({
          key: Buffer.from(s.profileId),
          value: Buffer.from(s.value),
          offset: String(i),
          timestamp: '0',
        })),
      );
      expect(opened).toEqual(sealed.map((s) => ({ kind: 'event', event: s.event })));
    }
    // Both regions' keys of every profile, in both datacenters.
    for (const region of ['a', 'b'] as const) {
      for (const profileId of everyProfile) {
        expect(await regionKeysIn(region, profileId)).toEqual([
          [DATA_CENTER.a, keyIdIn(sealed, 'a', profileId)],
          [DATA_CENTER.b, keyIdIn(sealed, 'b', profileId)],
        ]);
      }
    }
    // And each region goes on sealing with the key it created: its own key is never replaced by the other's.
    for (const s of sealed) {
      expect((await keysOf(s.region).current(s.profileId)).keyId).toBe(s.keyId);
    }
  });

  const keyIdIn = (
    sealed: { region: RegionName; profileId: string; keyId: string }[],
    region: RegionName,
    profileId: string,
  ) => sealed.find((s) => s.region === region && s.profileId === profileId)!.keyId;

  /** A pre-region key as a collector of the version before region keys creates it, in the region's datacenter. */
  async function createPreRegionKey(region: RegionName, profileId: string): Promise<string> {
    const keyId = randomUUID();
    const wrapped = seal(config[region].profileKeys.masterKey, newDataKey(), `profile-key\n${profileId}\n${keyId}`);
    const result = await client[region].execute(
      `INSERT INTO ${keyspace}.profile_keys (profile_id, key_id, wrapped_key, created_at) VALUES (?, ?, ?, ?) IF NOT EXISTS`,
      [profileId, keyId, wrapped, new Date()],
      {
        prepare: true,
        consistency: types.consistencies.localQuorum,
        serialConsistency: types.consistencies.localSerial,
      },
    );
    expect(result.first().get('[applied]')).toBe(true);
    return keyId;
  }

  /** The profile's region keys as the region's own datacenter holds them (LOCAL_ONE): [datacenter, key id]. */
  async function regionKeysIn(region: RegionName, profileId: string): Promise<[string, string][]> {
    const result = await client[region].execute(
      `SELECT datacenter, key_id FROM ${keyspace}.profile_region_keys WHERE profile_id = ?`,
      [profileId],
      { prepare: true, consistency: types.consistencies.localOne },
    );
    return result.rows.map((r) => [String(r.get('datacenter')), String(r.get('key_id'))]);
  }

  /** The profile's pre-region key id as the region's own datacenter holds it (LOCAL_ONE), or null. */
  async function preRegionKeyIn(region: RegionName, profileId: string): Promise<string | null> {
    const result = await client[region].execute(
      `SELECT key_id FROM ${keyspace}.profile_keys WHERE profile_id = ?`,
      [profileId],
      { prepare: true, consistency: types.consistencies.localOne },
    );
    const row = result.first();
    return row ? String(row.get('key_id')) : null;
  }

  /** Every row the keys keyspace holds of the profile, as the region's own datacenter answers (LOCAL_ONE). */
  async function rowsOf(region: RegionName, profileId: string): Promise<string[]> {
    const tables = await client[region].execute(
      'SELECT table_name FROM system_schema.tables WHERE keyspace_name = ?',
      [keyspace],
      { prepare: true },
    );
    const rows: string[] = [];
    for (const table of tables.rows.map((r) => String(r.get('table_name'))).sort()) {
      const result = await client[region].execute(
        `SELECT * FROM ${keyspace}.${table} WHERE profile_id = ?`,
        [profileId],
        {
          prepare: true,
          consistency: types.consistencies.localOne,
        },
      );
      for (const row of result.rows) rows.push(`${table} ${JSON.stringify(row)}`);
    }
    return rows.sort();
  }
});

function play(profileId: string, titleId: string): PlaybackEvent {
  const at = Date.now() - 60_000;
  return playbackEvent('play', at, 0, { profileId, titleId, playbackSessionId: randomUUID(), acceptedAt: at + 1_000 });
}

function log(line: string): void {
  process.stdout.write(`[region-keys] ${line}\n`);
}
