import {
  AUTO_DELETE_PERIODS,
  EMPTY_MEMBER_CONTROLS,
  MemberControls,
  RECORDING_STATES,
  SettingsChange,
} from '@vh/domain';

/**
 * The member's controls of a compressed history, as the JSON of its metadata row (`member_controls`):
 * `{"v":1,"settings":[[eventId, acceptedAt, recording|null, autoDelete|null]],"titlesRemoved":[[titleId, acceptedAt]]}`.
 * A handful per profile, so plain JSON; null when there are none (the common case costs nothing).
 */
export function encodeMemberControls(controls: MemberControls | undefined): string | null {
  if (controls === undefined || (controls.settingsChanges.length === 0 && controls.titlesRemoved.size === 0)) {
    return null;
  }
  return JSON.stringify({
    v: 1,
    settings: controls.settingsChanges.map((c) => [c.eventId, c.acceptedAt, c.recording ?? null, c.autoDelete ?? null]),
    titlesRemoved: [...controls.titlesRemoved].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
  });
}

/** Throws on anything malformed: the caller reports the history as corrupt, never as empty. */
export function decodeMemberControls(text: string | null): MemberControls {
  if (text === null || text === '') return EMPTY_MEMBER_CONTROLS;
  const json = JSON.parse(text) as { v?: unknown; settings?: unknown; titlesRemoved?: unknown };
  if (json.v !== 1 || !Array.isArray(json.settings) || !Array.isArray(json.titlesRemoved)) {
    throw new Error('member controls: unknown format');
  }
  const settingsChanges: SettingsChange[] = json.settings.map((entry: unknown) => {
    if (!Array.isArray(entry) || typeof entry[0] !== 'string' || !Number.isSafeInteger(entry[1])) {
      throw new Error('member controls: malformed settings change');
    }
    const [eventId, acceptedAt, recording, autoDelete] = entry as [string, number, unknown, unknown];
    const change: SettingsChange = { eventId, acceptedAt };
    if (recording !== null) {
      if (!(RECORDING_STATES as readonly unknown[]).includes(recording)) throw new Error('member controls: recording');
      change.recording = recording as SettingsChange['recording'];
    }
    if (autoDelete !== null) {
      if (!(AUTO_DELETE_PERIODS as readonly unknown[]).includes(autoDelete)) {
        throw new Error('member controls: autoDelete');
      }
      change.autoDelete = autoDelete as SettingsChange['autoDelete'];
    }
    return change;
  });
  const titlesRemoved = new Map<string, number>();
  for (const entry of json.titlesRemoved as unknown[]) {
    if (!Array.isArray(entry) || typeof entry[0] !== 'string' || !Number.isSafeInteger(entry[1])) {
      throw new Error('member controls: malformed title removal');
    }
    titlesRemoved.set(entry[0], entry[1] as number);
  }
  return { settingsChanges, titlesRemoved };
}
