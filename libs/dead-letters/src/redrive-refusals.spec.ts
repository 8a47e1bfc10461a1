import { KafkaMessage } from 'kafkajs';
import { encodeSealedEnvelope, ErasureLedger, ErasureRecord, ProfileKeys } from '@vh/erasure';
import { HEADERS } from '@vh/messaging';
import { RedriveRefusals } from './redrive-refusals';

const TOPIC = 'events';

function letter(
  value: string,
  source: { partition?: string; offset?: string; topic?: string } = {},
  key: string | null = 'p1',
): KafkaMessage {
  const headers: Record<string, Buffer> = {
    [HEADERS.sourceTopic]: Buffer.from(source.topic ?? TOPIC),
    [HEADERS.sourcePartition]: Buffer.from(source.partition ?? '0'),
  };
  if (source.offset) headers[HEADERS.sourceOffset] = Buffer.from(source.offset);
  return {
    key: key === null ? null : Buffer.from(key),
    value: Buffer.from(value),
    headers,
    offset: '0',
    timestamp: '0',
  } as KafkaMessage;
}

const plain = '{"schemaVersion":1,"type":"no-such-type","profileId":"p1"}';
const sealedWith = (keyId: string) => encodeSealedEnvelope({ profileId: 'p1', keyId, payload: Buffer.alloc(40) });

/** `currentKeyIds`: the profile's current keys, every region's. */
function refusals(erasures: ErasureRecord[], ...currentKeyIds: string[]) {
  const keys = { isCurrent: async (_profileId: string, keyId: string) => currentKeyIds.includes(keyId) };
  const ledger = { erasures: async () => erasures };
  return new RedriveRefusals(keys as unknown as ProfileKeys, ledger as unknown as ErasureLedger);
}

const markedAt = (offset: string): ErasureRecord => ({
  erasureId: 'e1',
  mark: { topic: TOPIC, partition: 0, offset },
  pending: false,
});

describe('RedriveRefusals', () => {
  it('lets any letter of a profile never erased go', async () => {
    expect(await refusals([]).of([letter(plain, { offset: '5' })])).toEqual([null]);
  });

  it("refuses a plain letter accepted before the erasure's mark, by log order (offsets as numbers)", async () => {
    const [before, after] = await refusals([markedAt('10')]).of([
      letter(plain, { offset: '9' }),
      letter(plain, { offset: '11' }),
    ]);
    expect(before).toEqual({ reason: expect.stringMatching(/erased .*source offset 9/), inProgress: false });
    expect(after).toBeNull();
  });

  // Review, session 6: the profile was taken from the message key only; a plain letter without one skipped the
  // erasure check.
  it("a plain letter without a key is checked against its payload's profile", async () => {
    const [refused] = await refusals([markedAt('10')]).of([letter(plain, { offset: '9' }, null)]);
    expect(refused?.reason).toMatch(/profile p1 was erased/);
  });

  // Review, session 6: "in progress" was decided by `mark === null` here and by `pending` in backups, and was
  // refused like an erased letter (400) though it is transient.
  it('refuses while the erasure is in progress (transient), and when the letter cannot be placed against the mark', async () => {
    const pending: ErasureRecord = { erasureId: 'e1', mark: null, pending: true };
    expect((await refusals([pending]).of([letter(plain, { offset: '99' })]))[0]).toEqual({
      reason: expect.stringMatching(/in progress/),
      inProgress: true,
    });
    // Finished long ago without a recorded mark (before marks were recorded): not in progress, never placeable.
    const unplaced: ErasureRecord = { erasureId: 'e0', mark: null, pending: false };
    expect((await refusals([unplaced]).of([letter(plain, { offset: '99' })]))[0]).toEqual({
      reason: expect.stringMatching(/cannot be placed/),
      inProgress: false,
    });
    const [noOffset, otherPartition, otherTopic] = await refusals([markedAt('10')]).of([
      letter(plain),
      letter(plain, { offset: '11', partition: '1' }),
      letter(plain, { offset: '11', topic: 'older-events' }),
    ]);
    for (const refused of [noOffset, otherPartition, otherTopic]) expect(refused?.reason).toMatch(/cannot be placed/);
  });

  it('refuses a sealed letter whose key is not a current key of the profile, whatever its place', async () => {
    const [old, current] = await refusals([markedAt('10')], 'k2').of([
      letter(sealedWith('k1'), { offset: '20' }),
      letter(sealedWith('k2'), { offset: '20' }),
    ]);
    expect(old?.reason).toMatch(/no longer profile p1's key/);
    expect(current).toBeNull();
    // Another region's key of the profile is as current as this region's (docs/adr/0012).
    expect(
      await refusals([], 'k-dc1', 'k-dc2').of([
        letter(sealedWith('k-dc1'), { offset: '20' }),
        letter(sealedWith('k-dc2'), { offset: '20' }),
        letter(sealedWith('k1'), { offset: '20' }),
      ]),
    ).toEqual([null, null, expect.objectContaining({ reason: expect.stringMatching(/no longer profile p1's key/) })]);
    // A new key made before the mark was published: its letters before the mark are erased too.
    expect((await refusals([markedAt('10')], 'k2').of([letter(sealedWith('k2'), { offset: '8' })]))[0]?.reason).toMatch(
      /erased/,
    );
  });
});
