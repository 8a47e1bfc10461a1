import { randomUUID } from 'node:crypto';
import { PlaybackEvent } from '@vh/domain';
import { LogMessage } from '@vh/messaging';
import { classifyMessage } from '../sealed-message';

/** A play event of the profile and title, as a collector accepted it (the specs' events to seal). */
export const play = (profileId: string, titleId: string): PlaybackEvent => ({
  eventId: randomUUID(),
  profileId,
  titleId,
  playbackSessionId: randomUUID(),
  type: 'play',
  positionMs: 0,
  occurredAt: Date.parse('2026-01-01T20:00:00Z'),
  acceptedAt: Date.parse('2026-01-01T20:00:01Z'),
  deviceId: 'tv',
});

/** The key a sealed message names. */
export const keyIdOf = (value: string | Buffer): string => {
  const classified = classifyMessage(Buffer.from(value));
  if (classified.kind !== 'sealed') throw new Error(`not sealed: ${classified.kind}`);
  return classified.envelope.keyId;
};

/** Messages as the log gives them, without offsets (`offset`: numbered from it, in order). */
export const asMessages = (values: (string | Buffer)[], offset?: number): LogMessage[] =>
  values.map((value, i) => ({
    key: null,
    value: Buffer.from(value),
    timestamp: '1767297601000',
    ...(offset === undefined ? {} : { offset: String(offset + i) }),
  }));
