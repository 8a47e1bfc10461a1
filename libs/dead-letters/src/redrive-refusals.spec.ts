import { KafkaMessage } from 'kafkajs';
import { encodeSealedEnvelope, ErasureLedger, ErasureRecord, ProfileKeys } from '@vh/erasure';
import { HEADERS } from '@vh/messaging';
import { RedriveRefusals } from './redrive-refusals';

const TOPIC = 'events';

function letter(value: string, source: { partition?: string; offset?: string; topic?: string } = {}): KafkaMessage {
  const headers: Record<string, Buffer> = {
    [HEADERS.sourceTopic]: Buffer.from(source.topic ?? TOPIC),
    [HEADERS.sourcePartition]: Buffer.from(source.partition ?? '0'),
  };
  if (source.offset) headers[HEADERS.sourceOffset] = Buffer.from(source.offset);
  return { key: Buffer.from('p1'), value: Buffer.from(value), headers, offset: '0', timestamp: '0' } as KafkaMessage;
}

const plain = '{"schemaVersion":1,"type":"no-such-type","profileId":"p1"}';
const sealedWith = (keyId: string) => encodeSealedEnvelope({ profileId: 'p1', keyId, payload: Buffer.from('x') });

function refusals(erasures: ErasureRecord[], currentKeyId: string | null = null) {
  const keys = { existing: async () => (currentKeyId ? { keyId: currentKeyId, key: Buffer.alloc(32) } : null) };
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
    expect(before).toMatch(/erased .*source offset 9/);
    expect(after).toBeNull();
  });

  it('refuses while the erasure is in progress, and when the letter cannot be placed against the mark', async () => {
    const pending: ErasureRecord = { erasureId: 'e1', mark: null, pending: true };
    expect((await refusals([pending]).of([letter(plain, { offset: '99' })]))[0]).toMatch(/not recorded/);
    const [noOffset, otherPartition, otherTopic] = await refusals([markedAt('10')]).of([
      letter(plain),
      letter(plain, { offset: '11', partition: '1' }),
      letter(plain, { offset: '11', topic: 'older-events' }),
    ]);
    for (const reason of [noOffset, otherPartition, otherTopic]) expect(reason).toMatch(/cannot be placed/);
  });

  it("refuses a sealed letter whose key is not the profile's current key, whatever its place", async () => {
    const [old, current] = await refusals([markedAt('10')], 'k2').of([
      letter(sealedWith('k1'), { offset: '20' }),
      letter(sealedWith('k2'), { offset: '20' }),
    ]);
    expect(old).toMatch(/no longer profile p1's key/);
    expect(current).toBeNull();
    // A new key made before the mark was published: its letters before the mark are erased too.
    expect((await refusals([markedAt('10')], 'k2').of([letter(sealedWith('k2'), { offset: '8' })]))[0]).toMatch(
      /erased/,
    );
  });
});
