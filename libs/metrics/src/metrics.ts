import { Counter, Gauge, Histogram, register } from 'prom-client';

/**
 * The service's metrics, one registry per process, named after the domain: the same words as the API
 * and the tables. Created once (module scope), used wherever the thing happens.
 */
function once<T>(name: string, create: () => T): T {
  return (register.getSingleMetric(name) as T | undefined) ?? create();
}

export const metrics = {
  profileErasures: once(
    'viewing_history_profile_erasures_total',
    () =>
      new Counter({
        name: 'viewing_history_profile_erasures_total',
        help: 'Erasures of a profile carried out: by the API at once, by ingest at the mark on the log, by a restore, by ingest finishing an erasure that outlived its lease (finisher)',
        labelNames: ['by'],
      }),
  ),
  erasedEventsSkipped: once(
    'viewing_history_erased_events_skipped_total',
    () =>
      new Counter({
        name: 'viewing_history_erased_events_skipped_total',
        help: 'Events on the log sealed with an erased profile key: skipped, unreadable for good',
      }),
  ),
  unknownProfileKeys: once(
    'viewing_history_unknown_profile_keys_total',
    () =>
      new Counter({
        name: 'viewing_history_unknown_profile_keys_total',
        help: 'Batches that wait on a sealed event whose key is neither current, shredding nor in the erasure ledger (keys keyspace restored or misnamed): retried, never counted as erased',
      }),
  ),
  shreddingKeys: once(
    'viewing_history_shredding_keys',
    () =>
      new Gauge({
        name: 'viewing_history_shredding_keys',
        help: 'Erased profile keys not yet destroyed: in their grace, past it and waiting for ingest to commit past them, or past it with an erasure whose mark ingest never met (erasure-unfinished: ingest finishes such an erasure once its lease ran out)',
        labelNames: ['state'],
      }),
  ),
  erasuresInProgress: once(
    'viewing_history_erasures_in_progress',
    () =>
      new Gauge({
        name: 'viewing_history_erasures_in_progress',
        help: 'Erasures begun without their mark recorded yet: within their lease (running), or past it (abandoned: ingest finishes them at its next sweep)',
        labelNames: ['state'],
      }),
  ),
  profileKeysDestroyed: once(
    'viewing_history_profile_keys_destroyed_total',
    () =>
      new Counter({
        name: 'viewing_history_profile_keys_destroyed_total',
        help: 'Shredding profile keys destroyed: grace over and ingest committed past every event sealed with them',
      }),
  ),
  httpRequestDuration: once(
    'viewing_history_http_request_duration_seconds',
    () =>
      new Histogram({
        name: 'viewing_history_http_request_duration_seconds',
        help: 'HTTP request latency by route',
        labelNames: ['method', 'route', 'status'],
        buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      }),
  ),
  requestsShed: once(
    'viewing_history_requests_shed_total',
    () =>
      new Counter({
        name: 'viewing_history_requests_shed_total',
        help: 'Requests refused with 503: too many in flight, or the event loop too far behind',
        labelNames: ['reason'],
      }),
  ),
  eventLoopDelay: once(
    'viewing_history_event_loop_delay_seconds',
    () =>
      new Gauge({
        name: 'viewing_history_event_loop_delay_seconds',
        help: 'Mean event loop delay over the last window, as load shedding saw it',
      }),
  ),
  inFlightLimit: once(
    'viewing_history_in_flight_limit',
    () =>
      new Gauge({
        name: 'viewing_history_in_flight_limit',
        help: 'Requests one process may have in flight now (adaptive: below HTTP_MAX_IN_FLIGHT while answers slow down)',
      }),
  ),
  eventsAccepted: once(
    'viewing_history_events_accepted_total',
    () =>
      new Counter({
        name: 'viewing_history_events_accepted_total',
        help: 'Playback events accepted by the collector (in Kafka)',
      }),
  ),
  memberControls: once(
    'viewing_history_member_controls_total',
    () =>
      new Counter({
        name: 'viewing_history_member_controls_total',
        help: 'Member controls put on the event log by the API: settings changed, titles removed',
        labelNames: ['kind'],
      }),
  ),
  eventsRejected: once(
    'viewing_history_events_rejected_total',
    () =>
      new Counter({
        name: 'viewing_history_events_rejected_total',
        help: 'Playback events rejected by the collector as invalid',
      }),
  ),
  ingestBatchDuration: once(
    'viewing_history_ingest_batch_duration_seconds',
    () =>
      new Histogram({
        name: 'viewing_history_ingest_batch_duration_seconds',
        help: 'Time to ingest one batch of the event log',
        buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      }),
  ),
  ingestEventsWritten: once(
    'viewing_history_ingest_events_written_total',
    () =>
      new Counter({ name: 'viewing_history_ingest_events_written_total', help: 'Events written to the live history' }),
  ),
  consumerLag: once(
    'viewing_history_ingest_consumer_lag',
    () =>
      new Gauge({
        name: 'viewing_history_ingest_consumer_lag',
        help: 'Messages behind the end of the partition, at the last batch',
        labelNames: ['partition'],
      }),
  ),
  deadLetters: once(
    'viewing_history_dead_letters_total',
    () => new Counter({ name: 'viewing_history_dead_letters_total', help: 'Messages moved to the dead-letter topic' }),
  ),
  unrecognisedRefusals: once(
    'viewing_history_ingest_unrecognised_refusals_total',
    () =>
      new Counter({
        name: 'viewing_history_ingest_unrecognised_refusals_total',
        help: 'Single-row writes Cassandra answered Invalid with a message no rule recognises (retried until the dead-letter rule holds)',
      }),
  ),
  deadLettersRedriven: once(
    'viewing_history_dead_letters_redriven_total',
    () =>
      new Counter({
        name: 'viewing_history_dead_letters_redriven_total',
        help: 'Dead letters put back on the event log by an operator',
      }),
  ),
  deadLettersPurged: once(
    'viewing_history_dead_letters_purged_total',
    () =>
      new Counter({
        name: 'viewing_history_dead_letters_purged_total',
        help: 'Dead letters removed from the dead-letter topic by an operator',
      }),
  ),
  partitionPauses: once(
    'viewing_history_ingest_partition_pauses_total',
    () =>
      new Counter({
        name: 'viewing_history_ingest_partition_pauses_total',
        help: 'Times a partition paused because its batch could not be written yet',
      }),
  ),
  compactionJobs: once(
    'viewing_history_compaction_jobs_total',
    () =>
      new Counter({
        name: 'viewing_history_compaction_jobs_total',
        help: 'Compaction jobs finished, by outcome',
        labelNames: ['outcome'],
      }),
  ),
  compactionDuration: once(
    'viewing_history_compaction_duration_seconds',
    () =>
      new Histogram({
        name: 'viewing_history_compaction_duration_seconds',
        help: 'Time to compact one profile',
        buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      }),
  ),
  compactionBytes: once(
    'viewing_history_compaction_bytes_total',
    () =>
      new Counter({
        name: 'viewing_history_compaction_bytes_total',
        help: 'Bytes of compressed history written, before (raw) and after (stored) zstd',
        labelNames: ['stage'],
      }),
  ),
  compressedCache: once(
    'viewing_history_compressed_cache_lookups_total',
    () =>
      new Counter({
        name: 'viewing_history_compressed_cache_lookups_total',
        help: 'Lookups of decoded compressed history in the cache',
        labelNames: ['result'],
      }),
  ),
  lateEvents: once(
    'viewing_history_late_events_total',
    () =>
      new Counter({
        name: 'viewing_history_late_events_total',
        help: "Playback events older than their profile's compactedBefore, folded in by a compaction (counted once)",
      }),
  ),
  corruptChunks: once(
    'viewing_history_corrupt_chunks_total',
    () =>
      new Counter({ name: 'viewing_history_corrupt_chunks_total', help: 'Compressed-history chunks found corrupt' }),
  ),
  breakerState: once(
    'viewing_history_cassandra_breaker_open',
    () =>
      new Gauge({
        name: 'viewing_history_cassandra_breaker_open',
        help: '1 while the read path circuit breaker around Cassandra is open',
      }),
  ),
};

export { register as metricsRegistry };
