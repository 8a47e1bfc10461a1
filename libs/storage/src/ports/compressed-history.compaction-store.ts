import { CompressedHistory, NamedSettings } from '@vh/domain';
import { CompressedHistoryVersion } from '../compressed/compressed-history.version';

/** What a garbage collection did: chunk sets removed, and those kept that a later one will remove. */
export interface GarbageCollected {
  removed: number;
  waiting: number;
}

/** What a compaction reads of the daily sweep's row: its named settings not marked erased, its finished pauses. */
export interface DailySweepNamed extends NamedSettings {
  pausesFinished: string[];
}

/** What compaction and repair need of the compressed tables: read, write a chunk set, switch versions, collect garbage. A port. */
export abstract class CompressedHistoryCompactionStore {
  /** The current version's metadata row only (no chunks). */
  abstract readVersion(profileId: string): Promise<CompressedHistoryVersion | null>;
  abstract read(
    profileId: string,
    options?: { useCache?: boolean; withTrails?: boolean },
  ): Promise<{ version: CompressedHistoryVersion | null; history: CompressedHistory }>;
  abstract collectGarbage(profileId: string, now?: number): Promise<GarbageCollected>;
  abstract writeChunkSet(
    profileId: string,
    chunks: Buffer[],
    forVersion: number,
  ): Promise<{ chunkSet: string; checksums: string[]; storedBytes: number }>;
  /** `named`: what the daily sweep's row named when read before (its note then writes only if the version adds). */
  abstract switchVersion(
    expectedVersion: number | null,
    next: CompressedHistoryVersion,
    named?: NamedSettings,
  ): Promise<boolean>;
  abstract deleteChunkSet(profileId: string, chunkSet: string, chunkCount: number): Promise<void>;
  abstract markSuperseded(profileId: string, chunkSet: string): Promise<void>;
  /** The settings the daily sweep's row names and has not marked erased (ADR 8, 9); null: a schema before migration 12. */
  abstract namedForDailySweep(profileId: string): Promise<DailySweepNamed | null>;
  /** Named settings a compaction found erased (ADR 9). */
  abstract noteErasedForDailySweep(profileId: string, settings: readonly string[]): Promise<void>;
  /** The pauses a compaction finished leave the daily sweep (ADR 8). */
  abstract notePausesFinished(profileId: string, pauses: readonly string[]): Promise<void>;
}
