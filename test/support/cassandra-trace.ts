import { Client } from 'cassandra-driver';

/**
 * The live rows and tombstone cells Cassandra reports reading for one query (its tracing: "Read N live rows
 * and M tombstone cells"), summed over the replicas that answered. How a test sees what a read pays for
 * deletes, which no result row shows.
 */
export async function cellsRead(
  client: Client,
  query: string,
  params: unknown[],
): Promise<{ liveRows: number; tombstoneCells: number }> {
  const result = await client.execute(query, params, { prepare: true, traceQuery: true, fetchSize: 100_000 });
  const traceId = result.info.traceId;
  if (traceId === undefined) throw new Error('Cassandra returned no trace id');
  const trace = await client.metadata.getTrace(traceId);
  let liveRows = 0;
  let tombstoneCells = 0;
  for (const event of trace.events) {
    const read = /Read (\d+) live rows and (\d+) tombstone cells/.exec(event.activity);
    if (read === null) continue;
    liveRows += Number(read[1]);
    tombstoneCells += Number(read[2]);
  }
  return { liveRows, tombstoneCells };
}
