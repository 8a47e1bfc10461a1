import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ZstdCodec } from 'zstd-codec';
import { compactHistory, EMPTY_COMPRESSED_HISTORY, ViewingEvent } from '@vh/domain';
import { encodeChunk } from '@vh/storage';
import { syntheticHistory } from '../test/support/event-log';
import { BenchContext, round } from './bench-context';

interface DictionaryCodec {
  compress(bytes: Uint8Array, level: number): Uint8Array;
  compressWith(bytes: Uint8Array, dictionary: Uint8Array, level: number): Uint8Array;
}

/**
 * Would a zstd dictionary help small per-profile blobs? Trains one (zstd --train) on the encoded
 * histories of half the profiles and compresses the other half with and without it, per size class.
 * Needs the zstd command line (Debian's `zstd`); without it the result says so.
 */
export async function zstdDictionary(ctx: BenchContext, params = { profiles: 400, sessions: [5, 20, 100] }) {
  const zstdCli = spawnSync('zstd', ['--version'], { encoding: 'utf8' });
  if (zstdCli.status !== 0)
    return {
      name: 'zstd-dictionary',
      available: false,
      reason: 'the zstd command line is not installed (apt-get install zstd)',
    };
  const codec = await loadDictionaryCodec();
  const level = ctx.config.compaction.zstdLevel;
  const results = [];
  for (const sessions of params.sessions) {
    const blobs = encodedHistories(params.profiles, sessions);
    const train = blobs.slice(0, blobs.length / 2);
    const test = blobs.slice(blobs.length / 2);
    const dir = mkdtempSync(join(tmpdir(), 'vh-dict-'));
    try {
      train.forEach((blob, i) => writeFileSync(join(dir, `sample-${i}`), blob));
      const dictionaryPath = join(dir, 'dictionary');
      const trained = spawnSync(
        'zstd',
        ['--train', '-q', '--maxdict=16384', '-o', dictionaryPath, ...train.map((_, i) => join(dir, `sample-${i}`))],
        { encoding: 'utf8' },
      );
      if (trained.status !== 0) throw new Error(`zstd --train failed: ${trained.stderr}`);
      const dictionary = readFileSync(dictionaryPath);
      const sum = (sizes: number[]) => sizes.reduce((a, b) => a + b, 0);
      const encoded = sum(test.map((b) => b.length));
      const plain = sum(test.map((b) => codec.compress(b, level).length));
      const withDictionary = sum(test.map((b) => codec.compressWith(b, dictionary, level).length));
      results.push({
        sessionsPerProfile: sessions,
        avgEncodedBytes: round(encoded / test.length),
        avgZstdBytes: round(plain / test.length),
        avgZstdWithDictionaryBytes: round(withDictionary / test.length),
        dictionaryBytes: dictionary.length,
        gain: round(plain / withDictionary),
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return {
    name: 'zstd-dictionary',
    available: true,
    parameters: { ...params, level, trainedOn: 'half the profiles, measured on the other half' },
    results,
  };
}

/** Each profile's whole history as the compactor encodes it into one chunk (before zstd). */
export function encodedHistories(profiles: number, sessions: number): Buffer[] {
  const events = syntheticHistory(profiles, sessions, Date.now() - 60 * 86_400_000) as ViewingEvent[];
  const byProfile = new Map<string, ViewingEvent[]>();
  for (const e of events) byProfile.set(e.profileId, [...(byProfile.get(e.profileId) ?? []), e]);
  return [...byProfile.values()].map((list) => {
    const history = compactHistory(EMPTY_COMPRESSED_HISTORY, list, Number.MAX_SAFE_INTEGER);
    return encodeChunk({ records: history.records, removedRecordIds: history.removedRecordIds });
  });
}

function loadDictionaryCodec(): Promise<DictionaryCodec> {
  return new Promise((resolve) =>
    ZstdCodec.run((zstd: any) => {
      const simple = new zstd.Simple();
      resolve({
        compress: (bytes, level) => simple.compress(bytes, level),
        compressWith: (bytes, dictionary, level) => {
          const cdict = new zstd.Dict.Compression(dictionary, level);
          try {
            return simple.compressUsingDict(bytes, cdict);
          } finally {
            cdict.close();
          }
        },
      });
    }),
  );
}
