import { ZstdCodec } from 'zstd-codec';
import { ViewingHistoryError } from '@vh/domain';
import { ZSTD_DICTIONARIES } from './zstd-dictionaries';

/**
 * zstd through zstd-codec (WebAssembly): Node 20's zlib has no zstd. Initialised once per process.
 * `dictionaryId` 0 means none; any other id must be one of ZSTD_DICTIONARIES, which are never changed
 * or removed once shipped (stored chunks name the id they were compressed with).
 */
export interface Zstd {
  compress(bytes: Buffer, level: number, dictionaryId?: number): Buffer;
  decompress(bytes: Buffer, dictionaryId?: number): Buffer;
}

export const ZSTD_CODEC = 'zstd';
export const NO_DICTIONARY = 0;

export class UnknownZstdDictionaryError extends ViewingHistoryError {
  readonly code = 'unknown_zstd_dictionary';
  constructor(readonly dictionaryId: number) {
    super(`unknown zstd dictionary ${dictionaryId}`);
  }
}

interface Native {
  Simple: new () => {
    compress(b: Uint8Array, l: number): Uint8Array | null;
    decompress(b: Uint8Array): Uint8Array | null;
    compressUsingDict(b: Uint8Array, d: unknown): Uint8Array | null;
    decompressUsingDict(b: Uint8Array, d: unknown): Uint8Array | null;
  };
  Dict: {
    Compression: new (dict: Uint8Array, level: number) => unknown;
    Decompression: new (dict: Uint8Array) => unknown;
  };
}

let instance: Promise<Zstd> | null = null;

export function loadZstd(): Promise<Zstd> {
  instance ??= new Promise<Zstd>((resolve) => {
    ZstdCodec.run((zstd: Native) => {
      const simple = new zstd.Simple();
      // Digested dictionaries are costly to build and reused for every chunk: one per id (and level).
      const compressionDictionaries = new Map<string, unknown>();
      const decompressionDictionaries = new Map<number, unknown>();
      const dictionaryBytes = (id: number) => {
        const encoded = ZSTD_DICTIONARIES[id];
        if (encoded === undefined) throw new UnknownZstdDictionaryError(id);
        return Buffer.from(encoded, 'base64');
      };
      resolve({
        compress(bytes, level, dictionaryId = NO_DICTIONARY) {
          let out: Uint8Array | null;
          if (dictionaryId === NO_DICTIONARY) out = simple.compress(bytes, level);
          else {
            const key = `${dictionaryId}:${level}`;
            let dictionary = compressionDictionaries.get(key);
            if (!dictionary)
              compressionDictionaries.set(
                key,
                (dictionary = new zstd.Dict.Compression(dictionaryBytes(dictionaryId), level)),
              );
            out = simple.compressUsingDict(bytes, dictionary);
          }
          if (!out) throw new Error(`zstd could not compress ${bytes.length} bytes at level ${level}`);
          return Buffer.from(out);
        },
        decompress(bytes, dictionaryId = NO_DICTIONARY) {
          let out: Uint8Array | null;
          if (dictionaryId === NO_DICTIONARY) out = simple.decompress(bytes);
          else {
            let dictionary = decompressionDictionaries.get(dictionaryId);
            if (!dictionary)
              decompressionDictionaries.set(
                dictionaryId,
                (dictionary = new zstd.Dict.Decompression(dictionaryBytes(dictionaryId))),
              );
            out = simple.decompressUsingDict(bytes, dictionary);
          }
          if (!out) throw new Error('zstd could not decompress the data');
          return Buffer.from(out);
        },
      });
    });
  });
  return instance;
}
