import { errors, types } from 'cassandra-driver';
import { DependencyUnavailableError, ViewingHistoryError } from '@vh/domain';

/**
 * Cassandra refused the mutation itself (code Invalid: a value it cannot store, a key or mutation larger
 * than it takes). Writing the same row again can never succeed, so this alone may dead-letter an event.
 */
export class RowRejectedError extends ViewingHistoryError {
  readonly code = 'row_rejected';
}

/**
 * An Invalid answer no rule recognises (neither ROW_LEVEL_REFUSALS nor SCHEMA_STATE_MESSAGES), on a schema
 * checked complete and agreed. It may be the row (a refusal worded in a way we have not seen) or a passing
 * state of the cluster: it is retried like any unavailability, and a writer may dead-letter the row only
 * after it failed alone several times spread over time (see LiveHistoryIngestor), so one such row cannot
 * stall its partition forever (invariant 5) and a passing state never dead-letters a good event (invariant 2).
 */
export class UnrecognisedRefusalError extends DependencyUnavailableError {
  constructor(
    readonly storageMessage: string,
    options?: { cause?: unknown },
  ) {
    super('cassandra', `unrecognised Invalid answer on a settled schema: ${storageMessage}`, 5, options);
  }
}

/**
 * True only for a statement Cassandra refused as invalid. Everything else is a state of the cluster that
 * time or an operator repairs, never a reason to drop an event (invariant 2): no host, timeouts, overload,
 * a socket closed mid-request (the driver gives no response code), unauthorized, a truncate, a bootstrap.
 * A missing table or column is reported as Invalid too: writers dead-letter only a known row-level refusal
 * on a settled schema (see writeFailure).
 */
export function isInvalidStatementError(error: unknown): boolean {
  return error instanceof errors.ResponseError && error.code === types.responseErrorCodes.invalid;
}

/**
 * An Invalid answer naming a column the table lacks: a migration not yet applied (or not yet seen); also once
 * `asStorageError` typed it (the answer is then its cause).
 */
export function isUndefinedColumnError(error: unknown): boolean {
  if (error instanceof DependencyUnavailableError && error.cause !== undefined)
    return isUndefinedColumnError(error.cause);
  return (
    isInvalidStatementError(error) &&
    /undefined column|unknown identifier|unknown column/i.test((error as Error).message)
  );
}

/**
 * True when retrying the same statement later may succeed: a failure the driver or the socket reports,
 * other than Invalid. An error that comes from neither is a bug of ours, not the cluster's (so it does not
 * trip the read circuit breaker, and reads answer 500 for it).
 */
export function isTransientCassandraError(error: unknown): boolean {
  // The service's own errors carry a string `code` too: never mistaken for a socket's.
  if (error instanceof ViewingHistoryError) return false;
  if (isInvalidStatementError(error)) return false;
  if (error instanceof errors.DriverError) return true;
  // Socket-level failures surface as plain errors with a code (ECONNRESET, EPIPE, ...).
  return typeof (error as { code?: unknown } | null)?.code === 'string';
}

/** Rethrows a transient Cassandra error as DependencyUnavailableError (HTTP 503); anything else as it is. */
/** Runs a Cassandra call, its failures as storage errors (the cluster's: 503 with Retry-After, never a 500). */
export async function withStorageErrors<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw asStorageError(error);
  }
}

export function asStorageError(error: unknown): Error {
  if (error instanceof ViewingHistoryError) return error;
  if (isTransientCassandraError(error)) {
    return new DependencyUnavailableError('cassandra', describeCassandraError(error), 5, { cause: error });
  }
  // A table or column missing is the schema's state (a migration not run, or still propagating), not a bug.
  if (isSchemaStateError(error)) {
    const why = `${describeCassandraError(error)} (the schema lacks a migration: run \`npm run migrate\`)`;
    return new DependencyUnavailableError('cassandra', why, 5, { cause: error });
  }
  return error instanceof Error ? error : new Error(String(error));
}

function isSchemaStateError(error: unknown): boolean {
  return isInvalidStatementError(error) && SCHEMA_STATE_MESSAGES.some((r) => r.test((error as Error).message));
}

/**
 * Invalid messages that refuse the row itself (its size, or a value the column type cannot hold), whatever
 * node coordinates. Anything else Invalid ("Undefined column name", "Unknown identifier", "unconfigured
 * table": a coordinator that has not yet seen a migration) is the schema's state and is retried.
 */
const ROW_LEVEL_REFUSALS = [
  /oversized mutation/i,
  /too large/i,
  /longer than maximum/i,
  /^invalid (unset |null )?value/i,
  /^expected \d+ or 0 byte/i,
];

/** Invalid messages about the schema's state (a table, column or keyspace missing): never the row's fault. */
const SCHEMA_STATE_MESSAGES = [
  /undefined column/i,
  /unknown identifier/i,
  /unknown column/i,
  /unconfigured table/i,
  /keyspace .* does not exist/i,
];

/** True for an Invalid response that refuses the row itself (see ROW_LEVEL_REFUSALS). */
export function isRowLevelRefusal(error: unknown): boolean {
  return isInvalidStatementError(error) && ROW_LEVEL_REFUSALS.some((r) => r.test((error as Error).message));
}

/** True for an Invalid response that is neither a known row-level refusal nor a known schema state. */
export function isUnrecognisedRefusal(error: unknown): boolean {
  return isInvalidStatementError(error) && !isRowLevelRefusal(error) && !isSchemaStateError(error);
}

/** True when judging `error` needs the schema checked first (see writeFailure). */
export function needsSchemaCheck(error: unknown): boolean {
  return isRowLevelRefusal(error) || isUnrecognisedRefusal(error);
}

/**
 * Why the schema cannot be trusted to judge a row yet, or null: migrations pending in the keyspace, or
 * nodes disagreeing on its version (a migration still propagating; the coordinator may lack a column).
 */
export function schemaProblemOf(
  keyspace: string,
  pending: readonly (string | number)[],
  agreed: boolean,
): string | null {
  if (pending.length > 0) return `keyspace ${keyspace} lacks migrations ${pending.join(', ')}: run \`npm run migrate\``;
  if (!agreed) return `schema versions disagree across the cluster (a migration is still propagating)`;
  return null;
}

/**
 * The typed error of a failed write. Only a known row-level refusal (isRowLevelRefusal) on a settled
 * schema is the row's fault; an unrecognised Invalid on a settled schema is UnrecognisedRefusalError
 * (retried, dead-lettered only by the writer's rule); anything else is retried, even an error of unknown
 * origin: holding an event back until someone looks is safe, dropping it is not (invariant 2).
 * `schemaProblem` is set when the schema is not settled (schemaProblemOf) or could not be checked.
 */
export function writeFailure(
  error: unknown,
  schemaProblem: string | null,
): RowRejectedError | DependencyUnavailableError {
  if (error instanceof RowRejectedError || error instanceof DependencyUnavailableError) return error;
  if (isRowLevelRefusal(error) && schemaProblem === null)
    return new RowRejectedError(describeCassandraError(error), { cause: error });
  if (isUnrecognisedRefusal(error) && schemaProblem === null)
    return new UnrecognisedRefusalError(describeCassandraError(error), { cause: error });
  return new DependencyUnavailableError('cassandra', schemaProblem ?? describeCassandraError(error), 5, {
    cause: error,
  });
}

/** The driver's message, with the response code when there is one (e.g. "unauthorized (0x2100): ..."). */
export function describeCassandraError(error: unknown): string {
  if (error instanceof errors.ResponseError) {
    const name = Object.entries(types.responseErrorCodes).find(([, code]) => code === error.code)?.[0] ?? 'error';
    return `${name} (0x${error.code.toString(16)}): ${error.message}`;
  }
  return error instanceof Error ? error.message : String(error);
}
