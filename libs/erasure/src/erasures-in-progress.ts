import { Inject, Injectable } from '@nestjs/common';
import { Client, types } from 'cassandra-driver';
import { AppConfig } from '@vh/config';
import { CASSANDRA_CLIENT, withStorageErrors } from '@vh/storage';
import { conditionalOptions, readingOptions } from './keys-keyspace.options';

/** An erasure begun and not yet ended (docs/adr/0009). */
export interface ErasureInProgress {
  profileId: string;
  erasureId: string;
  /** The erasure carrying it out: itself, or a retry that took it over once its lease ran out. */
  owner: string;
  /** Whether its lease still runs, as the store alone judges it (a TTL cell: Cassandra's clock, invariant 6). */
  leased: boolean;
  /**
   * The end of the profile's partition of the event log, read after its lease was seen run out: its mark, if it
   * put one before, lies before this. Null until then, and again from each new lease.
   */
  fence: { partition: number; offset: string } | null;
}

/**
 * Erasures under way (`profile_erasures_in_progress`): noted before an erasure's first step, leased for
 * PROFILE_ERASURE_LEASE_MS and renewed before each step, removed once its mark is recorded. One whose lease ran
 * out was abandoned (its process died or stalled): a retry takes it over, and ingest's sweep starts that retry
 * itself (AbandonedErasureFinisher). Cassandra in production, a map in unit tests.
 */
export abstract class ErasuresInProgress {
  /** Notes the erasure, leased for `leaseMs`; nothing if it is already noted (its lease is not renewed). */
  abstract begin(profileId: string, erasureId: string, leaseMs: number): Promise<void>;
  /**
   * Renews the erasure's lease if it still carries itself out, and with it (all or none) the leases of the
   * erasures `tookOver` it carries out; false once a retry took any of them over or one ended.
   */
  abstract hold(profileId: string, erasureId: string, leaseMs: number, tookOver?: readonly string[]): Promise<boolean>;
  /**
   * Gives an erasure whose lease ran out to the retry `by`, leased again; false if it is leased or not `from`'s
   * any more (another retry took it first, or it ended).
   */
  abstract takeOver(profileId: string, erasureId: string, from: string, by: string, leaseMs: number): Promise<boolean>;
  /**
   * Ends the leases of the erasures `owner` carries out among `erasureIds` (each on its own: those another took
   * since are left), so a retry takes them over at once: `owner` failed, or refused to run.
   */
  abstract release(profileId: string, owner: string, erasureIds: readonly string[]): Promise<void>;
  /** Notes the fence of an erasure whose lease ran out, if it still has none and is still `owner`'s. */
  abstract recordFence(
    profileId: string,
    erasureId: string,
    owner: string,
    fence: { partition: number; offset: string },
  ): Promise<boolean>;
  /**
   * Removes the note if `owner` still carries the erasure out: a caller acting on an older read must not end an
   * erasure a retry took over since (that retry's next renewal would fail, and it stops).
   */
  abstract end(profileId: string, erasureId: string, owner: string): Promise<void>;
  /** The profile's erasures in progress, as every conditional write applied so far left them. */
  abstract of(profileId: string): Promise<ErasureInProgress[]>;
  /** Every erasure in progress (the sweep's walk). */
  abstract all(): AsyncIterable<ErasureInProgress>;
}

const COLUMNS = 'profile_id, erasure_id, owner, lease, fence_partition, fence_offset';

@Injectable()
export class CassandraErasuresInProgress extends ErasuresInProgress {
  private readonly table: string;

  constructor(
    @Inject(CASSANDRA_CLIENT) private readonly client: Client,
    private readonly config: AppConfig,
  ) {
    super();
    this.table = `${config.profileKeys.keyspace}.profile_erasures_in_progress`;
  }

  async begin(profileId: string, erasureId: string, leaseMs: number): Promise<void> {
    // One conditional batch: the row and its lease, or nothing (a row already there keeps its lease).
    await this.batch([
      {
        query: `INSERT INTO ${this.table} (profile_id, erasure_id, owner, started_at) VALUES (?, ?, ?, ?) IF NOT EXISTS`,
        params: [profileId, erasureId, erasureId, new Date()],
      },
      this.leaseStatement(profileId, erasureId, leaseMs),
    ]);
  }

  async hold(
    profileId: string,
    erasureId: string,
    leaseMs: number,
    tookOver: readonly string[] = [],
  ): Promise<boolean> {
    // A row gone (ended, by a retry that took it over) has no owner: not applied, never brought back. One
    // conditional batch (the rows share the profile's partition): the leases run out together or not at all.
    const renewals = [erasureId, ...tookOver].map((id) => {
      const lease = this.leaseStatement(profileId, id, leaseMs);
      return { query: `${lease.query} IF owner = ?`, params: [...lease.params, erasureId] };
    });
    return this.applied(
      renewals.length === 1 ? await this.execute(renewals[0].query, renewals[0].params) : await this.batch(renewals),
    );
  }

  async takeOver(profileId: string, erasureId: string, from: string, by: string, leaseMs: number): Promise<boolean> {
    return this.applied(
      await this.batch([
        {
          query: `UPDATE ${this.table} SET owner = ? WHERE profile_id = ? AND erasure_id = ? IF owner = ? AND lease = null`,
          params: [by, profileId, erasureId, from],
        },
        this.leaseStatement(profileId, erasureId, leaseMs),
      ]),
    );
  }

  async release(profileId: string, owner: string, erasureIds: readonly string[]): Promise<void> {
    for (const erasureId of erasureIds) {
      await this.execute(`UPDATE ${this.table} SET lease = null WHERE profile_id = ? AND erasure_id = ? IF owner = ?`, [
        profileId,
        erasureId,
        owner,
      ]);
    }
  }

  async recordFence(
    profileId: string,
    erasureId: string,
    owner: string,
    fence: { partition: number; offset: string },
  ): Promise<boolean> {
    return this.applied(
      await this.execute(
        `UPDATE ${this.table} SET fence_partition = ?, fence_offset = ? WHERE profile_id = ? AND erasure_id = ? ` +
          `IF owner = ? AND lease = null AND fence_offset = null`,
        [fence.partition, fence.offset, profileId, erasureId, owner],
      ),
    );
  }

  async end(profileId: string, erasureId: string, owner: string): Promise<void> {
    await this.execute(`DELETE FROM ${this.table} WHERE profile_id = ? AND erasure_id = ? IF owner = ?`, [
      profileId,
      erasureId,
      owner,
    ]);
  }

  async of(profileId: string): Promise<ErasureInProgress[]> {
    // A Paxos read (LOCAL_SERIAL): every write here is conditional, so it sees each one applied (whatever the
    // configured read consistency), and an erasure decides whether another runs on what is there.
    const result = await withStorageErrors(() =>
      this.client.execute(`SELECT ${COLUMNS} FROM ${this.table} WHERE profile_id = ?`, [profileId], {
        prepare: true,
        consistency: types.consistencies.localSerial,
      }),
    );
    return result.rows.map(inProgress);
  }

  async *all(): AsyncIterable<ErasureInProgress> {
    let pageState: string | undefined;
    do {
      const result = await withStorageErrors(() =>
        this.client.execute(`SELECT ${COLUMNS} FROM ${this.table}`, [], {
          ...readingOptions(this.config),
          fetchSize: 500,
          pageState,
        }),
      );
      yield* result.rows.map(inProgress);
      pageState = result.pageState ?? undefined;
    } while (pageState);
  }

  /**
   * The lease is a cell Cassandra expires (TTL): the clock that writes it judges it; its value is for operators.
   * A new lease drops the fence: the erasure may put its mark after the end read before.
   */
  private leaseStatement(profileId: string, erasureId: string, leaseMs: number) {
    return {
      query:
        `UPDATE ${this.table} USING TTL ? SET lease = ?, fence_partition = null, fence_offset = null ` +
        `WHERE profile_id = ? AND erasure_id = ?`,
      params: [
        Math.max(1, Math.ceil(leaseMs / 1000)),
        new Date(Date.now() + leaseMs),
        profileId,
        erasureId,
      ] as unknown[],
    };
  }

  private applied(result: types.ResultSet): boolean {
    return result.first().get('[applied]') === true;
  }

  private execute(query: string, params: unknown[]) {
    return withStorageErrors(() => this.client.execute(query, params, conditionalOptions(this.config)));
  }

  private batch(queries: { query: string; params: unknown[] }[]) {
    return withStorageErrors(() => this.client.batch(queries, conditionalOptions(this.config)));
  }
}

function inProgress(row: types.Row): ErasureInProgress {
  return {
    profileId: String(row.get('profile_id')),
    erasureId: String(row.get('erasure_id')),
    owner: String(row.get('owner')),
    leased: row.get('lease') !== null,
    fence:
      row.get('fence_offset') === null
        ? null
        : { partition: Number(row.get('fence_partition')), offset: String(row.get('fence_offset')) },
  };
}
