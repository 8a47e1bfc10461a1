import { KafkaMessage } from 'kafkajs';
import { HEADERS } from '@vh/messaging';
import { toView } from './dead-letters';

function message(value: Buffer | null, headers: Record<string, string>): KafkaMessage {
  return {
    key: Buffer.from('p1'),
    value,
    timestamp: String(Date.parse('2026-11-26T10:00:00Z')),
    attributes: 0,
    offset: '42',
    headers: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, Buffer.from(v)])),
  };
}

describe('toView', () => {
  const letterHeaders = {
    [HEADERS.deadLetterReason]: 'invalid event: type: bad',
    [HEADERS.sourceTopic]: 'events',
    [HEADERS.sourcePartition]: '3',
    [HEADERS.sourceOffset]: '1007',
    [HEADERS.sourceTimestamp]: String(Date.parse('2026-11-26T09:00:00Z')),
    [HEADERS.requestId]: 'req-1',
  };

  it('separates the letter’s bookkeeping from the original headers', () => {
    const view = toView(0, message(Buffer.from('{"a":1}'), letterHeaders));
    expect(view).toEqual({
      id: '0-42',
      deadLetteredAt: '2026-11-26T10:00:00.000Z',
      reason: 'invalid event: type: bad',
      source: { topic: 'events', partition: 3, offset: '1007', timestamp: '2026-11-26T09:00:00.000Z' },
      key: 'p1',
      payload: '{"a":1}',
      payloadEncoding: 'utf8',
      headers: { [HEADERS.requestId]: 'req-1' },
      redrivenFrom: null,
    });
  });

  it('gives bytes that are not UTF-8 as base64, and says when the original was itself a re-drive', () => {
    const bytes = Buffer.from([0xff, 0xfe, 0x00, 0x41]);
    const view = toView(1, message(bytes, { ...letterHeaders, [HEADERS.redrivenFrom]: 'dlt/0/7' }));
    expect(view.payloadEncoding).toBe('base64');
    expect(Buffer.from(view.payload!, 'base64')).toEqual(bytes);
    expect(view.redrivenFrom).toBe('dlt/0/7');
  });

  it('an old letter without a source timestamp, or an empty message, still shows', () => {
    const { [HEADERS.sourceTimestamp]: _dropped, ...older } = letterHeaders;
    const view = toView(0, message(null, older));
    expect(view.source.timestamp).toBeNull();
    expect(view.payload).toBeNull();
  });
});
