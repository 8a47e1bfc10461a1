import fc from 'fast-check';
import { newDataKey, seal, sealAfter, unseal } from './payload-cipher';

describe('sealing a value (payload-cipher)', () => {
  const key = newDataKey();
  const plaintext = fc.oneof(
    fc.uint8Array({ maxLength: 600 }).map(Buffer.from),
    fc.string({ unit: 'grapheme', maxLength: 200 }),
  );
  const bytesOf = (p: Buffer | string) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : p);

  it('opens to what was sealed, with the context it was sealed with and no other', () => {
    fc.assert(
      fc.property(plaintext, fc.string({ minLength: 1 }), (p, context) => {
        const sealed = seal(key, p, context);
        expect(sealed.length).toBe(28 + bytesOf(p).length);
        expect(unseal(key, sealed, context)).toEqual(bytesOf(p));
        expect(() => unseal(key, sealed, `${context}x`)).toThrow();
      }),
    );
  });

  it('after a head: the head as it is, then a value that opens with the head as its context', () => {
    fc.assert(
      fc.property(plaintext, fc.uint8Array({ minLength: 1, maxLength: 80 }).map(Buffer.from), (p, head) => {
        const sealed = sealAfter(head, key, p);
        expect(sealed.subarray(0, head.length)).toEqual(head);
        expect(unseal(key, sealed.subarray(head.length), head)).toEqual(bytesOf(p));
        expect(() => unseal(newDataKey(), sealed.subarray(head.length), head)).toThrow();
      }),
    );
  });

  it('draws a new IV for every value', () => {
    const ivs = new Set(Array.from({ length: 3_000 }, () => seal(key, 'same', 'c').subarray(0, 12).toString('hex')));
    expect(ivs.size).toBe(3_000);
  });
});
