import { IncomingMessage } from 'node:http';
import { PassThrough } from 'node:stream';
import { readJsonBody } from './read-json-body';

/** A request body the test writes, with the headers given. */
const upload = (headers: Record<string, string>) =>
  Object.assign(new PassThrough(), { headers }) as PassThrough & IncomingMessage;

const refusal = (promise: Promise<unknown>) =>
  promise.then(
    () => 'read',
    (error: { type?: string }) => error.type,
  );

describe('readJsonBody', () => {
  it('settles an upload its caller cut short (no answer waits for ever, nothing of it is held)', async () => {
    const request = upload({ 'content-length': '10' });
    const read = readJsonBody(request, 1024);
    request.write('{"a"');
    request.destroy();
    expect(await refusal(read)).toBe('request.aborted');
  });

  it('drops an upload over the limit and refuses it at its end, or when it is cut short', async () => {
    const ended = upload({ 'transfer-encoding': 'chunked' });
    const refused = readJsonBody(ended, 8);
    ended.write('{"pad":"xxxxxxxx');
    ended.end('"}');
    expect(await refusal(refused)).toBe('entity.too.large');
    const declared = upload({ 'content-length': '100' });
    const cut = readJsonBody(declared, 8);
    declared.write('x'.repeat(50));
    declared.destroy();
    expect(await refusal(cut)).toBe('request.aborted');
  });

  it('reads a body of a BOM alone as empty ({}), as the parser decodes it', async () => {
    const request = upload({ 'content-length': '3' });
    const read = readJsonBody(request, 1024);
    request.end(Buffer.from([0xef, 0xbb, 0xbf]));
    expect(await read).toEqual({});
  });
});
