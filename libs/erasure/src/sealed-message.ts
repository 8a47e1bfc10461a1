import { VIEWING_EVENT_SCHEMA_VERSION } from '@vh/domain';

/**
 * Messages of the event log that this room writes (docs/adr/0009):
 * - a sealed event: `{"schemaVersion":1,"sealed":"aes-256-gcm","profileId","keyId","payload"}`, the payload
 *   being the whole plain message (encodeViewingEvent) sealed with the profile's data key. Only the profile
 *   id (the partition key anyway) and the key id are readable without the key.
 * - the mark of an erasure: `{"schemaVersion":1,"type":"profile-erased","profileId","erasureId","acceptedAt"}`,
 *   and `"covers"` (the earlier erasures of the profile it bounds too) when there are any. Readers that predate
 *   `covers` ignore it.
 */
export const SEALED_ALGORITHM = 'aes-256-gcm';
export const PROFILE_ERASED = 'profile-erased';

export interface SealedEnvelope {
  profileId: string;
  keyId: string;
  payload: Buffer;
}

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

export function encodeSealedEnvelope(envelope: SealedEnvelope): string {
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

export type ClassifiedMessage =
  | { kind: 'sealed'; envelope: SealedEnvelope }
  | { kind: 'profile-erased'; mark: ProfileErasedMark }
  | { kind: 'malformed'; reason: string }
  | { kind: 'plain' };

/**
 * Sealed, an erasure's mark, or a plain event (decoded by the domain's schema). Cheap for plain messages:
 * only those that mention "sealed" or the mark's type are parsed here.
 */
export function classifyMessage(raw: Buffer | null): ClassifiedMessage {
  if (raw === null) return { kind: 'plain' };
  const text = raw.toString('utf8');
  const sealed = text.includes('"sealed"');
  if (!sealed && !text.includes(`"${PROFILE_ERASED}"`)) return { kind: 'plain' };
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return { kind: 'plain' };
  }
  if (json === null || typeof json !== 'object') return { kind: 'plain' };
  if (json.sealed !== undefined) {
    if (json.sealed !== SEALED_ALGORITHM) return { kind: 'malformed', reason: `sealed: unknown algorithm` };
    const { profileId, keyId, payload } = json;
    if (typeof profileId !== 'string' || typeof keyId !== 'string' || typeof payload !== 'string') {
      return { kind: 'malformed', reason: 'sealed: profileId, keyId and payload must be strings' };
    }
    return { kind: 'sealed', envelope: { profileId, keyId, payload: Buffer.from(payload, 'base64') } };
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
  return { kind: 'plain' };
}
