import { Injectable } from '@nestjs/common';
import { EventLogOpener, LogMessage, OpenedMessage, openPlaintext } from '@vh/messaging';
import { unseal } from './payload-cipher';
import { ProfileKeys } from './profile-keys';
import { ClassifiedMessage, classifyMessage, sealContext } from './sealed-message';

/**
 * Opens sealed events with their profile's key. A key that is gone means the profile was erased: the
 * event is skipped as erased, never dead-lettered as bad input and never a stall (docs/adr/0009). Reading
 * the keys may fail (Cassandra down): that throws, and the batch is retried (invariant 2).
 */
@Injectable()
export class ProfileKeyOpener extends EventLogOpener {
  constructor(private readonly keys: ProfileKeys) {
    super();
  }

  async open(messages: readonly LogMessage[]): Promise<OpenedMessage[]> {
    const classified = messages.map((message) => classifyMessage(message.value));
    // A profile erased in this batch: its cached key is stale; read the store, where the erasure deleted
    // the key before its mark reached the log, so its events on either side of the mark open correctly.
    for (const c of classified) if (c.kind === 'profile-erased') this.keys.forget(c.mark.profileId);
    const lookups = new Map<string, Promise<Buffer | null>>();
    for (const c of classified) {
      if (c.kind !== 'sealed') continue;
      const id = `${c.envelope.profileId}\n${c.envelope.keyId}`;
      if (!lookups.has(id)) lookups.set(id, this.keys.byId(c.envelope.profileId, c.envelope.keyId));
    }
    const ids = [...lookups.keys()];
    const found = await Promise.all(lookups.values());
    const keys = new Map(ids.map((id, i) => [id, found[i]]));
    return classified.map((c, i) => this.openOne(messages[i], c, keys));
  }

  private openOne(message: LogMessage, c: ClassifiedMessage, keys: Map<string, Buffer | null>): OpenedMessage {
    switch (c.kind) {
      case 'plain':
        return openPlaintext(message);
      case 'malformed':
        return { kind: 'invalid', reason: `invalid event: ${c.reason}` };
      case 'profile-erased':
        return { kind: 'profile-erased', profileId: c.mark.profileId, erasureId: c.mark.erasureId };
      case 'sealed': {
        const { profileId, keyId, payload } = c.envelope;
        const key = keys.get(`${profileId}\n${keyId}`) ?? null;
        if (key === null) return { kind: 'erased', profileId };
        let plain: Buffer;
        try {
          plain = unseal(key, payload, sealContext(profileId, keyId));
        } catch {
          return { kind: 'invalid', reason: 'invalid event: sealed payload does not open with its key' };
        }
        const inner = openPlaintext({ ...message, value: plain });
        if (inner.kind === 'event' && inner.event.profileId !== profileId) {
          return { kind: 'invalid', reason: 'invalid event: sealed payload names another profile' };
        }
        return inner;
      }
    }
  }

  override forgetCached(): void {
    this.keys.forgetAll();
  }
}
