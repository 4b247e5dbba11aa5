import type pg from 'pg'
import { int8ArrayLiteral, toBigInt, uuidArrayLiteral, type SqlExecutor } from '../db/index.js'
import type { EventRow } from '../store/index.js'
import type { GroupDefinition } from './options.js'
import type { StartPoint } from './positions.js'
import type { ConsumerSql } from './sql.js'
import type { ConsumerInfo, DeliveryError } from './types.js'

/** A consumer_groups row as ensure returns it. */
export interface GroupRow {
  readonly id: number
  readonly name: string
  readonly source_category: string | null
  readonly source_event_types: string[] | null
  readonly source_stream_ids: string[] | null
  readonly source_stream_prefix: string | null
  readonly strategy: 'round-robin' | 'per-stream'
  readonly hold_parked_streams: boolean
  readonly cursor_position: string
}

export type AdmitStatus = 'missing' | 'idle' | 'full' | 'busy' | 'waiting' | 'admitted' | 'more'

export interface AdmitResult {
  readonly status: AdmitStatus
  readonly admitted: number
}

/** A claimed message: its lease facts and its event's columns (null when scavenged). */
export interface ClaimedRow {
  readonly position: bigint
  readonly attempts: number
  readonly lastError: DeliveryError | undefined
  /** The event as stored, or undefined when scavenge removed it since admission. */
  readonly event: EventRow | undefined
}

export interface ClaimResult {
  readonly rows: readonly ClaimedRow[]
  /** When fewer were claimed than asked: ms until the next message is scheduled, if any. */
  readonly waitMs: number | undefined
}

/** A lease to act on: the message's position and the token it was claimed with. */
export interface LeaseRef {
  readonly position: bigint
  readonly token: string
}

export interface RetryRequest extends LeaseRef {
  readonly delayMs: number
  readonly error: DeliveryError | undefined
  /** Take back the attempt: the delivery never reached user code. */
  readonly uncount: boolean
}

export interface StatusRow {
  readonly cursor_position: string
  readonly head: string
  readonly in_flight: string
  readonly retrying: string
  readonly pending: string
  readonly delayed: string
  readonly parked: string
}

export interface ParkedRow {
  readonly position: string
  readonly stream_id: string
  readonly attempts: number
  readonly park_reason: string | null
  readonly last_error: DeliveryError | null
  readonly parked_at: Date
  readonly delivered_at: Date | null
  readonly version: string | null
  readonly id: string | null
  readonly type: string | null
  readonly data: unknown
  readonly metadata: Record<string, unknown> | null
  readonly data_version: number | null
  readonly created_at: Date | null
}

interface RawClaimRow {
  position: string | null
  attempts: number | null
  last_error: DeliveryError | null
  stream_id: string | null
  version: string | null
  id: string | null
  type: string | null
  data: unknown
  metadata: EventRow['metadata'] | null
  data_version: number | null
  created_at: Date | null
  wait_ms: number | null
}

/** The columns of an events row as a LEFT JOIN returns them (nullable). */
interface JoinedEventColumns {
  readonly stream_id: string | null
  readonly version: string | null
  readonly type: string | null
  readonly data: unknown
  readonly metadata: EventRow['metadata'] | null
  readonly data_version: number | null
  readonly created_at: Date | null
}

/**
 * An event row from the nullable columns of a LEFT JOIN on the events table that found the event
 * (`position` and `id`, checked by the caller, are not null).
 */
export function joinedEventRow(row: JoinedEventColumns, position: string, id: string): EventRow {
  return {
    position,
    stream_id: row.stream_id!,
    version: row.version!,
    id,
    type: row.type!,
    data: row.data,
    metadata: row.metadata ?? {},
    data_version: row.data_version ?? 1,
    created_at: row.created_at!,
  }
}

/**
 * Typed calls of the consumer-group statements (src/consumers/sql.ts) on the store's pool.
 * Every method is one round trip.
 */
export class GroupDb {
  constructor(
    private readonly pool: pg.Pool,
    /** The pool sending named prepared statements: admission, claims, acks, retries, heartbeats. */
    private readonly statements: SqlExecutor,
    readonly sql: ConsumerSql,
  ) {}

  async ensure(name: string, definition: GroupDefinition, start: StartPoint): Promise<GroupRow> {
    const { rows } = await this.pool.query<GroupRow>(this.sql.ensure, [
      name,
      definition.category,
      definition.eventTypes,
      definition.streamIds,
      definition.streamPrefix,
      definition.strategy,
      definition.holdParkedStreams,
      start.kind,
      start.position?.toString() ?? null,
      start.time,
    ])
    const row = rows[0]
    if (row === undefined) throw new Error(`consumer_group_ensure returned no row for ${name}`)
    return row
  }

  async admit(
    groupId: number,
    windowSize: number,
    scanLimit: number,
    maxWaitMs: number,
  ): Promise<AdmitResult> {
    const { rows } = await this.statements.query<{ status: AdmitStatus; admitted: number }>(
      this.sql.admit,
      [groupId, windowSize, scanLimit, maxWaitMs],
    )
    return { status: rows[0]?.status ?? 'missing', admitted: rows[0]?.admitted ?? 0 }
  }

  async claim(
    groupId: number,
    consumerId: string,
    token: string,
    limit: number,
    leaseMs: number,
    perStream: boolean,
    hold: boolean,
    maxInFlight: number | null,
    maxPerSecond: number | null,
  ): Promise<ClaimResult> {
    const { rows } = await this.statements.query<RawClaimRow>(this.sql.claim, [
      groupId,
      consumerId,
      token,
      limit,
      leaseMs,
      perStream,
      hold,
      maxInFlight,
      maxPerSecond,
    ])
    // A row per claimed message with its event's columns (migrations/0008; id null when the
    // event was scavenged), then maybe the wait row (position null).
    const claimed: ClaimedRow[] = []
    let waitMs: number | undefined
    for (const row of rows) {
      if (row.position === null) {
        waitMs = row.wait_ms ?? undefined
        continue
      }
      claimed.push({
        position: toBigInt(row.position),
        attempts: row.attempts!,
        lastError: row.last_error ?? undefined,
        event: row.id === null ? undefined : joinedEventRow(row, row.position, row.id),
      })
    }
    return { rows: claimed, waitMs }
  }

  async ack(groupId: number, leases: readonly LeaseRef[]): Promise<Set<bigint>> {
    const { rows } = await this.statements.query<{ position: string }>(this.sql.ack, [
      groupId,
      int8ArrayLiteral(leases.map((l) => l.position)),
      uuidArrayLiteral(leases.map((l) => l.token)),
    ])
    return new Set(rows.map((r) => toBigInt(r.position)))
  }

  async retry(groupId: number, requests: readonly RetryRequest[]): Promise<Set<bigint>> {
    const { rows } = await this.statements.query<{ position: string }>(this.sql.retry, [
      groupId,
      requests.map((r) => r.position.toString()),
      requests.map((r) => r.token),
      requests.map((r) => Math.max(0, Math.round(r.delayMs))),
      requests.map((r) => (r.error === undefined ? null : JSON.stringify(r.error))),
      requests.map((r) => r.uncount),
    ])
    return new Set(rows.map((r) => toBigInt(r.position)))
  }

  async heartbeat(
    groupId: number,
    consumerId: string,
    label: string,
    concurrency: number,
    ttlMs: number,
    leases: readonly LeaseRef[],
    leaseMs: number,
  ): Promise<Set<bigint>> {
    const { rows } = await this.statements.query<{ position: string }>(this.sql.heartbeat, [
      groupId,
      consumerId,
      label,
      concurrency,
      ttlMs,
      leases.map((l) => l.position.toString()),
      leases.map((l) => l.token),
      leaseMs,
    ])
    return new Set(rows.map((r) => toBigInt(r.position)))
  }

  async vacuum(): Promise<void> {
    await this.pool.query(this.sql.vacuum)
  }

  async unregister(groupId: number, consumerId: string): Promise<void> {
    await this.pool.query(this.sql.unregister, [groupId, consumerId])
  }

  async park(
    groupId: number,
    position: bigint,
    token: string | null,
    reason: string,
    error: DeliveryError | undefined,
  ): Promise<boolean> {
    const { rows } = await this.pool.query<{ parked: boolean }>(this.sql.park, [
      groupId,
      position.toString(),
      token,
      reason,
      error === undefined ? null : JSON.stringify(error),
    ])
    return rows[0]?.parked === true
  }

  async unpark(groupId: number, positions: readonly bigint[] | null, discard: boolean) {
    const { rows } = await this.pool.query<{ count: number }>(this.sql.unpark, [
      groupId,
      positions === null ? null : positions.map((p) => p.toString()),
      discard,
    ])
    return rows[0]?.count ?? 0
  }

  async reset(groupId: number, start: StartPoint) {
    const { rows } = await this.pool.query<{ cursor_position: string; removed: number }>(
      this.sql.reset,
      [groupId, start.kind, start.position?.toString() ?? null, start.time],
    )
    const row = rows[0]
    return row === undefined
      ? undefined
      : { cursor: toBigInt(row.cursor_position), removed: row.removed }
  }

  /** The group's source before the change and its position; undefined when there is no group. */
  async changeSource(
    name: string,
    definition: GroupDefinition,
  ): Promise<{ before: GroupDefinition; cursor: bigint } | undefined> {
    const { rows } = await this.pool.query<{
      old_category: string | null
      old_event_types: string[] | null
      old_stream_ids: string[] | null
      old_stream_prefix: string | null
      cursor_position: string
    }>(this.sql.changeSource, [
      name,
      definition.category,
      definition.eventTypes,
      definition.streamIds,
      definition.streamPrefix,
    ])
    const row = rows[0]
    if (row === undefined) return undefined
    return {
      before: {
        ...definition,
        category: row.old_category,
        eventTypes: row.old_event_types,
        streamIds: row.old_stream_ids,
        streamPrefix: row.old_stream_prefix,
      },
      cursor: toBigInt(row.cursor_position),
    }
  }

  async delete(name: string): Promise<boolean> {
    const { rows } = await this.pool.query<{ existed: boolean }>(this.sql.delete, [name])
    return rows[0]?.existed === true
  }

  async status(groupId: number): Promise<StatusRow | undefined> {
    const { rows } = await this.pool.query<StatusRow>(this.sql.status, [groupId])
    return rows[0]
  }

  async consumers(groupId: number): Promise<ConsumerInfo[]> {
    const { rows } = await this.pool.query<{
      consumer_id: string
      label: string
      concurrency: number
      started_at: Date
      last_seen_at: Date
    }>(this.sql.consumers, [groupId])
    return rows.map((r) => ({
      id: r.consumer_id,
      label: r.label,
      concurrency: r.concurrency,
      startedAt: r.started_at,
      lastSeenAt: r.last_seen_at,
    }))
  }

  async listParked(
    groupId: number,
    after: bigint,
    limit: number,
    streamId: string | null,
  ): Promise<ParkedRow[]> {
    const { rows } = await this.pool.query<ParkedRow>(this.sql.listParked, [
      groupId,
      after.toString(),
      limit,
      streamId,
    ])
    return rows
  }

  async inspectParked(groupId: number, position: bigint): Promise<ParkedRow | undefined> {
    const { rows } = await this.pool.query<ParkedRow>(this.sql.inspectParked, [
      groupId,
      position.toString(),
    ])
    return rows[0]
  }

  async countParked(groupId: number): Promise<number> {
    const { rows } = await this.pool.query<{ count: string }>(this.sql.countParked, [groupId])
    return Number(rows[0]?.count ?? 0)
  }

  /** Positions of events by id (ids not found are absent from the map). */
  async positionsOfIds(ids: readonly string[]): Promise<Map<string, bigint>> {
    if (ids.length === 0) return new Map()
    const { rows } = await this.pool.query<{ id: string; position: string }>(
      this.sql.positionsOfIds,
      [ids],
    )
    return new Map(rows.map((r) => [r.id, toBigInt(r.position)]))
  }
}
