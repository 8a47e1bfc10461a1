import { Injectable } from '@nestjs/common';
import { AppConfig } from '@vh/config';
import {
  DependencyUnavailableError,
  encodePlaybackEventBinary,
  encodeViewingEvent,
  isPlaybackEvent,
  ViewingEvent,
} from '@vh/domain';
import { EventPayloadSealer } from '@vh/messaging';
import { seal } from './payload-cipher';
import { ProfileKeys } from './profile-keys';
import { encodeSealedEnvelope, encodeSealedMessage, sealContext } from './sealed-message';

/**
 * Seals what reveals viewing (docs/adr/0009): playback events, whole, with the profile's key, before they
 * reach the log, and `title-removed` (it names the title). Events that name no title (`record-removed`,
 * `history-cleared`, `settings-changed`) stay plain, so they need no key. A playback event is sealed in its
 * binary form: ciphertext does not compress, so it is made small first (docs/event-log.md); in the JSON form
 * instead with SEALED_EVENT_FORMAT=json, while readers of a build before the binary form still run.
 */
@Injectable()
export class ProfileKeySealer extends EventPayloadSealer {
  constructor(
    private readonly keys: ProfileKeys,
    private readonly config: AppConfig,
  ) {
    super();
  }

  async seal(events: readonly ViewingEvent[]): Promise<(string | Buffer)[]> {
    // One key lookup a profile, then every event sealed at once: a promise an event was 2% of the collector's CPU.
    const profiles = [...new Set(events.filter((event) => 'titleId' in event).map((event) => event.profileId))];
    const found = await Promise.all(
      profiles.map((profileId) =>
        // Unreachable keys are the cluster's failure (503, retried), never the event's (invariant 2).
        this.keys.current(profileId).catch((error: unknown) => {
          throw new DependencyUnavailableError('cassandra', 'the profile keys could not be read', 5, { cause: error });
        }),
      ),
    );
    const keys = new Map(profiles.map((profileId, i) => [profileId, found[i]]));
    return events.map((event) => {
      if (!('titleId' in event)) return encodeViewingEvent(event);
      const { keyId, key } = keys.get(event.profileId)!;
      const { profileId } = event;
      if (this.config.profileKeys.sealedEventFormat === 'json') {
        const payload = seal(key, encodeViewingEvent(event), sealContext(profileId, keyId));
        return encodeSealedEnvelope({ profileId, keyId, payload });
      }
      const inner = isPlaybackEvent(event) ? encodePlaybackEventBinary(event) : encodeViewingEvent(event);
      return encodeSealedMessage({ profileId, keyId }, key, inner);
    });
  }
}
