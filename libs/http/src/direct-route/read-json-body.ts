import type { IncomingMessage } from 'node:http';
import { BodyRejectedError } from '../body-rejected.error';

const WHITESPACE = new Set([0x20, 0x09, 0x0a, 0x0d]);

/**
 * A UTF-8 JSON body, read as Express's JSON parser (body-parser 2, strict) reads it, so that a route served before
 * the framework answers what the framework would: no body (neither length nor chunks) is `undefined`, an empty one
 * `{}`; a leading BOM is dropped; anything but an object or array at the top, or bad JSON, is `entity.parse.failed`
 * (400). Above `limitBytes`, declared or received, `entity.too.large` (413) once the rest of the body has been read
 * and dropped, as the parser does: closing with an upload still coming would reset the connection, and the caller
 * would see a network error instead of the 413.
 */
export function readJsonBody(request: IncomingMessage, limitBytes: number): Promise<unknown> {
  if (request.headers['content-length'] === undefined && request.headers['transfer-encoding'] === undefined) {
    return Promise.resolve(undefined);
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    let refusal: BodyRejectedError | undefined;
    const refuse = () => {
      refusal = new BodyRejectedError('entity.too.large');
      chunks.length = 0;
      request.off('data', onData);
      request.resume(); // read on, dropping what comes
    };
    const onData = (chunk: Buffer) => {
      length += chunk.length;
      if (length > limitBytes) refuse();
      else chunks.push(chunk);
    };
    const onEnd = () => {
      request.off('close', onAborted);
      if (refusal) return reject(refusal);
      try {
        resolve(parseJson(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, length)));
      } catch (error) {
        reject(error);
      }
    };
    const onAborted = () => {
      request.off('end', onEnd);
      reject(new BodyRejectedError('request.aborted'));
    };
    request.once('end', onEnd);
    request.once('close', onAborted);
    if (Number(request.headers['content-length']) > limitBytes) refuse();
    else request.on('data', onData);
  });
}

function parseJson(raw: Buffer): unknown {
  // The BOM first, as the parser's decoder drops it: a body of a BOM alone is empty.
  const text = raw.toString('utf8', raw[0] === 0xef && raw[1] === 0xbb && raw[2] === 0xbf ? 3 : 0);
  if (text.length === 0) return {};
  let at = 0;
  while (at < text.length && WHITESPACE.has(text.charCodeAt(at))) at++;
  if (text[at] !== '{' && text[at] !== '[') throw new BodyRejectedError('entity.parse.failed');
  try {
    return JSON.parse(text);
  } catch {
    throw new BodyRejectedError('entity.parse.failed');
  }
}
