import { AppConfig } from '@vh/config';
import { DeadLetters, RedriveRefusals } from '@vh/dead-letters';
import { ErasureLedger, standaloneProfileKeys } from '@vh/erasure';

const USAGE =
  'dead-letters list [--reason TEXT] [--after ID] [--limit N] | show ID | redrive (--all | ID...) | purge (--through ID | --all)';

/** `dead-letters ...`: the same operations as /v1/admin/dead-letters, printed as JSON. */
export async function deadLetters(config: AppConfig, args: string[]): Promise<unknown> {
  const [action, ...rest] = args;
  const value = (name: string) => (rest.includes(name) ? rest[rest.indexOf(name) + 1] : undefined);
  const by = `cli:${process.env.USER ?? 'operator'}`;
  const keys = standaloneProfileKeys(config, 'dead-letters');
  const letters = new DeadLetters(config, new RedriveRefusals(keys.keys, new ErasureLedger(keys.client, config)));
  try {
    switch (action) {
      case 'list': {
        const limit = value('--limit');
        return await letters.list({
          reason: value('--reason'),
          after: value('--after'),
          limit: limit === undefined ? undefined : Number(limit),
        });
      }
      case 'show':
        if (!rest[0]) throw new Error(`usage: ${USAGE}`);
        return await letters.show(rest[0]);
      case 'redrive': {
        const ids = rest.filter((a) => !a.startsWith('--'));
        if (rest.includes('--all') === ids.length > 0) throw new Error('give either --all or dead letter ids');
        return rest.includes('--all') ? await letters.redriveAll(by) : await letters.redrive(ids, by);
      }
      case 'purge':
        return await letters.purge({ through: value('--through'), all: rest.includes('--all') || undefined }, by);
      default:
        throw new Error(`usage: ${USAGE}`);
    }
  } finally {
    await letters.onApplicationShutdown();
    await keys.close();
  }
}

export const DEAD_LETTERS_USAGE = USAGE;
