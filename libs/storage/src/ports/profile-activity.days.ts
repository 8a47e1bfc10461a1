/**
 * What the compaction sweep needs of the activity index: the profiles of a day, by event and by arrival, and
 * those the first scheduled sweep of each day visits. A port.
 */
export abstract class ProfileActivityDays {
  /** Profiles with events on the day containing `instant`. */
  abstract profilesActiveOn(instant: number): AsyncGenerator<string>;
  /** Profiles that received, on the day containing `instant`, events of a day the sweep may have passed. */
  abstract profilesArrivedLateOn(instant: number): AsyncGenerator<string>;
  /** Profiles that ever set auto-delete (to a period, not `never`) or paused recording (ADR 8). */
  abstract profilesSweptDaily(): AsyncGenerator<string>;
}
