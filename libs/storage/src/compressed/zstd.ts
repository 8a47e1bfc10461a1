import { ZstdCodec } from 'zstd-codec';

/** zstd through zstd-codec (WebAssembly): Node 20's zlib has no zstd. Initialised once per process. */
export interface Zstd {
  compress(bytes: Buffer, level: number): Buffer;
  decompress(bytes: Buffer): Buffer;
}

export const ZSTD_CODEC = 'zstd';

let instance: Promise<Zstd> | null = null;

export function loadZstd(): Promise<Zstd> {
  instance ??= new Promise<Zstd>((resolve) => {
    ZstdCodec.run((zstd: { Simple: new () => { compress(b: Uint8Array, l: number): Uint8Array | null; decompress(b: Uint8Array): Uint8Array | null } }) => {
      const simple = new zstd.Simple();
      resolve({
        compress(bytes, level) {
          const out = simple.compress(bytes, level);
          if (!out) throw new Error(`zstd could not compress ${bytes.length} bytes at level ${level}`);
          return Buffer.from(out);
        },
        decompress(bytes) {
          const out = simple.decompress(bytes);
          if (!out) throw new Error('zstd could not decompress the data');
          return Buffer.from(out);
        },
      });
    });
  });
  return instance;
}
