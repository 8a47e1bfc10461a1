import { randomUUID } from 'node:crypto';
import { ViewingEvent } from '@vh/domain';

/** Wire-format playback events as a device posts them. */
export interface WirePlaybackEvent {
  eventId: string;
  profileId: string;
  titleId: string;
  playbackSessionId: string;
  type: 'play' | 'pause' | 'stop';
  positionMs: number;
  occurredAt: string;
  deviceId: string;
  titleDurationMs?: number;
}

/** A play event as ingest stores it (a session of its own), e.g. to write live rows directly. */
export function playEvent(profileId: string, occurredAt: number, acceptedAt?: number): ViewingEvent {
  return {
    type: 'play',
    eventId: randomUUID(),
    profileId,
    playbackSessionId: randomUUID(),
    titleId: 'title-1',
    deviceId: 'tv',
    positionMs: 0,
    occurredAt,
    ...(acceptedAt === undefined ? {} : { acceptedAt }),
  };
}

export function uniqueProfileId(prefix = 'profile'): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

/** A session: play, pause at 10 min, play, stop at 25 min; starting `startedAt`. */
export function watchSession(
  profileId: string,
  titleId: string,
  startedAt: number,
  deviceId = 'tv-1',
): WirePlaybackEvent[] {
  const sessionId = randomUUID();
  const minute = 60_000;
  const at = (offset: number) => new Date(startedAt + offset).toISOString();
  const base = { profileId, titleId, playbackSessionId: sessionId, deviceId, titleDurationMs: 3_600_000 };
  return [
    { ...base, eventId: randomUUID(), type: 'play', positionMs: 0, occurredAt: at(0) },
    { ...base, eventId: randomUUID(), type: 'pause', positionMs: 10 * minute, occurredAt: at(10 * minute) },
    { ...base, eventId: randomUUID(), type: 'play', positionMs: 10 * minute, occurredAt: at(12 * minute) },
    { ...base, eventId: randomUUID(), type: 'stop', positionMs: 25 * minute, occurredAt: at(27 * minute) },
  ];
}

export async function postJson(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: any; headers: Headers }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: await response.json().catch(() => null), headers: response.headers };
}

export async function getJson(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: any; headers: Headers }> {
  const response = await fetch(url, { headers });
  return { status: response.status, body: await response.json().catch(() => null), headers: response.headers };
}
