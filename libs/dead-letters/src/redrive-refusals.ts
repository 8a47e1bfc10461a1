import { Injectable } from '@nestjs/common';
import { KafkaMessage } from 'kafkajs';
import { classifyMessage, ErasureLedger, ErasureRecord, ProfileKeys } from '@vh/erasure';
import { HEADERS } from '@vh/messaging';
import { header } from './dead-letter-topic.reader';

/**
 * Which dead letters must not be re-driven: an erased profile's accepted before its erasure (docs/adr/0009).
 * A re-drive lands after the erasure's mark, where ingest takes it for the profile's new history: erased
 * data would come back. Decided by the log's order (the letter's source offset against the mark's), never
 * by a clock (invariant 6); a sealed letter also needs the profile's current key (an erased key's letters
 * are erased whatever their place).
 */
@Injectable()
export class RedriveRefusals {
  constructor(
    private readonly keys: ProfileKeys,
    private readonly ledger: ErasureLedger,
  ) {}

  /** Why each of these letters must stay where it is, by index; null where it may go. */
  async of(messages: readonly KafkaMessage[]): Promise<(string | null)[]> {
    const erasures = new Map<string, Promise<ErasureRecord[]>>();
    const currentKeys = new Map<string, Promise<string | null>>();
    const once = <T>(cache: Map<string, Promise<T>>, id: string, read: () => Promise<T>) => {
      if (!cache.has(id)) cache.set(id, read());
      return cache.get(id)!;
    };
    return Promise.all(
      messages.map(async (message) => {
        const c = classifyMessage(message.value);
        if (c.kind === 'profile-erased') return null;
        const profileId = c.kind === 'sealed' ? c.envelope.profileId : (message.key?.toString('utf8') ?? null);
        if (!profileId) return null;
        if (c.kind === 'sealed') {
          const current = await once(
            currentKeys,
            profileId,
            async () => (await this.keys.existing(profileId))?.keyId ?? null,
          );
          if (current !== c.envelope.keyId) {
            return `sealed with key ${c.envelope.keyId}, which is no longer profile ${profileId}'s key: the profile was erased since, and so is this letter`;
          }
        }
        const records = await once(erasures, profileId, () => this.ledger.erasures(profileId));
        for (const erasure of records) {
          const before = precedes(message, erasure);
          if (before !== false) return `profile ${profileId} was erased (erasure ${erasure.erasureId}) ${before}`;
        }
        return null;
      }),
    );
  }
}

/** Why the letter counts as accepted before the erasure, or false when it came after its mark. */
function precedes(message: KafkaMessage, erasure: ErasureRecord): string | false {
  const { mark } = erasure;
  if (mark === null) {
    return 'and where its mark lies is not recorded (still in progress, or erased before marks were recorded): the letter may be erased data';
  }
  const source = {
    topic: header(message, HEADERS.sourceTopic),
    partition: header(message, HEADERS.sourcePartition),
    offset: header(message, HEADERS.sourceOffset),
  };
  const placeable =
    source.offset !== null &&
    /^\d+$/.test(source.offset) &&
    (mark.topic === null || mark.topic === source.topic) &&
    (mark.partition === null || String(mark.partition) === source.partition);
  if (!placeable) return `and the letter cannot be placed against its mark (${describe(mark)}): it may be erased data`;
  if (BigInt(source.offset!) < BigInt(mark.offset)) {
    return `after this letter was accepted (source offset ${source.offset}, the mark at ${describe(mark)}): it is erased`;
  }
  return false;
}

function describe(mark: NonNullable<ErasureRecord['mark']>): string {
  return `${mark.topic ?? '?'}/${mark.partition ?? '?'}/${mark.offset}`;
}
