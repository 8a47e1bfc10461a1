import { newDataKey, seal, unseal } from './payload-cipher';
import {
  classifyMessage,
  encodeSealedEnvelope,
  encodeSealedMessage,
  PROFILE_ERASED,
  sealContext,
} from './sealed-message';

describe('reading an erasure mark (classifyMessage)', () => {
  const mark = (covers: unknown) =>
    classifyMessage(
      Buffer.from(
        JSON.stringify({
          schemaVersion: 1,
          type: PROFILE_ERASED,
          profileId: 'p1',
          erasureId: 'e2',
          acceptedAt: new Date(5).toISOString(),
          ...(covers === undefined ? {} : { covers }),
        }),
      ),
    );

  it('reads the erasures a mark covers', () => {
    expect(mark(['e1'])).toEqual({
      kind: 'profile-erased',
      mark: { profileId: 'p1', erasureId: 'e2', acceptedAt: 5, covers: ['e1'] },
    });
    expect(mark(undefined)).toMatchObject({ kind: 'profile-erased', mark: { covers: [] } });
  });

  // Review of the merge: a bad `covers` dead-lettered the whole mark, so ingest never erased after it. `covers`
  // only spares a finisher a second erasure: an unreadable one is ignored, the mark still counts (invariant 5).
  it('ignores a malformed covers and keeps the mark: non-string entries dropped, a non-list read as none', () => {
    expect(mark(['e1', 7, null, 'e0'])).toMatchObject({ kind: 'profile-erased', mark: { covers: ['e1', 'e0'] } });
    expect(mark('e1')).toMatchObject({ kind: 'profile-erased', mark: { erasureId: 'e2', covers: [] } });
    expect(mark({ e1: true })).toMatchObject({ kind: 'profile-erased', mark: { covers: [] } });
  });
});

describe('a plain event (classifyMessage)', () => {
  it('comes with its parsed JSON, once', () => {
    const event = { schemaVersion: 1, type: 'play', profileId: 'p1' };
    expect(classifyMessage(Buffer.from(JSON.stringify(event)))).toEqual({ kind: 'plain', parsed: event });
    expect(classifyMessage(Buffer.from('[1]'))).toEqual({ kind: 'plain', parsed: [1] });
    expect(classifyMessage(Buffer.from('not json'))).toEqual({ kind: 'plain' });
    expect(classifyMessage(Buffer.alloc(0))).toEqual({ kind: 'plain' });
    expect(classifyMessage(null)).toEqual({ kind: 'plain' });
  });

  // The parse comes first since session 15: what it reads as sealed or as a mark is still only what names either
  // in its text, as before (an escaped spelling stays a plain event, dead-lettered by the schema).
  it('stays plain when the sealed field or the mark type is spelled with escapes', () => {
    const escapedType =
      '{"schemaVersion":1,"type":"profile-\\u0065rased","profileId":"p1","erasureId":"e1","acceptedAt":"1970-01-01T00:00:00Z"}';
    expect(JSON.parse(escapedType).type).toBe(PROFILE_ERASED);
    expect(classifyMessage(Buffer.from(escapedType))).toMatchObject({ kind: 'plain' });
    const escapedField = '{"seal\\u0065d":"aes-256-gcm","profileId":"p1","keyId":"k1","payload":"AAAA"}';
    expect(JSON.parse(escapedField).sealed).toBe('aes-256-gcm');
    expect(classifyMessage(Buffer.from(escapedField))).toMatchObject({ kind: 'plain' });
  });
});

describe('the binary sealed message (docs/event-log.md)', () => {
  const key = newDataKey();
  const keyId = '7d4b7f0e-0c1d-4a43-9a51-6a7f6f1d2c3b';
  const plaintext = Buffer.from('{"titleId":"secret-title"}');

  it('names its profile and key in clear, and nothing else', () => {
    const sealed = encodeSealedMessage({ profileId: 'p-1', keyId }, key, plaintext);
    expect([...sealed.subarray(0, 2)]).toEqual([0x00, 0x01]);
    expect(sealed.toString('latin1')).not.toContain('secret');
    const classified = classifyMessage(sealed);
    if (classified.kind !== 'sealed') throw new Error(`expected sealed, got ${classified.kind}`);
    expect(classified.envelope).toMatchObject({ profileId: 'p-1', keyId });
    expect(unseal(key, classified.envelope.payload, classified.envelope.context)).toEqual(plaintext);
    // 3 + 3 (profile) + 17 (key id, a UUID in 16 bytes) + 28 (IV and tag) + the ciphertext.
    expect(sealed.length).toBe(51 + plaintext.length);
  });

  it('keeps a key id that is not a UUID as it is', () => {
    const classified = classifyMessage(encodeSealedMessage({ profileId: 'p-1', keyId: 'k1' }, key, plaintext));
    expect(classified).toMatchObject({ kind: 'sealed', envelope: { profileId: 'p-1', keyId: 'k1' } });
  });

  it('authenticates its header: another profile or key id in it does not open', () => {
    const sealed = encodeSealedMessage({ profileId: 'p-1', keyId }, key, plaintext);
    const moved = Buffer.from(sealed);
    moved[5] = '2'.charCodeAt(0); // p-1 -> p-2
    const classified = classifyMessage(moved);
    if (classified.kind !== 'sealed') throw new Error(`expected sealed, got ${classified.kind}`);
    expect(classified.envelope.profileId).toBe('p-2');
    expect(() => unseal(key, classified.envelope.payload, classified.envelope.context)).toThrow();
  });

  it('refuses to write a profile id its readers would dead-letter (not an identifier)', () => {
    for (const profileId of ['p 1', 'p/1', '-p', 'p\u00e9', ''])
      expect(() => encodeSealedMessage({ profileId, keyId }, key, plaintext)).toThrow(/profileId/);
  });

  it('a format it does not know, or a header cut short, is malformed (dead-lettered with the reason)', () => {
    const sealed = encodeSealedMessage({ profileId: 'p-1', keyId }, key, plaintext);
    const newer = Buffer.from(sealed);
    newer[1] = 0x02;
    expect(classifyMessage(newer)).toEqual({ kind: 'malformed', reason: 'sealed: unknown binary format 2' });
    for (const cut of [1, 2, 4, 10, 22]) {
      expect(classifyMessage(sealed.subarray(0, cut))).toMatchObject({ kind: 'malformed' });
    }
  });

  it('the JSON sealed messages already on the log still read', () => {
    const payload = seal(key, plaintext, sealContext('p-1', 'k1'));
    const classified = classifyMessage(Buffer.from(encodeSealedEnvelope({ profileId: 'p-1', keyId: 'k1', payload })));
    if (classified.kind !== 'sealed') throw new Error(`expected sealed, got ${classified.kind}`);
    expect(unseal(key, classified.envelope.payload, classified.envelope.context)).toEqual(plaintext);
  });
});
