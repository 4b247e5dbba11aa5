import type { ExternalTransaction } from '../db/index.js'
import type { EventDataOf, EventInputOf, EventRegistry, EventTypeOf } from '../events/index.js'

/**
 * Event metadata. `correlationId` and `causationId` are first-class (typed, checked to be strings);
 * any other JSON keys pass through unchanged.
 */
export interface EventMetadata {
  correlationId?: string
  causationId?: string
  [key: string]: unknown
}

/** An event to append. `id` (a uuid) is generated when absent; pass it to make retries idempotent. */
export interface NewEvent<Type extends string = string, Data = unknown> {
  type: Type
  data: Data
  metadata?: EventMetadata
  id?: string
}

/** An event as stored. `version` is its place in its stream (from 1), `position` in $all. */
export interface RecordedEvent<Type extends string = string, Data = unknown> {
  readonly id: string
  readonly streamId: string
  readonly version: bigint
  readonly position: bigint
  readonly type: Type
  readonly data: Data
  readonly metadata: EventMetadata
  readonly createdAt: Date
}

/**
 * What the stream's version must be for an append to go ahead:
 * - `'any'`: no check (the default);
 * - `'no_stream'`: the stream has no events (or was soft-deleted);
 * - `'stream_exists'`: the stream has at least one event and is not deleted;
 * - a bigint: exactly this version (`0n` is the same as `'no_stream'`).
 */
export type ExpectedVersion = 'any' | 'no_stream' | 'stream_exists' | bigint

export interface AppendResult {
  readonly streamId: string
  /** The stream's version after the append: pass it as expectedVersion to append again. */
  readonly nextExpectedVersion: bigint
  /** Global position of the last event written. */
  readonly position: bigint
  /**
   * A WAL position at or after the append's commit on the primary (`pg_current_wal_insert_lsn()`
   * read once the commit returned), when the store has `replicas`: pass it as `minLsn` to a
   * replica read to see this append there. Absent without replicas, and for appends inside the
   * caller's transaction (their commit is the caller's).
   */
  readonly commitLsn?: string
}

export interface AppendOptions {
  expectedVersion?: ExpectedVersion
  /**
   * Append inside the caller's transaction (a kysely Transaction or a pg client after BEGIN):
   * the events commit or roll back with the caller's own writes.
   */
  transaction?: ExternalTransaction
}

/** Options of the stream writes other than appends (metadata, deletes). */
export interface StreamWriteOptions {
  /** Write inside the caller's transaction (a kysely Transaction or a pg client after BEGIN). */
  transaction?: ExternalTransaction
}

export interface DeleteStreamOptions extends StreamWriteOptions {
  expectedVersion?: ExpectedVersion
}

export interface StreamAppend<E> {
  streamId: string
  events: readonly E[]
  expectedVersion?: ExpectedVersion
}

/**
 * Which server a read runs on: the primary, or one of the store's `replicas` (see
 * EventStoreOptions.replicas and docs/guarantees.md, "Reading from replicas").
 */
export type ReadFrom = 'primary' | 'replica'

/** Where a read may run, for reads that can be served by a replica. */
export interface ReadRouting {
  /**
   * The primary or a replica. Default: `replicas.readAllFrom` for $all reads (subscriptions,
   * projections, readAll), `replicas.readStreamFrom` for stream reads and loads; the primary
   * when the store has no replicas.
   */
  readFrom?: ReadFrom
  /**
   * Read-your-writes on a replica: wait until the replica has replayed this WAL position (an
   * append's `commitLsn`) before reading, up to `replicas.maxLagMs`; then the read falls back
   * to the primary or fails with ReplicaLagError (`replicas.fallback`). Ignored on the primary.
   */
  minLsn?: string
}

export interface ReadStreamOptions extends ReadRouting {
  /** First version to read (forward: default 1; backward: default the last). */
  from?: bigint
  direction?: 'forward' | 'backward'
  /** At most this many events (default: all). */
  limit?: number
}

/** Which events a $all read returns. All given criteria must hold. */
export interface AllFilter<Type extends string = string> {
  /** Only events of these types. */
  eventTypes?: readonly Type[]
  /** Only events of this category: the stream id up to its first '-' ('account' for 'account-42'). */
  category?: string
  /** Only events whose stream id starts with this prefix. */
  streamIdPrefix?: string
}

export interface ReadAllOptions<Type extends string = string> extends ReadRouting {
  /** Return events with position > after (exclusive). Default: from the start. */
  after?: bigint
  /** At most this many events (default 1000). */
  limit?: number
  filter?: AllFilter<Type>
  /**
   * How long to wait for in-flight appends to end when they may fill a gap (default 200 ms).
   * Events behind such a gap are held back, never skipped.
   */
  maxWaitMs?: number
}

/** A page of $all. */
export interface ReadAllResult<E> {
  /** Events in strictly increasing position. */
  readonly events: readonly E[]
  /**
   * Pass as `after` to continue. It can be past the last event returned: with a filter it moves
   * over the non-matching events that were scanned, so a checkpoint never rescans them.
   */
  readonly lastPosition: bigint
  /** True when the read reached the end of what is committed (no more events right now). */
  readonly isEnd: boolean
}

/** Retention and custom metadata of a stream (EventStoreDB's $maxCount, $maxAge, $tb). */
export interface StreamMetadata {
  /** Keep only the last N events visible to reads; scavenge removes the rest. */
  maxCount?: number | bigint | null
  /** Events older than this many seconds are hidden from reads; scavenge removes them. */
  maxAgeSeconds?: number | bigint | null
  /** Events with a version below this are hidden from reads; scavenge removes them. */
  truncateBefore?: bigint | number | null
  /** Any JSON object of your own. */
  custom?: Record<string, unknown>
}

export interface StreamInfo {
  readonly streamId: string
  /** Version of the last event (0n when none). Continues after a soft delete. */
  readonly version: bigint
  readonly exists: boolean
  readonly createdAt: Date | null
  readonly updatedAt: Date | null
  readonly deleted: 'no' | 'soft' | 'tombstoned'
  readonly metadata: {
    readonly maxCount: number | null
    readonly maxAgeSeconds: number | null
    /** Set by the caller, or by a delete (up to the last version it hid, plus one). */
    readonly truncateBefore: bigint | null
    readonly custom: Record<string, unknown>
  }
}

export interface ScavengeResult {
  /** Events physically removed. */
  readonly deletedEvents: number
  /** Streams whose events were removed. */
  readonly streams: number
}

/** Events typed by a registry: a union over the registered types, discriminated by `type`. */
export type TypedNewEvent<R extends EventRegistry> = {
  [K in EventTypeOf<R>]: NewEvent<K, EventInputOf<R, K>>
}[EventTypeOf<R>]

export type TypedRecordedEvent<R extends EventRegistry> = {
  [K in EventTypeOf<R>]: RecordedEvent<K, EventDataOf<R, K>>
}[EventTypeOf<R>]

/**
 * What `appendToStream` accepts: the registry's union, widened to any type when the store allows
 * unregistered types or has no registry.
 */
export type AppendableEvent<R extends EventRegistry, Open extends boolean> = [
  EventTypeOf<R>,
] extends [never]
  ? NewEvent
  : Open extends true
    ? TypedNewEvent<R> | NewEvent<string, unknown>
    : TypedNewEvent<R>

/** Event type names a $all filter takes: the registered ones, or any string for open stores. */
export type FilterableType<R extends EventRegistry, Open extends boolean> = [
  EventTypeOf<R>,
] extends [never]
  ? string
  : Open extends true
    ? string
    : EventTypeOf<R>

/**
 * The members of an event union `E` whose `type` is one of `T`: what a read, subscription or
 * group filtered by event types delivers. All of `E` when `T` is not narrower than `string`
 * (no filter, an open store, a store without a registry).
 */
export type EventOfType<E, T extends string> = string extends T
  ? E
  : [Extract<E, { readonly type: T }>] extends [never]
    ? E
    : Extract<E, { readonly type: T }>

/** What reads return: typed by `type` for registered types. */
export type StoredEvent<R extends EventRegistry, Open extends boolean> = [EventTypeOf<R>] extends [
  never,
]
  ? RecordedEvent
  : Open extends true
    ? TypedRecordedEvent<R> | RecordedEvent<string, unknown>
    : TypedRecordedEvent<R>
