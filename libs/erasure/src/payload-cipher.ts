import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/**
 * AES-256-GCM, from Node's own crypto: authenticated, so a payload sealed for one profile and key cannot be
 * opened (or silently altered) under another. Layout of a sealed value: 12-byte IV | 16-byte tag | ciphertext.
 */
const ALGORITHM = 'aes-256-gcm';
const IV_BYTES = 12;
const TAG_BYTES = 16;
export const DATA_KEY_BYTES = 32;

export function newDataKey(): Buffer {
  return randomBytes(DATA_KEY_BYTES);
}

// Random IVs drawn from a pool: one randomBytes call per 1,024 seals rather than one each (a syscall-sized
// cost per event on the collector's hot path). Still 96 random bits per IV, as GCM with random IVs needs.
const IV_POOL = IV_BYTES * 1_024;
let ivPool = Buffer.alloc(0);
let ivAt = IV_POOL;

function nextIv(): Buffer {
  if (ivAt >= ivPool.length) {
    ivPool = randomBytes(IV_POOL);
    ivAt = 0;
  }
  return ivPool.subarray(ivAt, (ivAt += IV_BYTES));
}

/** `context` is authenticated, not encrypted: it binds the value to what it belongs to (profile, key id). */
export function seal(key: Buffer, plaintext: Buffer | string, context: string | Buffer): Buffer {
  return sealInto(
    Buffer.alloc(0),
    key,
    plaintext,
    typeof context === 'string' ? Buffer.from(context, 'utf8') : context,
  );
}

/**
 * `head` then the sealed value, in one buffer, `head` its authenticated data (a sealed message's header): one
 * allocation a value instead of three concatenations (the collector seals every event).
 */
export function sealAfter(head: Buffer, key: Buffer, plaintext: Buffer | string): Buffer {
  return sealInto(head, key, plaintext, head);
}

function sealInto(head: Buffer, key: Buffer, plaintext: Buffer | string, context: Buffer): Buffer {
  const iv = nextIv();
  const cipher = createCipheriv(ALGORITHM, key, iv);
  cipher.setAAD(context);
  const body = cipher.update(plaintext);
  // GCM is a stream mode: final() gives no more bytes, the ciphertext is as long as the plaintext.
  const rest = cipher.final();
  const sealed = Buffer.allocUnsafe(head.length + IV_BYTES + TAG_BYTES + body.length + rest.length);
  let at = head.copy(sealed, 0);
  at += iv.copy(sealed, at);
  at += cipher.getAuthTag().copy(sealed, at);
  at += body.copy(sealed, at);
  rest.copy(sealed, at);
  return sealed;
}

/** Throws when the value was not sealed with this key and context (tampered, or another key). */
export function unseal(key: Buffer, sealed: Buffer, context: string | Buffer): Buffer {
  if (sealed.length < IV_BYTES + TAG_BYTES) throw new Error('sealed value too short');
  const decipher = createDecipheriv(ALGORITHM, key, sealed.subarray(0, IV_BYTES));
  decipher.setAAD(typeof context === 'string' ? Buffer.from(context, 'utf8') : context);
  decipher.setAuthTag(sealed.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
  return Buffer.concat([decipher.update(sealed.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]);
}
