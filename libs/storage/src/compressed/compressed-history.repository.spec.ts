import { Client, errors, types } from 'cassandra-driver';
import { loadConfig } from '@vh/config';
import { foldHistory, ViewingEvent } from '@vh/domain';
import { CompressedHistoryRepository } from './compressed-history.repository';
import { emptyVersion } from './compressed-history.version';
import { encodeMemberControls } from './member-controls.codec';

const pause: ViewingEvent = {
  type: 'settings-changed',
  eventId: '00000000-0000-4000-9000-000000000001',
  profileId: 'p',
  recording: 'paused',
  occurredAt: Date.parse('2026-01-01T00:00:00Z'),
  acceptedAt: Date.parse('2026-01-01T00:00:00Z'),
};
const paused = {
  ...emptyVersion('p', 1, 'set-1'),
  memberControls: encodeMemberControls(foldHistory([pause]).controls),
};

const row = (values: Record<string, unknown>) => ({ get: (column: string) => values[column] });
const result = (rows: ReturnType<typeof row>[]) => ({ rows, first: () => rows[0] ?? null });

/**
 * A client that answers each statement by the first matching rule (anything else: applied, no rows), and keeps
 * the statements it was sent.
 */
function fakeClient(rules: [RegExp, () => unknown][]) {
  const sent: string[] = [];
  const client = {
    execute: async (query: string) => {
      sent.push(query);
      const rule = rules.find(([pattern]) => pattern.test(query));
      if (rule) return rule[1]();
      return result([row({ '[applied]': true })]);
    },
  };
  return { client: client as unknown as Client, sent };
}

const config = loadConfig({ CASSANDRA_READ_CONSISTENCY: 'ONE', CASSANDRA_WRITE_CONSISTENCY: 'ONE' });

describe('CompressedHistoryRepository: the daily sweep’s row (ADR 8, review of issue 15)', () => {
  // Finding 1: at ONE the version read after the switch may hit a replica the switch has not reached.
  it('marks nothing erased when the version read after its note is stale (none, or not newer)', async () => {
    for (const stale of [null, { version: 1, member_controls: null }]) {
      const { client, sent } = fakeClient([
        [/^SELECT \* FROM .*compressed_history /, () => result(stale ? [row(stale)] : [])],
      ]);
      expect(await new CompressedHistoryRepository(client, config).switchVersion(null, paused)).toBe(true);
      expect(sent.some((q) => /erased = erased \+/.test(q))).toBe(false);
    }
  });

  it('marks what a newer version (an erasure’s) no longer holds', async () => {
    const { client, sent } = fakeClient([
      [/^SELECT \* FROM .*compressed_history /, () => result([row({ version: 2, member_controls: null })])],
    ]);
    expect(await new CompressedHistoryRepository(client, config).switchVersion(null, paused)).toBe(true);
    expect(sent.some((q) => /erased = erased \+/.test(q))).toBe(true);
  });

  // Finding 7: a note that names nothing the row (read before the history) lacks is not written again.
  it('writes no note on its switch when the row read before it names all the version’s settings', async () => {
    const { client, sent } = fakeClient([]);
    const repository = new CompressedHistoryRepository(client, config);
    expect(await repository.switchVersion(null, paused, { pauses: [pause.eventId], periods: [] })).toBe(true);
    expect(sent.some((q) => /pauses = pauses \+/.test(q))).toBe(false);
    expect(await repository.switchVersion(null, paused, { pauses: [], periods: [] })).toBe(true);
    expect(sent.some((q) => /pauses = pauses \+/.test(q))).toBe(true);
  });

  // Finding 4: the switch applied; a failing note or read after it heals on the next run, and must not fail the
  // compaction (which would skip its delete of the rolled-up rows).
  it('reports the switch applied though its note after it fails', async () => {
    const { client } = fakeClient([
      [/^SELECT \* FROM .*compressed_history /, () => Promise.reject(new Error('read timed out'))],
    ]);
    expect(await new CompressedHistoryRepository(client, config).switchVersion(null, paused)).toBe(true);
  });

  // Finding 3: deployed before migration 12, the row has none of the named sets: compaction goes on as before.
  it('reads no named settings, rather than failing, on a schema without migration 12', async () => {
    const { client } = fakeClient([
      [
        /^SELECT pauses, periods, erased/,
        () =>
          Promise.reject(new errors.ResponseError(types.responseErrorCodes.invalid, 'Undefined column name pauses')),
      ],
    ]);
    expect(await new CompressedHistoryRepository(client, config).namedForDailySweep('p')).toBeNull();
  });

  // Second review: IF EXISTS put Paxos on a table partitioned by 16 shards (every compaction's note contending
  // with a sixteenth of all profiles'; a CAS timeout failed the compaction after its switch) and mixed Paxos and
  // client timestamps on a row the eraser deletes plainly. Both writes are plain and add-only: a row they recreate
  // after an erasure names only erased or finished settings, which the sweep does not visit (ADR 9).
  it('marks erased and notes finished pauses with plain add-only writes, never Paxos', async () => {
    const { client, sent } = fakeClient([]);
    const repository = new CompressedHistoryRepository(client, config);
    await repository.noteErasedForDailySweep('p', ['a']);
    await repository.notePausesFinished('p', ['b']);
    expect(sent).toHaveLength(2);
    for (const q of sent) expect(q).not.toMatch(/ IF /);
  });

  // Second review: before migration 12 the note of finished pauses named a column that does not exist yet, so every
  // compaction of a resumed profile failed.
  it('skips the note of finished pauses before migration 12 rather than failing the compaction', async () => {
    const { client } = fakeClient([
      [
        /pauses_finished/,
        () =>
          Promise.reject(
            new errors.ResponseError(types.responseErrorCodes.invalid, 'Undefined column name pauses_finished'),
          ),
      ],
    ]);
    await expect(
      new CompressedHistoryRepository(client, config).notePausesFinished('p', ['b']),
    ).resolves.toBeUndefined();
  });
});
