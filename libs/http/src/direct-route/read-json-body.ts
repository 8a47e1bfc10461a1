import type { IncomingMessage } from 'node:http';
import { BodyRejectedError } from '../body-rejected.error';

const WHITESPACE = new Set([0x20, 0x09, 0x0a, 0x0d]);

/**
 * A UTF-8 JSON body, read as Express's JSON parser (body-parser, strict) reads it, so that a route served before
 * the framework answers what the framework would: above `limitBytes` 413 (declared or received); no body is `undefined`, an empty one
 * `{}`; a leading BOM is dropped; anything but an object or array at the top, or bad JSON, is `entity.parse.failed`
 * (400). A body refused early is left unread: the answer closes the connection rather than read the rest.
 */
export function readJsonBody(request: IncomingMessage, limitBytes: number): Promise<unknown> {
  // No body at all (neither length nor chunks): nothing parsed, as the parser leaves it.
  if (request.headers['content-length'] === undefined && request.headers['transfer-encoding'] === undefined) {
    return Promise.resolve(undefined);
  }
  if (Number(request.headers['content-length']) > limitBytes) {
    return Promise.reject(new BodyRejectedError('entity.too.large'));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    const stop = () => {
      request.off('data', onData);
      request.off('end', onEnd);
      request.off('error', onAborted);
      request.off('close', onAborted);
    };
    const onData = (chunk: Buffer) => {
      length += chunk.length;
      if (length <= limitBytes) {
        chunks.push(chunk);
        return;
      }
      stop();
      request.pause();
      reject(new BodyRejectedError('entity.too.large'));
    };
    const onEnd = () => {
      stop();
      try {
        resolve(parseJson(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, length)));
      } catch (error) {
        reject(error);
      }
    };
    const onAborted = () => {
      stop();
      reject(new BodyRejectedError('request.aborted'));
    };
    request.on('data', onData);
    request.once('end', onEnd);
    request.once('error', onAborted);
    request.once('close', onAborted);
  });
}

function parseJson(raw: Buffer): unknown {
  if (raw.length === 0) return {};
  const text = raw.toString('utf8', raw[0] === 0xef && raw[1] === 0xbb && raw[2] === 0xbf ? 3 : 0);
  let at = 0;
  while (at < text.length && WHITESPACE.has(text.charCodeAt(at))) at++;
  if (text[at] !== '{' && text[at] !== '[') throw new BodyRejectedError('entity.parse.failed');
  try {
    return JSON.parse(text);
  } catch {
    throw new BodyRejectedError('entity.parse.failed');
  }
}
