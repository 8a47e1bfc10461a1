import { Injectable } from '@nestjs/common';
import { AppConfig } from '@vh/config';
import { ProfileActivityIndex } from '@vh/storage';

const DAY_MS = 86_400_000;

/** Compaction candidates: profiles with events on the days that just became old enough to roll up. */
@Injectable()
export class CompactionCandidates {
  constructor(
    private readonly activity: ProfileActivityIndex,
    private readonly config: AppConfig,
  ) {}

  async *find(now = Date.now()): AsyncGenerator<string> {
    const { minAgeMs, sweepDays } = this.config.compaction;
    const seen = new Set<string>();
    const newest = now - minAgeMs;
    for (let day = 0; day < sweepDays; day++) {
      for await (const profileId of this.activity.profilesActiveOn(newest - day * DAY_MS)) {
        if (seen.has(profileId)) continue;
        seen.add(profileId);
        yield profileId;
      }
    }
  }
}
