/** How far a sweep has got: every event day, and every arrival day, before these instants is swept. */
export interface SweepWatermark {
  eventDaysBefore: number;
  arrivalDaysBefore: number;
  sweptAt: number;
}

/** Where the compaction sweep keeps its watermark. A port, so unit tests keep it in memory without casts. */
export abstract class SweepWatermarkStore {
  abstract read(sweep: string): Promise<SweepWatermark | null>;
  abstract write(sweep: string, watermark: SweepWatermark): Promise<void>;
}
