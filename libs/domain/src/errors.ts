import { FieldIssue } from './events/viewing-event.schema';

/**
 * Every error code the service raises on purpose, in one place: HTTP bodies, dead-letter reasons, logs and
 * metrics carry these. The HTTP layer maps them to status codes in one place (libs/http/src/error.filter.ts).
 */
export const ERROR_CODES = [
  'invalid_input',
  'dependency_unavailable',
  'unauthenticated',
  'forbidden',
  'not_found',
  'corrupt_history',
  'malformed_chunk',
  'chunk_set_gone',
  'unknown_zstd_dictionary',
  'invalid_configuration',
  'replay_target_not_empty',
  'truncated_event_log',
  'repair_race',
  'settled_session_not_rebuilt',
  'row_rejected',
  'restore_refused',
  'redrive_refused',
  'erasure_in_progress',
  'not_supported_across_regions',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

/** Base of the errors the domain and its adapters raise on purpose; the HTTP layer maps them in one place. */
export abstract class ViewingHistoryError extends Error {
  abstract readonly code: ErrorCode;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The caller sent something that does not fit the contract. */
export class InvalidInputError extends ViewingHistoryError {
  readonly code = 'invalid_input';
  constructor(readonly issues: FieldIssue[]) {
    super(issues.map((i) => `${i.field}: ${i.message}`).join('; '));
  }
}

/** A dependency (Kafka, Cassandra, Redis) cannot serve now; the caller should retry later. */
export class DependencyUnavailableError extends ViewingHistoryError {
  readonly code = 'dependency_unavailable';
  constructor(
    readonly dependency: 'kafka' | 'cassandra' | 'redis',
    message: string,
    readonly retryAfterSeconds = 5,
    options?: { cause?: unknown },
  ) {
    super(`${dependency} is unavailable: ${message}`, options);
  }
}

/**
 * The read circuit is open: no read was tried. An outage of the cluster, never one profile's failure, so a
 * caller that fails single profiles (the export, invariant 4) must stop as interrupted instead.
 */
export class CircuitOpenError extends DependencyUnavailableError {}

/** No valid credentials: HTTP 401. */
export class UnauthenticatedError extends ViewingHistoryError {
  readonly code = 'unauthenticated';
}

/** Valid credentials that do not allow this: HTTP 403. Nothing is written. */
export class ForbiddenError extends ViewingHistoryError {
  readonly code = 'forbidden';
}

/** The thing named does not exist (or no longer: a purged dead letter): HTTP 404. */
export class NotFoundError extends ViewingHistoryError {
  readonly code = 'not_found';
}

/**
 * A profile's stored history cannot be read back as it was written (a chunk altered or missing). It fails
 * that profile only (invariant 4): bulk reads mark it and go on; an operator repairs it from the event log.
 */
export class CorruptHistoryError extends ViewingHistoryError {
  readonly code = 'corrupt_history';
  /** What callers are told; the message (chunk set, index, reason) is for the logs. */
  readonly advice = 'the stored history of this profile is corrupt; an operator can rebuild it from the event log';
  constructor(
    readonly profileId: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Dead letters that must not go back on the event log: an erased profile's, accepted before its erasure
 * (re-driven, they would land after the erasure's mark and open as new history; docs/adr/0009). HTTP 400
 * naming each letter and why; nothing of the request is re-driven.
 */
export class RedriveRefusedError extends ViewingHistoryError {
  readonly code = 'redrive_refused';
  constructor(readonly refused: { id: string; reason: string }[]) {
    super(refused.map((r) => `${r.id}: ${r.reason}`).join('; '));
  }
}

/**
 * A profile's erasure is still in progress (docs/adr/0009). Transient: HTTP 409 naming each refused item, with
 * Retry-After. `during` says what was refused: a re-drive (dead letters of a profile whose erasure's mark is not
 * recorded yet: whether they lie before it cannot be told yet; nothing of the request is re-driven), or an
 * erasure (its process stalled past its lease and another erasure took it over and is finishing it).
 */
export class ErasureInProgressError extends ViewingHistoryError {
  readonly code = 'erasure_in_progress';
  readonly retryAfterSeconds = 5;
  constructor(
    readonly refused: { id: string; reason: string }[],
    readonly during: 'redrive' | 'erasure' = 'redrive',
  ) {
    super(refused.map((r) => `${r.id}: ${r.reason}`).join('; '));
  }
}

/**
 * A capability this deployment cannot offer safely: erasure with keyspaces replicated to several
 * datacenters, each region with its own event log (docs/adr/0012: erasure positions are offsets of one
 * Kafka cluster, so another region's log cannot be placed against them). HTTP 501; nothing was changed.
 */
export class NotSupportedAcrossRegionsError extends ViewingHistoryError {
  readonly code = 'not_supported_across_regions';
  constructor(what: string) {
    super(`${what} is not supported while the keyspaces replicate to several datacenters (docs/adr/0012)`);
  }
}
