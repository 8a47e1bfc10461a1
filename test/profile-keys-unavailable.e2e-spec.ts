import { loadConfig } from '@vh/config';
import { DependencyUnavailableError } from '@vh/domain';
import { ErasureLedger, standaloneProfileKeys } from '@vh/erasure';
import { createCassandraClient } from '@vh/storage';

/**
 * Found by the chaos checker (seed 21, docs/chaos-runs.md): an erasure while Cassandra was down answered
 * 500 `internal_error`, five times, where a caller must be told 503 with Retry-After and call again (the
 * erasure's steps are idempotent for that). The profile keys' store let the driver's errors through as
 * they were. Here a real driver meets a contact point where no Cassandra listens.
 */
describe('profile keys when Cassandra cannot be reached', () => {
  const config = loadConfig({ ...process.env, CASSANDRA_CONTACT_POINTS: '127.0.0.1:1' });
  const standalone = standaloneProfileKeys(config, 'unreachable');

  afterAll(() => standalone.close());

  it('an erasure fails as the cluster being unavailable (HTTP 503), not as an internal error', async () => {
    await expect(standalone.keys.erase('profile-keys-unreachable')).rejects.toBeInstanceOf(DependencyUnavailableError);
  });

  it('so do reading a key by id and the shredding keys', async () => {
    await expect(standalone.keys.byId('profile-keys-unreachable', 'k')).rejects.toBeInstanceOf(
      DependencyUnavailableError,
    );
    await expect(standalone.keys.shredding('profile-keys-unreachable', 'k')).rejects.toBeInstanceOf(
      DependencyUnavailableError,
    );
  });

  // Chaos seed 62 (session 6): the API's erasure reads the erasure ledger first, which let the driver's errors
  // through too (500 seven times while Cassandra was killed).
  it('so do reading and writing the erasure ledger', async () => {
    const client = createCassandraClient(config.cassandra, 'unreachable-ledger');
    try {
      const ledger = new ErasureLedger(client, config);
      await expect(ledger.erasures('profile-keys-unreachable')).rejects.toBeInstanceOf(DependencyUnavailableError);
      await expect(
        ledger.recordMark('profile-keys-unreachable', ['e1'], { topic: 't', partition: 0, offset: '1' }),
      ).rejects.toBeInstanceOf(DependencyUnavailableError);
    } finally {
      await client.shutdown();
    }
  });
});
