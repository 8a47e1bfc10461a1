import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '@vh/config';
import { encodeViewingEvent, validatePlaybackEvent, ViewingEvent } from '@vh/domain';
import { ProfileKeyOpener, ProfileKeys, ProfileKeySealer, ProfileKeyStore } from '@vh/erasure';
import { LogMessage, openPlaintext } from '@vh/messaging';

/**
 * What sealing costs per event (docs/adr/0009): CPU of the collector's work per event (validate + encode,
 * with and without sealing) and of ingest's (open + decode, with and without), in this process, keys
 * warm in memory (a key is read from Cassandra once per profile per PROFILE_KEYS_CACHE_MS). The baseline
 * (plain) is measured in the same run, interleaved, so the ratio is what counts on a noisy machine. So is
 * `sealedJson`, the JSON sealed form the binary one replaced (docs/event-log.md), for the comparison of the two.
 */
export interface ErasureBenchParams {
  events: number;
  profiles: number;
  rounds: number;
}

class MemoryStore extends ProfileKeyStore {
  readonly datacenter = 'dc1';
  private readonly keys = new Map<string, { keyId: string; wrapped: Buffer; opensAfter: [] }>();
  async read(profileId: string) {
    const key = this.keys.get(profileId);
    return key ? [{ ...key, datacenter: this.datacenter }] : [];
  }
  async createIfAbsent(profileId: string, keyId: string, wrapped: Buffer) {
    if (!this.keys.has(profileId)) this.keys.set(profileId, { keyId, wrapped, opensAfter: [] });
    return this.keys.get(profileId)!;
  }
  async bound() {}
  async deleteIf() {
    return true;
  }
  async recordErasure() {}
  async ledgerNames() {
    return false;
  }
  async putShredding() {
    return '';
  }
  async listShredding() {
    return [];
  }
  async *allShredding() {
    yield* [];
  }
  async relabel() {
    return false;
  }
  async restartGrace() {}
  async recordMark() {}
  async recordFence() {
    return false;
  }
  async destroyShredding() {}
  async recordErasureMark() {}
  async recordedMarks() {
    return [];
  }
}

function wireEvents(count: number, profiles: number): Record<string, unknown>[] {
  const now = Date.now();
  return Array.from({ length: count }, (_, i) => ({
    eventId: randomUUID(),
    profileId: `profile-${i % profiles}`,
    titleId: `title-${i % 97}`,
    playbackSessionId: randomUUID(),
    type: i % 3 === 0 ? 'play' : i % 3 === 1 ? 'pause' : 'stop',
    positionMs: (i * 7_919) % 3_000_000,
    occurredAt: new Date(now - (i % 600) * 1_000).toISOString(),
    deviceId: `device-${i % 5}`,
    titleDurationMs: 3_600_000,
  }));
}

async function cpuMicros(run: () => Promise<void>): Promise<number> {
  const start = process.cpuUsage();
  await run();
  const used = process.cpuUsage(start);
  return used.user + used.system;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

export async function erasureCost(params: ErasureBenchParams) {
  const config = loadConfig({ ...process.env, LOG_LEVEL: 'warn' });
  const keys = new ProfileKeys(new MemoryStore(), config);
  const sealer = new ProfileKeySealer(keys, config);
  const opener = new ProfileKeyOpener(keys);
  const wire = wireEvents(params.events, params.profiles);
  const policy = { now: Date.now(), maxClockSkewMs: 300_000, maxEventAgeMs: 7 * 86_400_000 };
  const BATCH = 500;
  const validated = (batch: Record<string, unknown>[]) =>
    batch.map((input) => {
      const result = validatePlaybackEvent(input, policy);
      if (!result.ok) throw new Error('bench event invalid');
      return { ...result.value, acceptedAt: policy.now } as ViewingEvent;
    });
  const batches = Array.from({ length: Math.ceil(wire.length / BATCH) }, (_, i) =>
    wire.slice(i * BATCH, (i + 1) * BATCH),
  );
  // The JSON sealed form collectors wrote before the binary one (docs/event-log.md), still read and written with
  // SEALED_EVENT_FORMAT=json: measured in the same run so the two forms compare on the same machine state.
  const jsonSealer = new ProfileKeySealer(
    keys,
    loadConfig({ ...process.env, LOG_LEVEL: 'warn', SEALED_EVENT_FORMAT: 'json' }),
  );
  const sealJson = (events: ViewingEvent[]) => jsonSealer.seal(events);
  const plainValues: string[] = [];
  const sealedValues: (string | Buffer)[] = [];
  const sealedJsonValues: (string | Buffer)[] = [];
  for (const batch of batches) {
    const events = validated(batch);
    plainValues.push(...events.map(encodeViewingEvent));
    sealedValues.push(...(await sealer.seal(events)));
    sealedJsonValues.push(...(await sealJson(events)));
  }
  const messages = (values: (string | Buffer)[]): LogMessage[] =>
    values.map((value) => ({ key: null, value: Buffer.from(value), timestamp: String(policy.now) }));
  const plainMessages = messages(plainValues);
  const sealedMessages = messages(sealedValues);
  const sealedJsonMessages = messages(sealedJsonValues);
  const inBatches = <T>(items: T[]) =>
    Array.from({ length: Math.ceil(items.length / BATCH) }, (_, i) => items.slice(i * BATCH, (i + 1) * BATCH));

  const samples = {
    collectorPlain: [] as number[],
    collectorSealed: [] as number[],
    collectorSealedJson: [] as number[],
    ingestPlain: [] as number[],
    ingestSealed: [] as number[],
    ingestSealedJson: [] as number[],
  };
  for (let round = 0; round < params.rounds; round++) {
    samples.collectorPlain.push(
      await cpuMicros(async () => {
        for (const batch of batches) validated(batch).map(encodeViewingEvent);
      }),
    );
    samples.collectorSealed.push(
      await cpuMicros(async () => {
        for (const batch of batches) await sealer.seal(validated(batch));
      }),
    );
    samples.collectorSealedJson.push(
      await cpuMicros(async () => {
        for (const batch of batches) await sealJson(validated(batch));
      }),
    );
    samples.ingestPlain.push(
      await cpuMicros(async () => {
        for (const batch of inBatches(plainMessages)) batch.map((message) => openPlaintext(message));
      }),
    );
    samples.ingestSealed.push(
      await cpuMicros(async () => {
        for (const batch of inBatches(sealedMessages)) await opener.open(batch);
      }),
    );
    samples.ingestSealedJson.push(
      await cpuMicros(async () => {
        for (const batch of inBatches(sealedJsonMessages)) await opener.open(batch);
      }),
    );
  }
  const perEvent = (micros: number[]) => Math.round((median(micros) / params.events) * 100) / 100;
  const bytes = (values: (string | Buffer)[]) =>
    Math.round(values.reduce((n, v) => n + Buffer.byteLength(v), 0) / values.length);
  const result = {
    generatedAt: new Date().toISOString(),
    events: params.events,
    profiles: params.profiles,
    rounds: params.rounds,
    collectorCpuMicrosPerEvent: {
      plain: perEvent(samples.collectorPlain),
      sealed: perEvent(samples.collectorSealed),
      sealedJson: perEvent(samples.collectorSealedJson),
    },
    ingestDecodeCpuMicrosPerEvent: {
      plain: perEvent(samples.ingestPlain),
      sealed: perEvent(samples.ingestSealed),
      sealedJson: perEvent(samples.ingestSealedJson),
    },
    messageBytes: { plain: bytes(plainValues), sealed: bytes(sealedValues), sealedJson: bytes(sealedJsonValues) },
  };
  return {
    ...result,
    ratios: {
      collector: round2(result.collectorCpuMicrosPerEvent.sealed / result.collectorCpuMicrosPerEvent.plain),
      ingestDecode: round2(result.ingestDecodeCpuMicrosPerEvent.sealed / result.ingestDecodeCpuMicrosPerEvent.plain),
      messageBytes: round2(result.messageBytes.sealed / result.messageBytes.plain),
      /** The binary sealed form against the JSON one it replaced. */
      collectorBinaryVsJson: round2(
        result.collectorCpuMicrosPerEvent.sealed / result.collectorCpuMicrosPerEvent.sealedJson,
      ),
      ingestDecodeBinaryVsJson: round2(
        result.ingestDecodeCpuMicrosPerEvent.sealed / result.ingestDecodeCpuMicrosPerEvent.sealedJson,
      ),
    },
  };
}

/** The headline rows and the section of BENCHMARKS.md (none before the step has run). */
export function renderErasureCost(
  e: any | undefined,
  ingestCpuMicrosPerEvent?: number,
): { headline: string; section: string } {
  if (!e) return { headline: '', section: '' };
  const c = e.collectorCpuMicrosPerEvent;
  const i = e.ingestDecodeCpuMicrosPerEvent;
  const b = e.messageBytes;
  const headline =
    `| \`sealing_collector_cpu_ratio\` | ${e.ratios.collector} | the collector's validate and encode of a plain event, same run: ${c.plain} µs (sealed ${c.sealed}) | | issue 15: erasure by crypto-shredding (ADR 9) |\n` +
    `| \`sealing_ingest_decode_cpu_ratio\` | ${e.ratios.ingestDecode} | ingest's decode of a plain message, same run: ${i.plain} µs (open and decode ${i.sealed}) | | |\n`;
  const section = `## Erasure: what sealing costs an event (issue 15, ADR 9)

Every event goes on the log sealed with its profile's key (AES-256-GCM, the binary form of docs/event-log.md), so an
erasure can shred the key. CPU per event in one process, keys warm in memory, plain and sealed interleaved over
${e.rounds} rounds (median), ${e.events.toLocaleString('en')} events of ${e.profiles.toLocaleString('en')} profiles:

| | plain | sealed | sealed / plain | sealed JSON form (before the binary one) |
|---|---|---|---|---|
| collector: validate, encode (and seal) | ${c.plain} µs | ${c.sealed} µs | **${e.ratios.collector}** | ${c.sealedJson} µs |
| ingest: (open and) decode | ${i.plain} µs | ${i.sealed} µs | **${e.ratios.ingestDecode}** | ${i.sealedJson} µs |
| message bytes | ${b.plain} | ${b.sealed} | ${e.ratios.messageBytes} | ${b.sealedJson} |

Sealing adds ${round2(i.sealed - i.plain)} µs of ingest CPU an event (against the ${ingestCpuMicrosPerEvent ?? '–'} µs ingest spends an event end to end,
"Ingest" above) and ${round2(c.sealed - c.plain)} µs to the collector's. The ingest step above produces plain events; what it
would spend on sealed ones is its figure plus this difference.

`;
  return { headline, section };
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}

/** `npm run bench:erasure [--quick]`: writes bench/results/erasure.json. */
if (require.main === module) {
  const quick = process.argv.includes('--quick');
  erasureCost(quick ? { events: 5_000, profiles: 500, rounds: 3 } : { events: 50_000, profiles: 5_000, rounds: 7 })
    .then((result) => {
      const dir = join(__dirname, '..', '..', 'bench', 'results');
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'erasure.json'), `${JSON.stringify(result, null, 2)}\n`);
      process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    })
    .catch((error) => {
      process.stderr.write(`${(error as Error).stack}\n`);
      process.exit(1);
    });
}
