import { AppConfig } from '@vh/config';
import { createCassandraClient } from '@vh/storage';
import { ProfileKeyOpener } from './profile-key.opener';
import { ProfileKeySealer } from './profile-key.sealer';
import { CassandraProfileKeyStore, ProfileKeys } from './profile-keys';

/** Profile keys for a command outside Nest (replay, repair, restore, member controls): its own driver, closed by `close`. */
export function standaloneProfileKeys(config: AppConfig, name: string) {
  const client = createCassandraClient(config.cassandra, `${config.kafka.clientId}-${name}-keys`);
  const keys = new ProfileKeys(new CassandraProfileKeyStore(client, config), config);
  return {
    client,
    keys,
    opener: new ProfileKeyOpener(keys),
    sealer: new ProfileKeySealer(keys, config),
    close: () => client.shutdown(),
  };
}
