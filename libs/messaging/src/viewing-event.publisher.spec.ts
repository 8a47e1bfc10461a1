import { CompressionTypes } from 'kafkajs';
import { compressionFor } from './viewing-event.publisher';

describe('the compression of a publish (compressionFor)', () => {
  it('sends binary sealed events uncompressed and anything with text in it gzipped', () => {
    const sealed = Buffer.from([0x00, 0x01, 0x7f]);
    expect(compressionFor([sealed, sealed])).toBe(CompressionTypes.None);
    expect(compressionFor([sealed, '{"type":"history-cleared"}'])).toBe(CompressionTypes.GZIP);
    expect(compressionFor(['{"type":"history-cleared"}'])).toBe(CompressionTypes.GZIP);
  });
});
