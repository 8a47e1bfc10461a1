import { InvalidConfigurationError, loadConfig } from './app-config';

describe('loadConfig', () => {
  it('runs locally with no environment at all', () => {
    const config = loadConfig({});
    expect(config.kafka.brokers).toEqual(['127.0.0.1:9092']);
    expect(config.cassandra).toMatchObject({
      keyspace: 'viewing_history',
      localDataCenter: 'datacenter1',
      readConsistency: 'LOCAL_QUORUM',
    });
    expect(config.kafka.eventTopicPartitions).toBeGreaterThanOrEqual(6);
  });

  it('parses lists and numbers', () => {
    const config = loadConfig({ KAFKA_BROKERS: 'a:1, b:2', EVENT_TOPIC_PARTITIONS: '12' });
    expect(config.kafka.brokers).toEqual(['a:1', 'b:2']);
    expect(config.kafka.eventTopicPartitions).toBe(12);
  });

  it('reads the zstd dictionary setting: latest by default, none as 0, or an id', () => {
    expect(loadConfig({}).compaction.zstdDictionary).toBe('latest');
    expect(loadConfig({ COMPACTION_ZSTD_DICTIONARY: 'none' }).compaction.zstdDictionary).toBe(0);
    expect(loadConfig({ COMPACTION_ZSTD_DICTIONARY: '2' }).compaction.zstdDictionary).toBe(2);
    expect(() => loadConfig({ COMPACTION_ZSTD_DICTIONARY: 'zero' })).toThrow(InvalidConfigurationError);
  });

  it('replicates to the local datacenter alone unless CASSANDRA_REPLICATION names datacenters', () => {
    expect(loadConfig({}).cassandra.replication).toEqual({ datacenter1: 1 });
    expect(loadConfig({ CASSANDRA_LOCAL_DC: 'dc2', CASSANDRA_REPLICATION_FACTOR: '3' }).cassandra.replication).toEqual({
      dc2: 3,
    });
    expect(
      loadConfig({ CASSANDRA_LOCAL_DC: 'dc2', CASSANDRA_REPLICATION: 'dc1:3, dc2:3' }).cassandra.replication,
    ).toEqual({ dc1: 3, dc2: 3 });
  });

  it('refuses a replication without replicas in the local datacenter, or not of datacenter:replicas', () => {
    const problems = (env: Record<string, string>) => {
      try {
        loadConfig(env);
        return [];
      } catch (error) {
        return (error as InvalidConfigurationError).problems;
      }
    };
    expect(problems({ CASSANDRA_LOCAL_DC: 'dc3', CASSANDRA_REPLICATION: 'dc1:1,dc2:1' })).toEqual([
      'CASSANDRA_REPLICATION: names no replicas in CASSANDRA_LOCAL_DC (dc3)',
    ]);
    for (const bad of ['dc1', 'dc1:0', "dc1:1,dc2':1", 'dc1:1;dc2:1', ''])
      expect(problems({ CASSANDRA_REPLICATION: bad })).toEqual([
        expect.stringMatching(/^CASSANDRA_REPLICATION: must be datacenter:replicas pairs/),
      ]);
  });

  it('lists every problem at once', () => {
    try {
      loadConfig({ CASSANDRA_KEYSPACE: 'Bad-Name', API_PORT: '99999', CASSANDRA_READ_CONSISTENCY: 'SOME' });
      throw new Error('expected a failure');
    } catch (error) {
      expect(error).toBeInstanceOf(InvalidConfigurationError);
      const fields = (error as InvalidConfigurationError).problems.map((p) => p.split(':')[0]);
      expect(fields.sort()).toEqual(['API_PORT', 'CASSANDRA_KEYSPACE', 'CASSANDRA_READ_CONSISTENCY']);
    }
  });

  it('refuses a compaction age that accepted events could still reach', () => {
    expect(() => loadConfig({ EVENT_MAX_AGE_MS: '86400000', COMPACTION_MIN_AGE_MS: '3600000' })).toThrow(
      /COMPACTION_MIN_AGE_MS/,
    );
  });

  it('rejects a default page larger than the maximum', () => {
    expect(() => loadConfig({ HISTORY_PAGE_DEFAULT: '300', HISTORY_PAGE_MAX: '100' })).toThrow(
      InvalidConfigurationError,
    );
  });

  it('keeps an erased key shredding at least as long as a process may have it cached', () => {
    expect(loadConfig({}).profileKeys.shreddingMs).toBe(86_400_000);
    const short = loadConfig({ PROFILE_KEYS_CACHE_MS: '60000', PROFILE_KEYS_SHREDDING_MS: '1000' });
    expect(short.profileKeys.shreddingMs).toBe(60_000);
  });
});
