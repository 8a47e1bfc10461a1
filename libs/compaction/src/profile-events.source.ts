import { AppConfig } from '@vh/config';
import { ViewingEvent } from '@vh/domain';
import { standaloneProfileKeys } from '@vh/erasure';
import { readProfileEvents } from '@vh/messaging';
import { TruncatedEventLogError } from './truncated-event-log.error';

/** Every event of one profile on the event log: what a settled record's trail is rebuilt from (ADR 6). */
export abstract class ProfileEventsSource {
  abstract eventsOf(profileId: string): Promise<ViewingEvent[]>;
}

/**
 * Reads the profile's partition of the event log from its earliest offset, as `cli repair` does; sealed
 * payloads open with the profile's key. A log that lost its oldest messages may lack what a settled record
 * counted, so it is refused: the profile's compaction fails (and says why) rather than lose it.
 */
export class EventLogProfileEventsSource extends ProfileEventsSource {
  constructor(private readonly config: AppConfig) {
    super();
  }

  async eventsOf(profileId: string): Promise<ViewingEvent[]> {
    const keys = standaloneProfileKeys(this.config, 'trails');
    const log = await readProfileEvents(this.config, profileId, { opener: keys.opener }).finally(() => keys.close());
    if (BigInt(log.earliestOffset) > 0n) {
      const consequence = `(${profileId}: its settled records cannot be rebuilt from it; its live rows stay)`;
      throw new TruncatedEventLogError(log.topic, log.partition, log.earliestOffset, consequence);
    }
    return log.events;
  }
}
