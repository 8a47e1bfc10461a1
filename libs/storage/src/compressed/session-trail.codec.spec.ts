import fc from 'fast-check';
import { PLAYBACK_EVENT_TYPES, PlaybackEvent, settledIdFingerprint } from '@vh/domain';
import { MalformedChunkError, SettledTrailEntry, settledDigestOf, settledTrailEntryOf } from './history-chunk.codec';
import {
  decodeSettledEntries,
  decodeTrailChunk,
  decodeTrailChunkRecordIds,
  encodeTrailChunk,
  encodeTrailChunks,
  isTrailChunk,
  addSettled,
} from './session-trail.codec';

const trailOf = (recordId: string) =>
  fc
    .array(
      fc.record(
        {
          eventId: fc.uuid(),
          type: fc.constantFrom(...PLAYBACK_EVENT_TYPES),
          titleId: fc.constantFrom('t1', 'ñandú-ü'),
          deviceId: fc.constantFrom('tv', 'x'.repeat(64)),
          positionMs: fc.integer({ min: 0, max: 172_800_000 }),
          occurredAt: fc.integer({ min: 0, max: 4_000_000_000_000 }),
          titleDurationMs: fc.integer({ min: 0, max: 172_800_000 }),
          acceptedAt: fc.integer({ min: 0, max: 4_000_000_000_000 }),
        },
        { requiredKeys: ['eventId', 'type', 'titleId', 'deviceId', 'positionMs', 'occurredAt'] },
      ),
      { minLength: 1, maxLength: 12 },
    )
    .map((events) => events.map((e): PlaybackEvent => ({ ...e, profileId: 'profile-1', playbackSessionId: recordId })));

const trails = fc
  .uniqueArray(fc.uuid(), { maxLength: 20 })
  .chain((ids) => fc.tuple(...ids.map((id) => trailOf(id).map((t) => [id, t] as const))))
  .map((entries) => new Map<string, PlaybackEvent[]>(entries.map(([id, t]) => [id, t])));

describe('the session-trail chunk encoding', () => {
  it('round-trips any trails, with and without acceptance times and title durations', () => {
    fc.assert(
      fc.property(trails, (input) => {
        const bytes = encodeTrailChunk(input);
        expect(isTrailChunk(bytes)).toBe(true);
        expect(decodeTrailChunk('profile-1', bytes)).toEqual(input);
      }),
      { numRuns: 200 },
    );
  });

  it('splits into chunks under the size bound that together hold every trail', () => {
    fc.assert(
      fc.property(trails, fc.integer({ min: 100, max: 2000 }), (input, max) => {
        const chunks = encodeTrailChunks(input, max);
        const decoded = chunks.map((c) => decodeTrailChunk('profile-1', c));
        for (const d of decoded) expect(d.size).toBeGreaterThan(0);
        chunks.forEach((c, i) => expect(c.length <= max || decoded[i].size === 1).toBe(true));
        expect(new Map(decoded.flatMap((d) => [...d]))).toEqual(input);
      }),
      { numRuns: 100 },
    );
  });

  it('rejects a record chunk, a truncated and an over-long trail chunk', () => {
    const bytes = encodeTrailChunk(
      fc.sample(
        trails.filter((t) => t.size > 0),
        1,
      )[0],
    );
    expect(() => decodeTrailChunk('p', Buffer.from('VHC2'))).toThrow(MalformedChunkError);
    expect(() => decodeTrailChunk('p', bytes.subarray(0, bytes.length - 1))).toThrow(MalformedChunkError);
    expect(() => decodeTrailChunk('p', Buffer.concat([bytes, Buffer.from([0])]))).toThrow(MalformedChunkError);
  });

  it('keeps settled records (ADR 6) as id fingerprints with their digests, besides the trails', () => {
    fc.assert(
      fc.property(
        trails,
        fc.uniqueArray(fc.uuid(), { maxLength: 20 }),
        fc.nat({ max: 300 }),
        (input, settledIds, n) => {
          const entries = settledIds
            .filter((id) => !input.has(id))
            .map((id, i): [string, SettledTrailEntry] => [
              id,
              { events: (n + i) % 300, acceptedSpan: (n * i) % 90_000 },
            ]);
          const bytes = encodeTrailChunk(input, new Map(entries));
          expect(decodeTrailChunk('profile-1', bytes)).toEqual(input);
          const expected = new Map<number, SettledTrailEntry>();
          for (const [id, entry] of entries) addSettled(expected, settledIdFingerprint(id), entry);
          expect(decodeSettledEntries(bytes)).toEqual(expected);
          expect(decodeTrailChunkRecordIds(bytes)).toEqual({
            trailed: new Set(input.keys()),
            settledFingerprints: new Set(expected.keys()),
          });
        },
      ),
      { numRuns: 200 },
    );
  });

  it('takes the weaker digest of two settled ids with one fingerprint', () => {
    const settled = new Map<number, SettledTrailEntry>();
    addSettled(settled, 7, { events: 5, acceptedSpan: 10 });
    addSettled(settled, 7, { events: 3, acceptedSpan: 20 });
    expect(settled.get(7)).toEqual({ events: 3, acceptedSpan: 20 });
    addSettled(settled, 7, { events: 4, acceptedSpan: 0 });
    expect(settled.get(7)).toEqual({ events: 3, acceptedSpan: 0 });
  });

  it('writes v1, which earlier builds read, when nothing is settled; reads an empty v1 trail as settled', () => {
    const id = '0a1b2c3d-0000-4000-8000-000000000001';
    const trail = fc.sample(trailOf(id), 1)[0];
    const plain = encodeTrailChunk(new Map([[id, trail]]));
    expect(plain.subarray(0, 4).toString('latin1')).toBe('VHT1');
    expect(
      encodeTrailChunk(new Map(), new Map([[id, { events: 3, acceptedSpan: 1 }]]))
        .subarray(0, 4)
        .toString('latin1'),
    ).toBe('VHT3');
    // One intermediate build stored a settled record as an empty trail: never a real trail (it would
    // count the session's live events again), always a settled record of unknown size.
    const empty = encodeTrailChunk(new Map([[id, []]]));
    expect(decodeTrailChunk('p', empty)).toEqual(new Map());
    expect(decodeTrailChunkRecordIds(empty)).toEqual({
      trailed: new Set(),
      settledFingerprints: new Set([settledIdFingerprint(id)]),
    });
    expect(decodeSettledEntries(empty)).toEqual(new Map([[0x0a1b2c3d, { events: 0, acceptedSpan: 0 }]]));
  });

  it('keeps a digest relative to the record: the last acceptance rounds up to the second, never down', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 4_000_000_000_000 }),
        fc.integer({ min: -5_000, max: 30 * 86_400_000 }),
        fc.nat({ max: 500 }),
        (first, after, events) => {
          const digest = { events, lastAcceptedAt: first + after };
          const back = settledDigestOf(settledTrailEntryOf(digest, first), first);
          expect(back.events).toBe(events);
          expect(back.lastAcceptedAt!).toBeGreaterThanOrEqual(digest.lastAcceptedAt);
          expect(back.lastAcceptedAt! - Math.max(digest.lastAcceptedAt, first)).toBeLessThan(1_000);
        },
      ),
    );
    expect(settledDigestOf(settledTrailEntryOf({ events: 3, lastAcceptedAt: null }, 7), 7)).toEqual({
      events: 3,
      lastAcceptedAt: null,
    });
    expect(settledDigestOf(undefined, 7)).toEqual({ events: 0, lastAcceptedAt: null });
  });
});
