import { ViewingEvent } from '@vh/domain';

/** What compaction needs of the live table: a profile's rows, and removing those compacted. A port. */
export abstract class LiveHistoryCompactionStore {
  abstract readProfile(profileId: string): Promise<ViewingEvent[]>;
  abstract deleteBefore(profileId: string, instant: number, writtenBefore: number): Promise<void>;
}
