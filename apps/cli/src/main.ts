import { ConsoleLogger, Logger, LogLevel } from '@nestjs/common';
import { loadConfig } from '@vh/config';
import { replayEventLog } from '@vh/ingestion';
import { backup } from './backup/backup.command';
import { restore } from './backup/restore.command';
import { compact } from './compact.command';
import { DEAD_LETTERS_USAGE, deadLetters } from './dead-letters.command';
import { migrate } from './migrate.command';
import { removeTitle, settings } from './member-controls.command';
import { repair } from './repair.command';
import { token } from './token.command';

const COMMANDS: Record<string, { usage: string; help: string; run: (args: string[]) => Promise<unknown> }> = {
  migrate: {
    usage: 'migrate',
    help: 'create or upgrade the Cassandra schema and the Kafka topics',
    run: () => migrate(loadConfig()),
  },
  compact: {
    usage: 'compact --profile ID | --profiles A,B | --all [--dry-run] [--no-wait]',
    help: 'request compaction (a running compactor does it), wait for the job and print it',
    run: (args) => compact(loadConfig(), args),
  },
  repair: {
    usage: 'repair --profile ID [--allow-truncated-log]',
    help: "rebuild a profile's history (e.g. a corrupt_history one) from its events in the event log",
    run: (args) => repair(loadConfig(), args),
  },
  settings: {
    usage: 'settings --profile ID [--recording on|paused] [--auto-delete 3m|18m|36m|never]',
    help: "print a profile's settings, or change them (an event on the log, as PUT …/settings)",
    run: (args) => settings(loadConfig(), args),
  },
  'remove-title': {
    usage: 'remove-title --profile ID --title TITLE',
    help: "remove every record of a title from a profile's history (an event on the log)",
    run: (args) => removeTitle(loadConfig(), args),
  },
  'dead-letters': {
    usage: DEAD_LETTERS_USAGE,
    help: 'look at, re-drive onto the event log, or purge the messages ingest could not process',
    run: (args) => deadLetters(loadConfig(), args),
  },
  token: {
    usage: 'token --kind device --profiles A,B | --kind recommender | --kind operator [--ttl S]',
    help: 'mint an access token with the configured HS256 secret (local use)',
    run: (args) => token(loadConfig(), args),
  },
  backup: {
    usage: 'backup --to DIR',
    help: 'a consistent backup of the history keyspace and the event-log offsets it covers (docs/adr/0010)',
    run: (args) => backup(loadConfig(), args),
  },
  restore: {
    usage: 'restore --from DIR [--until ISO-TIME] [--keyspace NAME] [--force] [--ingest-group NAME]',
    help: 'load a backup into an empty keyspace and replay the log from its offsets up to --until',
    run: (args) => restore(loadConfig(), args),
  },
  replay: {
    usage: 'replay [--keyspace NAME] [--force]',
    help: 'rebuild the live history from the event log into an empty keyspace (default: CASSANDRA_KEYSPACE)',
    run: (args) => {
      const keyspace = option(args, '--keyspace');
      const config = loadConfig();
      return replayEventLog(keyspace ? config.with({ cassandra: { keyspace } }) : config, {
        force: args.includes('--force'),
      });
    },
  },
};

function option(args: string[], name: string): string | undefined {
  const index = args.indexOf(name);
  return index >= 0 ? args[index + 1] : undefined;
}

/** Logs go to stderr, so that stdout carries only the command's JSON report. */
class StderrLogger extends ConsoleLogger {
  protected override printMessages(
    messages: unknown[],
    context?: string,
    logLevel?: LogLevel,
    _stream?: 'stdout' | 'stderr',
    errorStack?: unknown,
  ): void {
    super.printMessages(messages, context, logLevel, 'stderr', errorStack);
  }
}

/** Operator commands: `cli <command> [args]`. Prints a JSON report; exits non-zero on failure. */
async function main(argv: string[]): Promise<number> {
  Logger.overrideLogger(new StderrLogger('cli', { logLevels: ['fatal', 'error', 'warn', 'log'] }));
  const [name, ...args] = argv;
  const command = name ? COMMANDS[name] : undefined;
  if (!command) {
    const lines = Object.values(COMMANDS).map((c) => `  ${c.usage.padEnd(72)} ${c.help}`);
    process.stderr.write(`usage: cli <command>\n${lines.join('\n')}\n`);
    return name ? 2 : 0;
  }
  const report = await command.run(args);
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: Error) => {
    process.stderr.write(`${error.name}: ${error.message}\n`);
    process.exit(1);
  },
);
