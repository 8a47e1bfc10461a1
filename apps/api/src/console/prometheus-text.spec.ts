import { parsePrometheusText, sumBy } from './prometheus-text';

describe('parsePrometheusText', () => {
  const text = [
    '# HELP viewing_history_requests_shed_total Requests refused',
    '# TYPE viewing_history_requests_shed_total counter',
    'viewing_history_requests_shed_total{reason="in_flight"} 3',
    'viewing_history_requests_shed_total{reason="event_loop_delay",app="a\\"b"} 2',
    'viewing_history_ingest_events_written_total 1200',
    'viewing_history_ingest_consumer_lag{partition="0"} 5',
    'viewing_history_ingest_consumer_lag{partition="1"} 7',
    'garbage line',
  ].join('\n');

  it('reads names, labels (escapes included) and values, skipping comments', () => {
    const samples = parsePrometheusText(text);
    expect(samples).toHaveLength(5);
    expect(samples[1].labels).toEqual({ reason: 'event_loop_delay', app: 'a"b' });
  });

  it('sums a metric, by a label or whole', () => {
    const samples = parsePrometheusText(text);
    expect(sumBy(samples, 'viewing_history_requests_shed_total', 'reason')).toEqual({
      in_flight: 3,
      event_loop_delay: 2,
    });
    expect(sumBy(samples, 'viewing_history_ingest_consumer_lag')).toEqual({ '': 12 });
    expect(sumBy(samples, 'absent')).toEqual({});
  });
});
