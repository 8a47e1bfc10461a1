import { isIdentifier, isLowerCaseUuid, readUuid, VIEWING_EVENT_SCHEMA_VERSION, writeUuid } from '@vh/domain';
import { sealAfter } from './payload-cipher';

/**
 * Messages of the event log that this room writes (docs/adr/0009, byte layouts in docs/event-log.md):
 * - a sealed event, binary: `00 01`, the profile id and the key id, then the event sealed with the profile's
 *   data key (AES-256-GCM, the header its authenticated data). Only the profile id (the partition key anyway)
 *   and the key id are readable without the key. Inside: the event's binary form (a playback event,
 *   @vh/domain's encodePlaybackEventBinary) or its JSON (encodeViewingEvent, e.g. `title-removed`).
 * - a sealed event as JSON, what collectors wrote before the binary form and what the log still holds:
 *   `{"schemaVersion":1,"sealed":"aes-256-gcm","profileId","keyId","payload"}`, the payload the whole plain
 *   message sealed with the key (context: sealContext). Read, no longer written.
 * - the mark of an erasure: `{"schemaVersion":1,"type":"profile-erased","profileId","erasureId","acceptedAt"}`,
 *   and `"covers"` (the earlier erasures of the profile it bounds too) when there are any. Readers that predate
 *   `covers` ignore it.
 */
export const SEALED_ALGORITHM = 'aes-256-gcm';
export const PROFILE_ERASED = 'profile-erased';

export interface SealedEnvelope {
  profileId: string;
  keyId: string;
  /** IV | tag | ciphertext (payload-cipher). */
  payload: Buffer;
  /** The authenticated data to open it with: the binary header, or sealContext for the JSON form. */
  context: Buffer | string;
}

/** No JSON text starts with a NUL byte: the first byte tells a binary message from every JSON one. */
const BINARY_MESSAGE = 0x00;
const SEALED_EVENT_BINARY = 0x01;
/** Key id byte: the high bit says a UUID follows in 16 bytes (every key id this service makes is one). */
const PACKED_UUID = 0x80 | 16;
/** IV and tag (payload-cipher): a sealed payload is at least this long. */
const MIN_PAYLOAD_BYTES = 28;
const MAX_ID_BYTES = 127;
const PRINTABLE_ASCII_ID = /^[\x21-\x7e]{1,127}$/;

export interface ProfileErasedMark {
  profileId: string;
  erasureId: string;
  acceptedAt: number;
  /**
   * The earlier erasures of the profile this mark bounds too: those its erasure took over, and those without a
   * mark (docs/adr/0009). Ingest records the mark for each of them, so no record of the erasure that published
   * it is needed (it may die before writing one).
   */
  covers?: string[];
}

/** The authenticated context of a payload: moving it to another profile or key makes it unopenable. */
export function sealContext(profileId: string, keyId: string): string {
  return `${profileId}\n${keyId}`;
}

/**
 * A sealed event in the binary form: header (format, profile id, key id) in clear and authenticated, the
 * plaintext sealed. A sealed message does not compress: the plaintext is made small before (the event's
 * binary form), and the publisher sends a batch of these uncompressed.
 */
export function encodeSealedMessage(
  header: { profileId: string; keyId: string },
  key: Buffer,
  plaintext: Buffer | string,
): Buffer {
  // What sealedOrMalformed dead-letters is never written: the collector validated it, this holds any other writer.
  if (!isIdentifier(header.profileId)) throw new RangeError('profileId must be an identifier');
  const profileId = asciiId('profileId', header.profileId);
  const packed = isLowerCaseUuid(header.keyId);
  const keyId = packed ? Buffer.allocUnsafe(16) : asciiId('keyId', header.keyId);
  if (packed) writeUuid(keyId, 0, header.keyId);
  const head = Buffer.allocUnsafe(4 + profileId.length + keyId.length);
  head[0] = BINARY_MESSAGE;
  head[1] = SEALED_EVENT_BINARY;
  head[2] = profileId.length;
  profileId.copy(head, 3);
  head[3 + profileId.length] = packed ? PACKED_UUID : keyId.length;
  keyId.copy(head, 4 + profileId.length);
  return sealAfter(head, key, plaintext);
}

function asciiId(field: string, id: string): Buffer {
  if (!PRINTABLE_ASCII_ID.test(id))
    throw new RangeError(`${field} must be 1 to ${MAX_ID_BYTES} printable ASCII characters`);
  return Buffer.from(id, 'latin1');
}

function classifyBinary(raw: Buffer): ClassifiedMessage {
  if (raw.length < 2 || raw[1] !== SEALED_EVENT_BINARY) {
    return { kind: 'malformed', reason: `sealed: unknown binary format ${raw.length < 2 ? 'none' : raw[1]}` };
  }
  const cut: ClassifiedMessage = { kind: 'malformed', reason: 'sealed: header cut short' };
  if (raw.length < 3) return cut;
  const profileEnd = 3 + raw[2];
  if (raw[2] === 0 || raw.length < profileEnd + 1) return cut;
  const keyByte = raw[profileEnd];
  const keyLength = keyByte === PACKED_UUID ? 16 : keyByte;
  if (keyLength === 0 || keyLength > MAX_ID_BYTES) return { kind: 'malformed', reason: 'sealed: bad key id length' };
  const headerEnd = profileEnd + 1 + keyLength;
  if (raw.length < headerEnd) return cut;
  const keyId =
    keyByte === PACKED_UUID ? readUuid(raw, profileEnd + 1) : raw.toString('latin1', profileEnd + 1, headerEnd);
  return sealedOrMalformed({
    profileId: raw.toString('latin1', 3, profileEnd),
    keyId,
    payload: raw.subarray(headerEnd),
    context: raw.subarray(0, headerEnd),
  });
}

/**
 * A header no sealed event can have (a profile id that is not an identifier, no room for IV and tag) is bad
 * input to dead-letter, not a key to wait for (invariant 5): its key lookup would find nothing, for good.
 */
function sealedOrMalformed(envelope: SealedEnvelope): ClassifiedMessage {
  if (!isIdentifier(envelope.profileId)) return { kind: 'malformed', reason: 'sealed: profileId is not an identifier' };
  if (envelope.payload.length < MIN_PAYLOAD_BYTES) return { kind: 'malformed', reason: 'sealed: payload too short' };
  return { kind: 'sealed', envelope };
}

/** The JSON form of a sealed event: what the log holds from before the binary form; SEALED_EVENT_FORMAT=json. */
export function encodeSealedEnvelope(envelope: Omit<SealedEnvelope, 'context'>): string {
  if (!isIdentifier(envelope.profileId)) throw new RangeError('profileId must be an identifier');
  return JSON.stringify({
    schemaVersion: VIEWING_EVENT_SCHEMA_VERSION,
    sealed: SEALED_ALGORITHM,
    profileId: envelope.profileId,
    keyId: envelope.keyId,
    payload: envelope.payload.toString('base64'),
  });
}

export function encodeProfileErasedMark(mark: ProfileErasedMark): string {
  return JSON.stringify({
    schemaVersion: VIEWING_EVENT_SCHEMA_VERSION,
    type: PROFILE_ERASED,
    profileId: mark.profileId,
    erasureId: mark.erasureId,
    acceptedAt: new Date(mark.acceptedAt).toISOString(),
    ...(mark.covers && mark.covers.length > 0 ? { covers: mark.covers } : {}),
  });
}

/** What the text of a sealed event's JSON form or of an erasure's mark holds. */
const SEALED_FIELD = Buffer.from('"sealed"');
const MARK_TYPE = Buffer.from(`"${PROFILE_ERASED}"`);

export type ClassifiedMessage =
  | { kind: 'sealed'; envelope: SealedEnvelope }
  | { kind: 'profile-erased'; mark: ProfileErasedMark }
  | { kind: 'malformed'; reason: string }
  /** `parsed`: the message's JSON, when it is JSON. */
  | { kind: 'plain'; parsed?: unknown };

const PLAIN: ClassifiedMessage = Object.freeze({ kind: 'plain' });

/**
 * Sealed (binary or JSON), an erasure's mark, or a plain event (decoded by the domain's schema). A JSON message
 * is parsed once: a plain event carries what was parsed (`parsed`) to its decoding, which otherwise turned the
 * message into text and parsed it again (3% of ingest's CPU a replayed event, session 15's profile). As before,
 * only a message whose text names the field `"sealed"` or the mark's type `"profile-erased"` is read as either.
 */
export function classifyMessage(raw: Buffer | null): ClassifiedMessage {
  if (raw === null) return PLAIN;
  if (raw.length > 0 && raw[0] === BINARY_MESSAGE) return classifyBinary(raw);
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(raw.toString('utf8')) as Record<string, unknown>;
  } catch {
    return PLAIN;
  }
  if (json === null || typeof json !== 'object') return { kind: 'plain', parsed: json };
  const sealed = json.sealed !== undefined;
  if (!sealed && json.type !== PROFILE_ERASED) return { kind: 'plain', parsed: json };
  // Spelled out in the text (not with escapes), as this read required before the parse came first.
  if (raw.indexOf(SEALED_FIELD) === -1 && raw.indexOf(MARK_TYPE) === -1) return { kind: 'plain', parsed: json };
  if (json.sealed !== undefined) {
    if (json.sealed !== SEALED_ALGORITHM) return { kind: 'malformed', reason: `sealed: unknown algorithm` };
    const { profileId, keyId, payload } = json;
    if (typeof profileId !== 'string' || typeof keyId !== 'string' || typeof payload !== 'string') {
      return { kind: 'malformed', reason: 'sealed: profileId, keyId and payload must be strings' };
    }
    return sealedOrMalformed({
      profileId,
      keyId,
      payload: Buffer.from(payload, 'base64'),
      context: sealContext(profileId, keyId),
    });
  }
  if (json.type === PROFILE_ERASED) {
    const { profileId, erasureId, acceptedAt, covers } = json;
    const at = typeof acceptedAt === 'string' ? Date.parse(acceptedAt) : NaN;
    if (typeof profileId !== 'string' || typeof erasureId !== 'string' || !Number.isFinite(at)) {
      return { kind: 'malformed', reason: 'profile-erased: profileId, erasureId and acceptedAt are required' };
    }
    // `covers` only spares finishers a second erasure: one unreadable is ignored (its erasures are finished again,
    // as before covers existed), never a reason to dead-letter the mark itself (invariant 5).
    const bounded = Array.isArray(covers) ? covers.filter((id): id is string => typeof id === 'string') : [];
    return { kind: 'profile-erased', mark: { profileId, erasureId, acceptedAt: at, covers: bounded } };
  }
  return { kind: 'plain', parsed: json };
}
