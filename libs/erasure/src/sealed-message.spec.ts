import { classifyMessage, PROFILE_ERASED } from './sealed-message';

describe('reading an erasure mark (classifyMessage)', () => {
  const mark = (covers: unknown) =>
    classifyMessage(
      Buffer.from(
        JSON.stringify({
          schemaVersion: 1,
          type: PROFILE_ERASED,
          profileId: 'p1',
          erasureId: 'e2',
          acceptedAt: new Date(5).toISOString(),
          ...(covers === undefined ? {} : { covers }),
        }),
      ),
    );

  it('reads the erasures a mark covers', () => {
    expect(mark(['e1'])).toEqual({
      kind: 'profile-erased',
      mark: { profileId: 'p1', erasureId: 'e2', acceptedAt: 5, covers: ['e1'] },
    });
    expect(mark(undefined)).toMatchObject({ kind: 'profile-erased', mark: { covers: [] } });
  });

  // Review of the merge: a bad `covers` dead-lettered the whole mark, so ingest never erased after it. `covers`
  // only spares a finisher a second erasure: an unreadable one is ignored, the mark still counts (invariant 5).
  it('ignores a malformed covers and keeps the mark: non-string entries dropped, a non-list read as none', () => {
    expect(mark(['e1', 7, null, 'e0'])).toMatchObject({ kind: 'profile-erased', mark: { covers: ['e1', 'e0'] } });
    expect(mark('e1')).toMatchObject({ kind: 'profile-erased', mark: { erasureId: 'e2', covers: [] } });
    expect(mark({ e1: true })).toMatchObject({ kind: 'profile-erased', mark: { covers: [] } });
  });
});
