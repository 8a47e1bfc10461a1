import { PlaybackEvent } from '@vh/domain';

/**
 * Events as production stores them: the collector stamps each with the service's acceptance time, a
 * little after the device's time (40-440 ms here). Trails store that delay per event, so a benchmark of
 * stored bytes without it measures less than production writes.
 */
export function asAccepted<T extends PlaybackEvent>(events: T[]): T[] {
  return events.map((e, i) => ({ ...e, acceptedAt: e.occurredAt + 40 + ((i * 7919) % 400) }));
}
