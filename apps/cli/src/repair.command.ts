import { AppConfig } from '@vh/config';
import { repairProfileHistory } from '@vh/compaction';

/** `repair --profile ID [--allow-truncated-log]`: rebuilds one profile's history from the event log. */
export async function repair(config: AppConfig, args: string[]): Promise<unknown> {
  const index = args.indexOf('--profile');
  const profileId = index >= 0 ? args[index + 1] : undefined;
  if (!profileId) throw new Error('give --profile ID');
  return repairProfileHistory(config, profileId, { allowTruncatedLog: args.includes('--allow-truncated-log') });
}
