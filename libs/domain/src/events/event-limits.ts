/** Bounds of the event contract. Positions and durations above two days are not real titles. */
export const MAX_POSITION_MS = 2 * 24 * 60 * 60 * 1000;
export const MAX_IDENTIFIER_LENGTH = 64;
/** An identifier chosen by a client: printable, no spaces, bounded. */
export const IDENTIFIER_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]*$/;
