import { QueryOptions, types } from 'cassandra-driver';
import { AppConfig } from '@vh/config';
import { consistency } from '@vh/storage';

/** A read of the keys keyspace at the configured read consistency. */
export function readingOptions(config: Pick<AppConfig, 'cassandra'>): QueryOptions {
  return { prepare: true, consistency: consistency(config.cassandra.readConsistency) };
}

/**
 * A conditional write (Paxos, LOCAL_SERIAL): every write of a shredding key or of an erasure in progress is one,
 * so Paxos ballots and client timestamps (two clocks) never mix on a row (docs/adr/0009).
 */
export function conditionalOptions(config: Pick<AppConfig, 'cassandra'>): QueryOptions {
  return {
    prepare: true,
    consistency: consistency(config.cassandra.writeConsistency),
    serialConsistency: types.consistencies.localSerial,
  };
}
