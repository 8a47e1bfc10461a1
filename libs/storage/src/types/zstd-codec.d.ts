declare module 'zstd-codec' {
  // The module is untyped; zstd.ts declares the part of its API it uses (Native) at the call site.
  export const ZstdCodec: { run(callback: (zstd: never) => void): void };
}
