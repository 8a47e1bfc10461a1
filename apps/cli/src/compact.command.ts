import { AppConfig } from '@vh/config';
import { createCompactionQueue, describeCompactionJob, enqueueProfileCompaction, enqueueSweep } from '@vh/compaction';

/**
 * `compact --profile ID | --profiles A,B | --all [--dry-run] [--no-wait]`: the same request as
 * POST /v1/admin/compactions; waits for the job (a running compactor does the work) and prints it.
 */
export async function compact(config: AppConfig, args: string[]): Promise<unknown> {
  const value = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
  const dryRun = args.includes('--dry-run');
  const profile = value('--profile');
  const profiles = value('--profiles')?.split(',').filter(Boolean);
  if ([profile, profiles, args.includes('--all') || undefined].filter((x) => x !== undefined).length !== 1) {
    throw new Error('give exactly one of --profile ID, --profiles A,B or --all');
  }
  const queue = createCompactionQueue(config);
  try {
    const jobId = profile
      ? await enqueueProfileCompaction(queue, { profileId: profile, dryRun, requestedBy: 'operator' })
      : await enqueueSweep(queue, { profileIds: profiles, dryRun, requestedBy: 'operator' });
    const timeoutMs = Number(value('--timeout-ms') ?? 600_000);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const view = await describeCompactionJob(queue, jobId);
      if (!view) throw new Error(`job ${jobId} is gone from the queue`);
      if (args.includes('--no-wait') || view.state === 'completed' || view.state === 'failed') return view;
      if (Date.now() > deadline)
        throw new Error(`job ${jobId} still ${view.state} after ${timeoutMs} ms (is a compactor running?)`);
      await new Promise((r) => setTimeout(r, 250));
    }
  } finally {
    await queue.close();
  }
}
