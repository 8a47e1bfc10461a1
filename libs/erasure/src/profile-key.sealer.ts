import { Injectable } from '@nestjs/common';
import { encodeViewingEvent, ViewingEvent } from '@vh/domain';
import { EventPayloadSealer } from '@vh/messaging';
import { seal } from './payload-cipher';
import { ProfileKeys } from './profile-keys';
import { encodeSealedEnvelope, sealContext } from './sealed-message';

/**
 * Seals what reveals viewing (docs/adr/0009): playback events, whole, with the profile's key, before they
 * reach the log, and `title-removed` (it names the title). Events that name no title (`record-removed`,
 * `history-cleared`, `settings-changed`) stay plain, so they need no key.
 */
@Injectable()
export class ProfileKeySealer extends EventPayloadSealer {
  constructor(private readonly keys: ProfileKeys) {
    super();
  }

  async seal(events: readonly ViewingEvent[]): Promise<string[]> {
    const keys = new Map<string, Promise<{ keyId: string; key: Buffer }>>();
    const keyOf = (profileId: string) => {
      let key = keys.get(profileId);
      if (!key) keys.set(profileId, (key = this.keys.current(profileId)));
      return key;
    };
    return Promise.all(
      events.map(async (event) => {
        const plain = encodeViewingEvent(event);
        if (!('titleId' in event)) return plain;
        const { keyId, key } = await keyOf(event.profileId);
        const payload = seal(key, plain, sealContext(event.profileId, keyId));
        return encodeSealedEnvelope({ profileId: event.profileId, keyId, payload });
      }),
    );
  }
}
