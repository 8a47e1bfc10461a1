import { randomUUID } from 'node:crypto';
import { AppConfig } from '@vh/config';
import {
  currentSettings,
  IDENTIFIER_PATTERN,
  MAX_IDENTIFIER_LENGTH,
  settingsChangedEvent,
  titleRemovedEvent,
  validateSettingsInput,
  ViewingEvent,
} from '@vh/domain';
import { standaloneProfileKeys } from '@vh/erasure';
import { ViewingEventPublisher } from '@vh/messaging';
import {
  CompressedHistoryRepository,
  createCassandraClient,
  LiveHistoryRepository,
  ProfileActivityIndex,
  readMemberControls,
} from '@vh/storage';

const value = (args: string[], name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);

/** Refused here as the API refuses it: ingest would dead-letter it. */
function identifier(args: string[], flag: string, what: string): string {
  const given = value(args, flag);
  if (!given) throw new Error(`give ${flag} ${what}`);
  if (given.length > MAX_IDENTIFIER_LENGTH || !IDENTIFIER_PATTERN.test(given)) {
    throw new Error(`${flag}: is not a valid identifier`);
  }
  return given;
}

const requiredProfile = (args: string[]) => identifier(args, '--profile', 'ID');

/**
 * `settings --profile ID [--recording on|paused] [--auto-delete 3m|18m|36m|never]`: without a change, prints
 * the settings in force (as ingested so far); with one, puts it on the log as `PUT …/settings` does.
 */
export async function settings(config: AppConfig, args: string[]): Promise<unknown> {
  const profileId = requiredProfile(args);
  const recording = value(args, '--recording');
  const autoDelete = value(args, '--auto-delete');
  if (recording === undefined && autoDelete === undefined) {
    const client = createCassandraClient(config.cassandra, `${config.kafka.clientId}-cli-settings`);
    try {
      const live = new LiveHistoryRepository(client, config, new ProfileActivityIndex(client, config));
      const controls = await readMemberControls(live, new CompressedHistoryRepository(client, config), profileId);
      const current = currentSettings(controls);
      return {
        profileId,
        ...current,
        updatedAt: current.updatedAt === null ? null : new Date(current.updatedAt).toISOString(),
      };
    } finally {
      await client.shutdown();
    }
  }
  const input = validateSettingsInput({
    ...(recording === undefined ? {} : { recording }),
    ...(autoDelete === undefined ? {} : { autoDelete }),
  });
  if (!input.ok) {
    const flag = (field: string) => (field === 'autoDelete' ? '--auto-delete' : `--${field}`);
    throw new Error(input.issues.map((i) => `${flag(i.field)}: ${i.message}`).join('; '));
  }
  const now = Date.now();
  await publish(config, settingsChangedEvent(profileId, input.value, randomUUID(), now));
  return { status: 'accepted', profileId, acceptedAt: new Date(now).toISOString(), changes: input.value };
}

/** `remove-title --profile ID --title TITLE`: as `DELETE …/titles/{titleId}/history`. */
export async function removeTitle(config: AppConfig, args: string[]): Promise<unknown> {
  const profileId = requiredProfile(args);
  const titleId = identifier(args, '--title', 'TITLE');
  const now = Date.now();
  const event = titleRemovedEvent(profileId, titleId, randomUUID(), now);
  await publish(config, event);
  return { status: 'accepted', eventId: event.eventId, profileId, titleId, acceptedAt: new Date(now).toISOString() };
}

/** Sealed as the API seals it: a title-removed names a title, which must not stay in clear on the log (ADR 9). */
async function publish(config: AppConfig, event: ViewingEvent): Promise<void> {
  const keys = standaloneProfileKeys(config, 'cli-member-controls');
  const publisher = new ViewingEventPublisher(config, keys.sealer);
  try {
    await publisher.publish([event]);
  } finally {
    await publisher.onApplicationShutdown();
    await keys.close();
  }
}
