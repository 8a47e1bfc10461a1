import { Injectable } from '@nestjs/common';
import { encodePlaybackEventBinary, encodeViewingEvent, isPlaybackEvent, ViewingEvent } from '@vh/domain';
import { EventPayloadSealer } from '@vh/messaging';
import { ProfileKeys } from './profile-keys';
import { encodeSealedMessage } from './sealed-message';

/**
 * Seals what reveals viewing (docs/adr/0009): playback events, whole, with the profile's key, before they
 * reach the log, and `title-removed` (it names the title). Events that name no title (`record-removed`,
 * `history-cleared`, `settings-changed`) stay plain, so they need no key. A playback event is sealed in its
 * binary form: ciphertext does not compress, so it is made small first (docs/event-log.md).
 */
@Injectable()
export class ProfileKeySealer extends EventPayloadSealer {
  constructor(private readonly keys: ProfileKeys) {
    super();
  }

  async seal(events: readonly ViewingEvent[]): Promise<(string | Buffer)[]> {
    const keys = new Map<string, Promise<{ keyId: string; key: Buffer }>>();
    const keyOf = (profileId: string) => {
      let key = keys.get(profileId);
      if (!key) keys.set(profileId, (key = this.keys.current(profileId)));
      return key;
    };
    return Promise.all(
      events.map(async (event) => {
        if (!('titleId' in event)) return encodeViewingEvent(event);
        const { keyId, key } = await keyOf(event.profileId);
        const inner = isPlaybackEvent(event) ? encodePlaybackEventBinary(event) : encodeViewingEvent(event);
        return encodeSealedMessage({ profileId: event.profileId, keyId }, key, inner);
      }),
    );
  }
}
