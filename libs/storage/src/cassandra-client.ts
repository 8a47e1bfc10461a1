import { Client, policies, types } from 'cassandra-driver';
import { AppConfig } from '@vh/config';

/** Injection token for the shared driver instance (one per process: it pools connections itself). */
export const CASSANDRA_CLIENT = Symbol('CASSANDRA_CLIENT');

export function createCassandraClient(config: AppConfig['cassandra'], applicationName: string): Client {
  return new Client({
    contactPoints: config.contactPoints,
    localDataCenter: config.localDataCenter,
    applicationName,
    socketOptions: { connectTimeout: 5_000, readTimeout: config.requestTimeoutMs },
    queryOptions: { prepare: true, consistency: consistency(config.readConsistency) },
    // Reconnect quickly after an outage; the driver default waits up to 10 minutes between attempts.
    policies: { reconnection: new policies.reconnection.ExponentialReconnectionPolicy(500, 10_000, false) },
  });
}

/** LOCAL_QUORUM -> localQuorum, the driver's key for the level. */
export function camel(level: string): keyof typeof types.consistencies {
  return level
    .toLowerCase()
    .replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()) as keyof typeof types.consistencies;
}

export function consistency(level: string): number {
  return types.consistencies[camel(level)];
}
