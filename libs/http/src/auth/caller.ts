/** What a token may do. Devices name their profiles; jobs and operators do not. */
export const SCOPES = {
  /** Post playback events for the token's profiles. */
  eventsWrite: 'events:write',
  /** Read the history of the token's profiles. */
  historyRead: 'history:read',
  /** Delete records of, or clear, the token's profiles' history. */
  historyDelete: 'history:delete',
  /** Read any profile's history, in bulk too (recommendation jobs). */
  historyReadAll: 'history:read:all',
  /** Run and watch compaction (operators). */
  compactionAdmin: 'compaction:admin',
  /** Change the settings (recording, auto-delete) of the token's profiles. */
  settingsWrite: 'settings:write',
  /** Read and change any profile's settings (operators). */
  profilesAdmin: 'profiles:admin',
  /** List, re-drive and purge dead letters (operators). */
  deadLettersAdmin: 'dead-letters:admin',
  /** Erase any profile for good (operators; a device erases its own with history:delete and a confirmation). */
  profilesErase: 'profiles:erase',
} as const;
export type Scope = (typeof SCOPES)[keyof typeof SCOPES];

/** The kinds of token this service hands out, and the scopes each carries. */
export const TOKEN_KINDS = {
  device: [SCOPES.eventsWrite, SCOPES.historyRead, SCOPES.historyDelete, SCOPES.settingsWrite],
  recommender: [SCOPES.historyReadAll],
  operator: [SCOPES.compactionAdmin, SCOPES.profilesAdmin, SCOPES.deadLettersAdmin, SCOPES.profilesErase],
} as const satisfies Record<string, readonly Scope[]>;
export type TokenKind = keyof typeof TOKEN_KINDS;

/** The verified caller of a request. */
export interface Caller {
  subject: string;
  scopes: ReadonlySet<string>;
  profiles: ReadonlySet<string>;
}

export function mayActOnProfile(caller: Caller, scope: Scope, profileId: string, anyProfileScope?: Scope): boolean {
  if (anyProfileScope && caller.scopes.has(anyProfileScope)) return true;
  return caller.scopes.has(scope) && caller.profiles.has(profileId);
}
