import { CompressionTypes } from 'kafkajs';
import { loadConfig } from '@vh/config';
import { DependencyUnavailableError } from '@vh/domain';
import { playbackEvent } from '@vh/domain/testing/viewing-event.fixtures';
import { EventPayloadSealer } from './event-log-envelope';
import { compressionFor, ViewingEventPublisher } from './viewing-event.publisher';

describe('the compression of a publish (compressionFor)', () => {
  it('sends binary sealed events uncompressed and anything with text in it gzipped', () => {
    const sealed = Buffer.from([0x00, 0x01, 0x7f]);
    expect(compressionFor([sealed, sealed])).toBe(CompressionTypes.None);
    expect(compressionFor([sealed, '{"type":"history-cleared"}'])).toBe(CompressionTypes.GZIP);
    expect(compressionFor(['{"type":"history-cleared"}'])).toBe(CompressionTypes.GZIP);
  });
});

describe('a publish whose sealing fails', () => {
  const config = loadConfig({});
  const event = playbackEvent('play', Date.parse('2026-11-27T04:00:00Z'), 0, { profileId: 'p1' });
  const failingWith = (error: Error) =>
    new ViewingEventPublisher(
      config,
      new (class extends EventPayloadSealer {
        async seal(): Promise<string[]> {
          throw error;
        }
      })(),
    );

  it('is the cluster failure the sealer names (503, retried), and nothing else is', async () => {
    const unavailable = new DependencyUnavailableError('cassandra', 'the profile keys could not be read', 5);
    await expect(failingWith(unavailable).publish([event])).rejects.toBe(unavailable);
    // Review: an event the binary form refuses was reported as Cassandra unavailable, and retried for ever.
    const bug = new RangeError('positionMs is not a position');
    await expect(failingWith(bug).publish([event])).rejects.toBe(bug);
  });
});
