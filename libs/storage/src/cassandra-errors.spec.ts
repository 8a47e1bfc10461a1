import { errors, types } from 'cassandra-driver';
import { DependencyUnavailableError, ErasureInProgressError } from '@vh/domain';
import {
  asStorageError,
  isTransientCassandraError,
  isUndefinedColumnError,
  RowRejectedError,
  schemaProblemOf,
  UnrecognisedRefusalError,
  writeFailure,
} from './cassandra-errors';

const codes = types.responseErrorCodes;
// Abstract in the typings only: the driver itself raises a bare DriverError when a socket closes mid-request.
const DriverError = errors.DriverError as unknown as new (message: string) => Error;

/** Invariant 2: only a statement Cassandra refuses as invalid is the row's fault; the rest is the cluster's. */
describe('Cassandra error classification', () => {
  const clusterFailures: [string, unknown][] = [
    ['a socket closed mid-request (no response code)', new DriverError('Socket was closed')],
    ['a connection reset', Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })],
    ['no host available', new errors.NoHostAvailableError({})],
    ['a client-side timeout', new errors.OperationTimedOutError('timed out')],
    ['unauthorized', new errors.ResponseError(codes.unauthorized, 'User ingest has no MODIFY permission')],
    [
      'a bad credential',
      new errors.ResponseError(codes.badCredentials, 'Provided username and/or password are incorrect'),
    ],
    ['a write timeout', new errors.ResponseError(codes.writeTimeout, 'Operation timed out')],
    ['overloaded', new errors.ResponseError(codes.overloaded, 'overloaded')],
    ['a server error', new errors.ResponseError(codes.serverError, 'java.lang.OutOfMemoryError')],
    ['a write failure', new errors.ResponseError(codes.writeFailure, 'Operation failed')],
  ];

  it.each(clusterFailures)('classes %s as transient', (_, error) => {
    expect(isTransientCassandraError(error)).toBe(true);
    expect(writeFailure(error, null)).toBeInstanceOf(DependencyUnavailableError);
    expect(asStorageError(error)).toBeInstanceOf(DependencyUnavailableError);
  });

  // Session 8: a typed error of the service raised inside a storage call (an erasure that lost its lease, from
  // the hold StoredHistoryEraser runs) carries a string `code`, which passed for a socket error's: a 503.
  it("passes the service's own typed errors through unchanged, whatever their code", () => {
    const lost = new ErasureInProgressError([{ id: 'p1', reason: 'taken over' }]);
    expect(isTransientCassandraError(lost)).toBe(false);
    expect(asStorageError(lost)).toBe(lost);
  });

  it('retries a write that failed for a reason of unknown origin, which reads treat as a bug (500) instead', () => {
    const unknown = new Error('something else');
    expect(writeFailure(unknown, null)).toBeInstanceOf(DependencyUnavailableError);
    expect(isTransientCassandraError(unknown)).toBe(false);
    expect(asStorageError(unknown)).toBe(unknown);
  });

  it('classes a mutation Cassandra refuses as invalid (e.g. too large) as the row itself', () => {
    const tooLarge = new errors.ResponseError(codes.invalid, 'Rejected an oversized mutation (33554533/16777216)');
    expect(isTransientCassandraError(tooLarge)).toBe(false);
    const failure = writeFailure(tooLarge, null);
    expect(failure).toBeInstanceOf(RowRejectedError);
    expect(failure.code).toBe('row_rejected');
    expect(failure.message).toMatch(/^invalid \(0x2200\): Rejected an oversized mutation/);
  });

  it('classes an Invalid response as the cluster state while the schema is incomplete (unconfigured table)', () => {
    const unconfigured = new errors.ResponseError(codes.invalid, 'unconfigured table live_history');
    const failure = writeFailure(unconfigured, 'keyspace ks lacks migrations 1, 2: run `npm run migrate`');
    expect(failure).toBeInstanceOf(DependencyUnavailableError);
    expect(failure.code).toBe('dependency_unavailable');
    expect(failure.message).toMatch(/lacks migrations 1, 2/);
  });

  // Review, session 11: an erasure on a keyspace lacking migration 13 answered 500, after the keys had moved.
  it('knows a column a migration has not added, from the driver and once typed as the storage room answers it', () => {
    const missing = new errors.ResponseError(codes.invalid, 'Undefined column name opens_after_marks');
    expect(isUndefinedColumnError(missing)).toBe(true);
    expect(isUndefinedColumnError(asStorageError(missing))).toBe(true);
    expect(isUndefinedColumnError(new errors.ResponseError(codes.invalid, 'unconfigured table x'))).toBe(false);
    expect(isUndefinedColumnError(new DependencyUnavailableError('cassandra', 'no host', 5))).toBe(false);
  });

  it('answers a read or write that meets the schema in an incomplete state as unavailable (503), not as a bug', () => {
    for (const message of ['unconfigured table live_erasure_tombstones', 'Undefined column name tombstone_us']) {
      const error = asStorageError(new errors.ResponseError(codes.invalid, message));
      expect(error).toBeInstanceOf(DependencyUnavailableError);
      expect(error.message).toMatch(/migrate/);
    }
    const tooLarge = new errors.ResponseError(codes.invalid, 'Rejected an oversized mutation (33554533/16777216)');
    expect(asStorageError(tooLarge)).toBe(tooLarge);
  });

  // Right after a migration adds a column, a coordinator that has not seen it yet answers Invalid.
  const schemaRefusals: [string, string][] = [
    ['an undefined column (Cassandra 4+)', 'Undefined column name accepted_at'],
    ['an unknown identifier (Cassandra 3)', 'Unknown identifier accepted_at'],
    ['an unknown column', 'Unknown column accepted_at during insertion'],
    ['an unconfigured table', 'unconfigured table live_history'],
    ['a keyspace that does not exist', 'Keyspace e2e_x does not exist'],
    ['an Invalid message we do not know', 'Something new the server says'],
  ];

  it.each(schemaRefusals)('retries an Invalid response that is not a known row-level refusal: %s', (_, message) => {
    const failure = writeFailure(new errors.ResponseError(codes.invalid, message), null);
    expect(failure).toBeInstanceOf(DependencyUnavailableError);
  });

  it('marks an Invalid message no rule recognises as unrecognised only on a settled schema (the writer may then count it)', () => {
    const unknown = new errors.ResponseError(codes.invalid, 'Something new the server says');
    const settled = writeFailure(unknown, null);
    expect(settled).toBeInstanceOf(UnrecognisedRefusalError);
    expect((settled as UnrecognisedRefusalError).storageMessage).toBe(
      'invalid (0x2200): Something new the server says',
    );
    expect(writeFailure(unknown, 'schema versions disagree')).not.toBeInstanceOf(UnrecognisedRefusalError);
    const schemaState = writeFailure(new errors.ResponseError(codes.invalid, 'Undefined column name x'), null);
    expect(schemaState).not.toBeInstanceOf(UnrecognisedRefusalError);
  });

  const rowRefusals: string[] = [
    'Mutation of 17825792 bytes is too large for the maximum size of 16777216',
    'Key length of 70000 is longer than maximum of 65535',
    'Invalid unset value for column position_ms',
    'Expected 8 or 0 byte long for date (4)',
  ];

  it.each(rowRefusals)('dead-letters a known row-level refusal once the schema is settled: %s', (message) => {
    expect(writeFailure(new errors.ResponseError(codes.invalid, message), null)).toBeInstanceOf(RowRejectedError);
  });

  it('counts the schema as unsettled while migrations are pending or the nodes disagree on its version', () => {
    expect(schemaProblemOf('ks', [], true)).toBeNull();
    expect(schemaProblemOf('ks', ['4'], true)).toMatch(/ks lacks migrations 4/);
    expect(schemaProblemOf('ks', [], false)).toMatch(/schema versions disagree/);
    const tooLarge = new errors.ResponseError(codes.invalid, 'Rejected an oversized mutation (33554533/16777216)');
    expect(writeFailure(tooLarge, schemaProblemOf('ks', [], false))).toBeInstanceOf(DependencyUnavailableError);
  });
});
