import fc from 'fast-check';
import { types } from 'cassandra-driver';
import { uuidValue } from './uuid-value';

describe('uuidValue (a uuid column bound value)', () => {
  const hexText = (n: number) =>
    fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEF'), minLength: n, maxLength: n });
  const uuidText = fc.tuple(hexText(8), hexText(4), hexText(4), hexText(4), hexText(12)).map((p) => p.join('-'));

  it('is the bytes the driver makes of the same text, in either case', () => {
    fc.assert(
      fc.property(fc.oneof(uuidText, fc.uuid()), (text) => {
        const value = uuidValue(text);
        expect(value).toBeInstanceOf(types.Uuid);
        expect((value as types.Uuid).getBuffer().equals(types.Uuid.fromString(text).getBuffer())).toBe(true);
        expect(value.toString()).toBe(text.toLowerCase());
      }),
    );
  });

  it('leaves any other text as it is, for the driver to refuse as before', () => {
    const near = uuidText.chain((text) =>
      fc
        .tuple(fc.nat(35), fc.constantFrom('g', 'G', '-', ' ', 'é', '٣', 'x'))
        .map(([at, c]) => text.slice(0, at) + c + text.slice(at + 1)),
    );
    fc.assert(
      fc.property(fc.oneof(near, fc.string({ maxLength: 40 })), (text) => {
        fc.pre(!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(text));
        expect(uuidValue(text)).toBe(text);
      }),
    );
  });
});
