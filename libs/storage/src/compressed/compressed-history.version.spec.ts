import { emptyVersion } from './compressed-history.version';
import { PREVIOUS_RECORD_ENCODING } from './history-chunk.codec';

describe('emptyVersion', () => {
  it('is tagged with the previous record encoding, which every build reads (it has no chunks to encode)', () => {
    // An erasure during a rolling upgrade (COMPACTION_RECORD_ENCODING=vh-columnar-v2) must not write a tag
    // that builds before v3 report as corrupt.
    const version = emptyVersion('profile-1', 3, 'set-1');
    expect(version.chunkCount).toBe(0);
    expect(version.trailChunkCount).toBe(0);
    expect(version.recordEncoding).toBe(PREVIOUS_RECORD_ENCODING);
    expect(['vh-columnar-v1', 'vh-columnar-v2']).toContain(version.recordEncoding);
  });
});
