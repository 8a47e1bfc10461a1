import { Injectable } from '@nestjs/common';
import { KafkaMessage } from 'kafkajs';
import { classifyMessage, ErasureLedger, ErasureRecord, ProfileKeys } from '@vh/erasure';
import { header, HEADERS } from '@vh/messaging';

/** Why a letter stays in the topic. `inProgress`: only until its profile's erasure records its mark (transient). */
export interface RedriveRefusal {
  reason: string;
  inProgress: boolean;
}

/**
 * Which dead letters must not be re-driven: an erased profile's accepted before its erasure (docs/adr/0009).
 * A re-drive lands after the erasure's mark, where ingest takes it for the profile's new history: erased
 * data would come back. Decided by the log's order (the letter's source offset against the mark's), never
 * by a clock (invariant 6); a sealed letter also needs a current key of the profile (an erased key's letters
 * are erased whatever their place).
 */
@Injectable()
export class RedriveRefusals {
  constructor(
    private readonly keys: ProfileKeys,
    private readonly ledger: ErasureLedger,
  ) {}

  /** Why each of these letters must stay where it is, by index; null where it may go. */
  async of(messages: readonly KafkaMessage[]): Promise<(RedriveRefusal | null)[]> {
    const erasures = new Map<string, Promise<ErasureRecord[]>>();
    const currentKeys = new Map<string, Promise<boolean>>();
    const once = <T>(cache: Map<string, Promise<T>>, id: string, read: () => Promise<T>) => {
      if (!cache.has(id)) cache.set(id, read());
      return cache.get(id)!;
    };
    return Promise.all(
      messages.map(async (message) => {
        const c = classifyMessage(message.value);
        if (c.kind === 'profile-erased') return null;
        if (c.kind === 'sealed') {
          const { profileId, keyId } = c.envelope;
          const current = await once(currentKeys, `${profileId}\n${keyId}`, () =>
            this.keys.isCurrent(profileId, keyId),
          );
          if (!current) {
            return {
              reason: `sealed with key ${keyId}, which is no longer profile ${profileId}'s key: the profile was erased since, and so is this letter`,
              inProgress: false,
            };
          }
        }
        // Every profile the letter names: a plain letter without a key still names one in its payload.
        for (const profileId of profilesOf(message, c)) {
          const records = await once(erasures, profileId, () => this.ledger.erasures(profileId));
          for (const erasure of records) {
            const refusal = precedes(message, erasure);
            if (refusal !== false) {
              return {
                ...refusal,
                reason: `profile ${profileId} was erased (erasure ${erasure.erasureId}) ${refusal.reason}`,
              };
            }
          }
        }
        return null;
      }),
    );
  }
}

function profilesOf(message: KafkaMessage, c: ReturnType<typeof classifyMessage>): string[] {
  if (c.kind === 'sealed') return [c.envelope.profileId];
  const named = new Set<string>();
  const key = message.key?.toString('utf8');
  if (key) named.add(key);
  try {
    // A plain letter was parsed when classified: not again.
    const json =
      c.kind === 'plain' && c.parsed !== undefined ? c.parsed : JSON.parse(message.value?.toString('utf8') ?? 'null');
    const payload = json as { profileId?: unknown } | null;
    if (typeof payload?.profileId === 'string' && payload.profileId) named.add(payload.profileId);
  } catch {
    // Not JSON: only the key names a profile.
  }
  return [...named];
}

/** Why the letter counts as accepted before the erasure, or false when it came after its mark. */
function precedes(message: KafkaMessage, erasure: ErasureRecord): RedriveRefusal | false {
  const { mark } = erasure;
  // One notion of "in progress" for re-drive and backups alike: ErasureRecord.pending (ErasureLedger).
  if (erasure.pending) {
    return {
      reason: 'and is still in progress (its mark is not recorded yet): retry once it is',
      inProgress: true,
    };
  }
  const source = {
    topic: header(message, HEADERS.sourceTopic),
    partition: header(message, HEADERS.sourcePartition),
    offset: header(message, HEADERS.sourceOffset),
  };
  const placeable =
    mark !== null &&
    source.offset !== null &&
    /^\d+$/.test(source.offset) &&
    (mark.topic === null || mark.topic === source.topic) &&
    (mark.partition === null || String(mark.partition) === source.partition);
  if (!placeable) {
    return {
      reason: `and the letter cannot be placed against its mark (${mark === null ? 'not recorded: erased before marks were recorded' : describe(mark)}): it may be erased data`,
      inProgress: false,
    };
  }
  if (BigInt(source.offset!) < BigInt(mark.offset)) {
    return {
      reason: `after this letter was accepted (source offset ${source.offset}, the mark at ${describe(mark)}): it is erased`,
      inProgress: false,
    };
  }
  return false;
}

function describe(mark: NonNullable<ErasureRecord['mark']>): string {
  return `${mark.topic ?? '?'}/${mark.partition ?? '?'}/${mark.offset}`;
}
