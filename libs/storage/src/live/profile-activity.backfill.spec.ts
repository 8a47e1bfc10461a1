import { Client } from 'cassandra-driver';
import { encodeMemberControls } from '../compressed/member-controls.codec';
import { indexDailySweepProfiles, shardOf } from './profile-activity.index';

/** compressed_history's metadata rows as the driver pages them; the notes written, and how many at once at most. */
function cassandraWith(rows: { profileId: string; controls: string | null }[], failing?: string) {
  const noted: string[] = [];
  let inFlight = 0;
  let mostInFlight = 0;
  const client = {
    execute: async (query: string, params: unknown[]) => {
      if (query.startsWith('SELECT')) {
        return (async function* () {
          for (const { profileId, controls } of rows) {
            yield { get: (column: string) => (column === 'profile_id' ? profileId : controls) };
          }
        })();
      }
      const [reasons, shard, profileId] = params as [string[], number, string];
      expect(shard).toBe(shardOf(profileId));
      inFlight++;
      mostInFlight = Math.max(mostInFlight, inFlight);
      await new Promise((resolve) => setTimeout(resolve, 1));
      inFlight--;
      if (profileId === failing) throw new Error('no host available');
      noted.push(`${profileId}:${reasons.join(',')}`);
    },
  } as unknown as Client;
  return { client, noted, mostInFlight: () => mostInFlight };
}

const paused = encodeMemberControls({
  settingsChanges: [{ eventId: 'e1', acceptedAt: 1, recording: 'paused' }],
  titlesRemoved: new Map(),
});

// Review, session 8: migration 10's backfill walked every compressed history writing one note at a time.
describe('indexDailySweepProfiles (migrations 9 and 10)', () => {
  it('notes every profile its compressed controls give a reason, several writes at once and never too many', async () => {
    const rows = Array.from({ length: 2_500 }, (_, i) => ({ profileId: `p${i}`, controls: i % 2 ? paused : null }));
    const cassandra = cassandraWith(rows);
    expect(await indexDailySweepProfiles(cassandra.client, 'ks')).toBe(1_250);
    expect(cassandra.noted.sort()).toEqual(
      rows
        .filter((r) => r.controls !== null)
        .map((r) => `${r.profileId}:paused`)
        .sort(),
    );
    expect(cassandra.mostInFlight()).toBeGreaterThan(1);
    expect(cassandra.mostInFlight()).toBeLessThanOrEqual(32);
  });

  it('fails when a note cannot be written (the migration is not recorded, and runs again)', async () => {
    const cassandra = cassandraWith([{ profileId: 'p1', controls: paused }], 'p1');
    await expect(indexDailySweepProfiles(cassandra.client, 'ks')).rejects.toThrow('no host available');
  });
});
