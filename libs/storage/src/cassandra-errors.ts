import { errors, types } from 'cassandra-driver';
import { DependencyUnavailableError } from '@vh/domain';

const TRANSIENT_CODES = new Set<number>([
  types.responseErrorCodes.serverError,
  types.responseErrorCodes.overloaded,
  types.responseErrorCodes.isBootstrapping,
  types.responseErrorCodes.unavailableException,
  types.responseErrorCodes.writeTimeout,
  types.responseErrorCodes.readTimeout,
  types.responseErrorCodes.readFailure,
  types.responseErrorCodes.writeFailure,
  types.responseErrorCodes.truncateError,
]);

/** True when retrying the same statement later may succeed: the cluster, not the statement, is the problem. */
export function isTransientCassandraError(error: unknown): boolean {
  if (error instanceof errors.NoHostAvailableError || error instanceof errors.OperationTimedOutError) return true;
  if (error instanceof errors.BusyConnectionError) return true;
  if (error instanceof errors.ResponseError) return TRANSIENT_CODES.has(error.code);
  // Socket-level failures surface as plain errors with a code.
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^E(CONNREFUSED|CONNRESET|PIPE|TIMEDOUT|HOSTUNREACH)$/.test(code);
}

/** Rethrows a transient Cassandra error as DependencyUnavailableError (HTTP 503); anything else as it is. */
export function asStorageError(error: unknown): Error {
  if (isTransientCassandraError(error)) {
    return new DependencyUnavailableError('cassandra', (error as Error).message, 5, { cause: error });
  }
  return error instanceof Error ? error : new Error(String(error));
}
