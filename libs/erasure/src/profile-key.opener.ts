import { Injectable } from '@nestjs/common';
import { decodePlaybackEventBinary, describeIssues, PLAYBACK_EVENT_BINARY_TAG } from '@vh/domain';
import {
  EventLogOpener,
  header,
  HEADERS,
  LogMessage,
  LogPartition,
  OpenedMessage,
  openParsedPlaintext,
  openPlaintext,
} from '@vh/messaging';
import { unseal } from './payload-cipher';
import { MarkPosition, ProfileKeys } from './profile-keys';
import { UnknownProfileKeyError } from './unknown-profile-key.error';
import { ClassifiedMessage, classifyMessage, sealContext } from './sealed-message';

/**
 * Opens sealed events with their profile's key. A key an erasure destroyed (the ledger or a shredding row names
 * it) means the profile was erased: the event is skipped as erased, never dead-lettered as bad input and never
 * a stall (docs/adr/0009). Reading the keys may fail (Cassandra down), or find a key nobody knows
 * (UnknownProfileKeyError): that throws, and the batch is retried (invariant 2).
 * An erased key still shredding opens only a message that lies after its erasure's mark in the partition
 * (a collector sealed it with its cached copy): by offset, the log's order, never by a clock (invariant 6).
 * So does a current key an erasure bounded by its mark (created while it ran: `ProfileKeys.boundByMark`), but
 * what it opens is the new history, not stale: it is not sealed again.
 */
/**
 * A key to open with; `after`: a shredding key, good only for messages past this offset (its mark), and stale;
 * `opensAfter`: a current key's bound, the same rule without being stale.
 */
type KeyFound = { key: Buffer; after: string | null; opensAfter: readonly MarkPosition[] } | null;

@Injectable()
export class ProfileKeyOpener extends EventLogOpener {
  constructor(private readonly keys: ProfileKeys) {
    super();
  }

  async open(messages: readonly LogMessage[], at?: LogPartition): Promise<OpenedMessage[]> {
    const classified = messages.map((message) => classifyMessage(message.value));
    // A profile erased in this batch: its cached key is stale; read the store, where the erasure shredded
    // the key before its mark reached the log. Where each mark lies is noted on the shredding key, for the
    // batches after this one (and a restarted ingest, a replay).
    const marks = new Map<string, string>();
    const marksByProfile = new Map<string, string[]>();
    const superseded = new Set<number>();
    for (const [i, c] of classified.entries()) {
      if (c.kind !== 'profile-erased') continue;
      this.keys.forget(c.mark.profileId);
      const offset = messages[i].offset;
      if (offset === undefined) continue;
      // Published late by a process that stalled past its lease, after another erasure's mark finished its
      // erasure: erasing (or bounding keys) here would take the history acknowledged between the two marks.
      if (at && (await this.keys.supersededMark(c.mark.profileId, c.mark.erasureId, { ...at, offset }))) {
        superseded.add(i);
        continue;
      }
      // The mark bounds the erasures it covers too (taken over, or without a mark): their keys open after it.
      for (const erasureId of [c.mark.erasureId, ...(c.mark.covers ?? [])]) marks.set(erasureId, offset);
      marksByProfile.set(c.mark.profileId, [...(marksByProfile.get(c.mark.profileId) ?? []), offset]);
      await this.keys.markMet(c.mark.profileId, c.mark.erasureId, offset, at, c.mark.covers);
    }
    const lookups = new Map<string, Promise<KeyFound>>();
    for (const c of classified) {
      if (c.kind !== 'sealed') continue;
      const { profileId, keyId } = c.envelope;
      const id = sealContext(profileId, keyId);
      if (!lookups.has(id)) lookups.set(id, this.find(profileId, keyId, marks));
    }
    const ids = [...lookups.keys()];
    const found = await Promise.all(lookups.values());
    const keys = new Map(ids.map((id, i) => [id, found[i]]));
    const opened = classified.map((c, i) => {
      const o = this.openOne(messages[i], c, keys, at);
      return superseded.has(i) && o.kind === 'profile-erased' ? { ...o, superseded: true as const } : o;
    });
    return this.dropRedrivenBeforeMarks(messages, opened, at, marksByProfile);
  }

  /**
   * A re-driven letter accepted before an erasure of its profile is erased, even when the erasure started after
   * re-drive checked it and the copy lies after the mark: its original's position (x-redriven-source) lies
   * before the mark in the same partition. Log order, no clock (invariant 6); a replay decides alike.
   */
  private async dropRedrivenBeforeMarks(
    messages: readonly LogMessage[],
    opened: OpenedMessage[],
    at: LogPartition | undefined,
    inBatch: Map<string, string[]>,
  ): Promise<OpenedMessage[]> {
    // Most batches hold no re-driven message: no promise a message (ingest's replay, session 15).
    if (!messages.some((message) => header(message, HEADERS.redrivenSource) !== null)) return opened;
    const known = new Map<string, Promise<{ topic: string | null; partition: number | null; offset: string }[]>>();
    return Promise.all(
      opened.map(async (o, i) => {
        const source = redrivenSource(messages[i]);
        if (o.kind !== 'event' || source === null) return o;
        const { profileId } = o.event;
        if (!known.has(profileId)) known.set(profileId, this.keys.marksOf(profileId));
        const batch = (inBatch.get(profileId) ?? []).map((offset) => ({
          topic: at?.topic ?? null,
          partition: at?.partition ?? null,
          offset,
        }));
        const marks = [...(await known.get(profileId)!), ...batch];
        const before = marks.some(
          (m) =>
            (m.topic === null || m.topic === source.topic) &&
            (m.partition === null || m.partition === source.partition) &&
            source.offset < BigInt(m.offset),
        );
        return before ? { kind: 'erased' as const, profileId } : o;
      }),
    );
  }

  private async find(profileId: string, keyId: string, marks: Map<string, string>): Promise<KeyFound> {
    const current = await this.keys.currentById(profileId, keyId);
    if (current) return { key: current.key, after: null, opensAfter: current.opensAfter };
    const shredding = await this.keys.shredding(profileId, keyId);
    if (!shredding) {
      if (await this.keys.erasedByLedger(profileId, keyId)) return null;
      throw new UnknownProfileKeyError(profileId, keyId);
    }
    const after = shredding.markOffset ?? marks.get(shredding.erasureId) ?? null;
    // Mark not met yet: every message sealed with the key so far lies before it.
    return after === null ? null : { key: shredding.key, after, opensAfter: [] };
  }

  private openOne(
    message: LogMessage,
    c: ClassifiedMessage,
    keys: Map<string, KeyFound>,
    at: LogPartition | undefined,
  ): OpenedMessage {
    switch (c.kind) {
      case 'plain':
        return c.parsed === undefined ? openPlaintext(message) : openParsedPlaintext(message, c.parsed);
      case 'malformed':
        return { kind: 'invalid', reason: `invalid event: ${c.reason}` };
      case 'profile-erased':
        return { kind: 'profile-erased', profileId: c.mark.profileId, erasureId: c.mark.erasureId };
      case 'sealed': {
        const { profileId, keyId, payload, context } = c.envelope;
        const found = keys.get(sealContext(profileId, keyId)) ?? null;
        const stale = found?.after != null;
        if (!found || (stale && !(message.offset !== undefined && BigInt(message.offset) > BigInt(found.after!)))) {
          return { kind: 'erased', profileId };
        }
        if (boundedBefore(message, at, found.opensAfter)) return { kind: 'erased', profileId };
        const key = found.key;
        let plain: Buffer;
        try {
          plain = unseal(key, payload, context);
        } catch {
          return { kind: 'invalid', reason: 'invalid event: sealed payload does not open with its key' };
        }
        const inner = openSealedPlaintext(message, plain, profileId);
        if (inner.kind === 'event' && inner.event.profileId !== profileId) {
          return { kind: 'invalid', reason: 'invalid event: sealed payload names another profile' };
        }
        return stale && inner.kind === 'event' ? { ...inner, staleKey: true } : inner;
      }
    }
  }

  override forgetCached(): void {
    this.keys.forgetAll();
  }
}

/** What a sealed message held: a playback event's binary form, or an event's JSON. */
function openSealedPlaintext(message: LogMessage, plain: Buffer, profileId: string): OpenedMessage {
  if (plain[0] !== PLAYBACK_EVENT_BINARY_TAG) return openPlaintext({ ...message, value: plain });
  // The binary form takes its profile id from the authenticated header: it cannot name another profile.
  const decoded = decodePlaybackEventBinary(plain, profileId, Number(message.timestamp));
  return decoded.ok
    ? { kind: 'event', event: decoded.value }
    : { kind: 'invalid', reason: `invalid event: ${describeIssues(decoded.issues)}` };
}

/** Where a re-driven message's original lay on the event log (`topic/partition/offset`), or null. */
function redrivenSource(message: LogMessage): { topic: string; partition: number; offset: bigint } | null {
  const value = header(message, HEADERS.redrivenSource);
  if (value === null) return null;
  const match = /^(.+)\/(\d+)\/(\d+)$/.exec(value);
  return match ? { topic: match[1], partition: Number(match[2]), offset: BigInt(match[3]) } : null;
}

/**
 * Whether a message lies at or before a current key's bound: only in the bound's topic and partition (offsets of
 * another partition, added since, say nothing about the mark). A message whose position is not known (a backup's
 * line, written from the stored history) is not of the log: not bounded.
 */
function boundedBefore(message: LogMessage, at: LogPartition | undefined, bounds: readonly MarkPosition[]): boolean {
  if (message.offset === undefined || at === undefined) return false;
  const bound = bounds.find((b) => b.topic === at.topic && b.partition === at.partition);
  return bound !== undefined && BigInt(message.offset) <= BigInt(bound.offset);
}
