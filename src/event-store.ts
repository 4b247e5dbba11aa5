import type { Kysely } from 'kysely'
import type pg from 'pg'
import {
  handleCommand as handleOn,
  loadAggregate as loadOn,
  type AnyAggregate,
  type CommandOf,
  type HandleOptions,
  type HandleResult,
  type LoadOptions,
  type LoadResult,
} from './aggregates/index.js'
import {
  createConsumerGroup,
  createTaskQueue,
  type ConsumerGroup,
  type ConsumerGroupOptions,
  type TaskQueue,
  type TaskQueueOptions,
} from './consumers/index.js'
import type { EventRegistry, EventTypes } from './events/index.js'
import type { MigrateOptions, MigrateResult } from './migrate/index.js'
import type { StrataLogger, Telemetry } from './observability/index.js'
import {
  StoreProjections,
  type ProjectionRunner,
  type ProjectionDefinition,
  type ProjectionFailure,
  type ProjectionStatus,
  type RunnableProjection,
  type RunProjectionOptions,
} from './projections/index.js'
import {
  relayStatus,
  startRelay,
  type Relay,
  type RelayOptions,
  type RelayStatus,
} from './relay/index.js'
import {
  StoreCore,
  type AppendableEvent,
  type AppendOptions,
  type AppendResult,
  type DeleteStreamOptions,
  type EventStoreOptions,
  type FilterableType,
  type ReadAllOptions,
  type ReadAllResult,
  type ReadStreamOptions,
  type ScavengeOptions,
  type ScavengeResult,
  type StoreConnection,
  type StoredEvent,
  type EventOfType,
  type StreamAppend,
  type StreamInfo,
  type StreamMetadata,
  type StreamWriteOptions,
} from './store/index.js'
import {
  checkpointsOf,
  subscribeToAll,
  subscribeToCategory,
  subscribeToStream,
  type CheckpointStore,
  type EventSubscription,
  type SubscribeToAllOptions,
  type SubscribeToCategoryOptions,
  type SubscribeToStreamOptions,
} from './subscriptions/index.js'

export type { EventStoreOptions, ReplicaOptions, StoreConnection } from './store/index.js'

/**
 * Opens an event store on Postgres. Call {@link EventStore.migrate} once (at deploy or start) to
 * create or upgrade its schema.
 *
 * @example
 * const store = createEventStore({ connectionString: process.env.DATABASE_URL! }, {
 *   events: { Deposited: z.object({ amount: z.number().positive() }) },
 * })
 * await store.migrate()
 * await store.appendToStream('account-1', [{ type: 'Deposited', data: { amount: 10 } }])
 *
 * @throws ConfigError for an invalid schema name or option.
 */
export function createEventStore<
  const R extends EventRegistry = Record<never, never>,
  Open extends boolean = false,
>(connection: StoreConnection, options: EventStoreOptions<R, Open> = {}): EventStore<R, Open> {
  return new EventStore<R, Open>(connection, options)
}

/**
 * The user-facing store: the core (src/store/) with the capabilities built on it, typed by the
 * event registry. It only composes; each method delegates to the layer that owns it.
 */
export class EventStore<
  R extends EventRegistry = Record<never, never>,
  Open extends boolean = false,
> {
  /** The Postgres schema holding the store's tables. */
  readonly schema: string
  /** The pool the store runs on (yours, or the one it opened). */
  readonly pool: pg.Pool
  /** @internal The store the capabilities run on. */
  readonly core: StoreCore
  readonly #projections: StoreProjections

  constructor(connection: StoreConnection, options: EventStoreOptions<R, Open> = {}) {
    this.core = new StoreCore(connection, options)
    this.schema = this.core.schema
    this.pool = this.core.pool
    this.#projections = new StoreProjections(this.core)
  }

  /** @internal The event registry reads and appends go through. */
  get eventTypes(): EventTypes {
    return this.core.eventTypes
  }

  /** @internal The logger given in the options (silent by default). */
  get logger(): StrataLogger {
    return this.core.logger
  }

  /** @internal Spans and metrics. */
  get telemetry(): Telemetry {
    return this.core.telemetry
  }

  /**
   * Creates or upgrades the store's schema: the numbered files of migrations/, each in its own
   * transaction under an advisory lock. Safe to call from many processes at once.
   * @throws MigrationChecksumError when an applied migration file has changed.
   */
  async migrate(options: MigrateOptions = {}): Promise<MigrateResult> {
    return this.core.migrate(options)
  }

  /** @internal Resolves once the schema is usable (checked, or migrated with `migrate: 'auto'`). */
  async ready(): Promise<void> {
    return this.core.ready()
  }

  /** The SQL that migrate() would run, for a DBA to review (`strata migrate --print`). */
  async migrationScript(): Promise<string> {
    return this.core.migrationScript()
  }

  /** @throws SchemaOutdatedError when migrations are missing. */
  async assertSchemaCurrent(): Promise<void> {
    return this.core.assertSchemaCurrent()
  }

  // ---- streams (src/store/) ---------------------------------------------------------------

  /**
   * Appends events to a stream, atomically, with consecutive versions.
   *
   * A retry of the same append (same ids, stream, order and content) returns the original result
   * and writes nothing, whatever the expectedVersion. Transient connection failures are retried
   * internally the same way, so a commit whose reply was lost is never written twice.
   *
   * @throws WrongExpectedVersionError when the stream is not at expectedVersion (nothing written).
   * @throws DuplicateEventError when an event id is already stored with other content or elsewhere.
   * @throws StreamDeletedError when the stream is tombstoned.
   * @throws EventValidationError, UnknownEventTypeError, EventSerializationError,
   *   InvalidStreamIdError, InvalidExpectedVersionError, InvalidArgumentError before any SQL.
   */
  async appendToStream(
    streamId: string,
    events: ReadonlyArray<AppendableEvent<R, Open>>,
    options: AppendOptions = {},
  ): Promise<AppendResult> {
    return this.core.appendToStream(streamId, events, options)
  }

  /**
   * Appends to several streams in one transaction: all or nothing. Each entry has its own
   * expectedVersion. Positions follow the order of the entries.
   * @throws as appendToStream; the first failing entry's error, and nothing is written.
   */
  async appendToStreams(
    appends: ReadonlyArray<StreamAppend<AppendableEvent<R, Open>>>,
    options: Pick<AppendOptions, 'transaction'> = {},
  ): Promise<AppendResult[]> {
    return this.core.appendToStreams(appends, options)
  }

  /**
   * Reads a stream's events in version order (forward from `from`, default 1; or backward from
   * `from`, default the last). Honours the stream's retention metadata and deletion: a deleted
   * stream reads as empty.
   */
  async readStream(
    streamId: string,
    options: ReadStreamOptions = {},
  ): Promise<Array<StoredEvent<R, Open>>> {
    return this.core.readStream(streamId, options) as Promise<Array<StoredEvent<R, Open>>>
  }

  /**
   * Reads $all: events with position > `after`, in strictly increasing position, optionally
   * filtered by event types, category or stream-id prefix. Never skips an event that commits
   * later with a lower position: such events are waited for (up to maxWaitMs) or held back.
   * Returns `{ events, lastPosition, isEnd }`; continue with `after: lastPosition`.
   */
  async readAll<const T extends FilterableType<R, Open> = FilterableType<R, Open>>(
    options: ReadAllOptions<T> = {},
  ): Promise<ReadAllResult<EventOfType<StoredEvent<R, Open>, T>>> {
    return this.core.readAll(options) as Promise<
      ReadAllResult<EventOfType<StoredEvent<R, Open>, T>>
    >
  }

  /** Version, dates, deletion state and metadata of a stream (a stream never written reads as empty). */
  async getStreamInfo(streamId: string): Promise<StreamInfo> {
    return this.core.getStreamInfo(streamId)
  }

  /**
   * Sets a stream's retention (maxCount, maxAgeSeconds, truncateBefore) and custom metadata,
   * replacing what was there. Reads honour retention at once; scavenge() removes the events.
   * truncateBefore never goes below what a delete hid. With `transaction`, the change commits
   * (or rolls back) with the caller's transaction.
   * @throws StreamDeletedError for a tombstoned stream.
   */
  async setStreamMetadata(
    streamId: string,
    metadata: StreamMetadata,
    options: StreamWriteOptions = {},
  ): Promise<void> {
    return this.core.setStreamMetadata(streamId, metadata, options)
  }

  /**
   * Soft-deletes a stream: reads return nothing, $all keeps its events, and the next append
   * starts it again (versions continue). scavenge() removes the events. With `transaction`, the
   * delete commits (or rolls back) with the caller's transaction.
   * @throws WrongExpectedVersionError, StreamDeletedError (tombstoned).
   */
  async deleteStream(streamId: string, options: DeleteStreamOptions = {}): Promise<void> {
    return this.core.deleteStream(streamId, 'soft', options)
  }

  /**
   * Tombstones a stream: it can never be written again (appends throw StreamDeletedError) and
   * reads return nothing. scavenge() removes its events. With `transaction`, as deleteStream.
   */
  async tombstoneStream(streamId: string, options: DeleteStreamOptions = {}): Promise<void> {
    return this.core.deleteStream(streamId, 'tombstone', options)
  }

  /**
   * Physically deletes the events that retention and deletion hide. The only operation that
   * deletes events.
   */
  async scavenge(options: ScavengeOptions = {}): Promise<ScavengeResult> {
    return this.core.scavenge(options)
  }

  /** The last position handed out so far (it may belong to an append still in flight). */
  async headPosition(): Promise<bigint> {
    return this.core.headPosition()
  }

  /**
   * Stops every consumer, projection runner and subscription of the store (as their own stop()
   * would: finished work acked, prefetched deliveries released), then refuses new work and ends
   * the pool if the store opened it. Idempotent.
   */
  async close(): Promise<void> {
    await this.core.close()
  }

  get closed(): boolean {
    return this.core.closed
  }

  // ---- subscriptions (src/subscriptions/) ------------------------------------------------

  /**
   * $all from a position (exclusive), a time, the start or the end: catch-up in pages, then
   * live. Strictly increasing positions, nothing skipped, nothing repeated, across dropped
   * connections and restarts. An Observable and an async iterable; see docs/subscriptions.md.
   * @throws InvalidArgumentError for bad options (before anything runs).
   */
  subscribeToAll<const T extends FilterableType<R, Open> = FilterableType<R, Open>>(
    options: SubscribeToAllOptions<T> = {},
  ): EventSubscription<EventOfType<StoredEvent<R, Open>, T>> {
    this.core.assertOpen()
    return subscribeToAll(this.core, options)
  }

  /** The events of one category (stream ids `<category>-…`), catch-up then live. */
  subscribeToCategory<const T extends FilterableType<R, Open> = FilterableType<R, Open>>(
    category: string,
    options: SubscribeToCategoryOptions<T> = {},
  ): EventSubscription<EventOfType<StoredEvent<R, Open>, T>> {
    this.core.assertOpen()
    return subscribeToCategory(this.core, category, options)
  }

  /** One stream in version order, catch-up then live; `from` is a version (exclusive). */
  subscribeToStream(
    streamId: string,
    options: SubscribeToStreamOptions = {},
  ): EventSubscription<StoredEvent<R, Open>> {
    this.core.assertOpen()
    return subscribeToStream(this.core, streamId, options)
  }

  /** Positions of durable subscriptions, by name. */
  get checkpoints(): CheckpointStore {
    return checkpointsOf(this.core)
  }

  // ---- projections (src/projections/) ---------------------------------------------------

  /**
   * Runs a projection: applies $all to its read model, exactly one runner per projection
   * version across processes (the others stand by and take over within `leaseMs` when it dies).
   * A new version builds beside the serving one and takes over once caught up.
   * See docs/projections.md.
   */
  runProjection(
    projection: RunnableProjection,
    options: RunProjectionOptions = {},
  ): ProjectionRunner {
    this.core.assertOpen()
    return this.#projections.run(projection, options)
  }

  /**
   * Applies a projection inline: inside the transaction of every append (through this store)
   * of an event type it handles, so its read model is current when the append returns.
   * Sets up its tables and makes this version the serving one.
   */
  async addInlineProjection(projection: RunnableProjection): Promise<void> {
    this.core.assertOpen()
    await this.#projections.addInline(projection)
  }

  /** Status and lag of every version of a projection (or of all projections). */
  async projectionStatus(name?: string): Promise<ProjectionStatus[]> {
    this.core.assertOpen()
    return this.#projections.status(name)
  }

  /** The events a projection version skipped or stopped on, with their errors. */
  async projectionFailures(
    name: string,
    version: number,
    limit?: number,
  ): Promise<ProjectionFailure[]> {
    this.core.assertOpen()
    return this.#projections.failures(name, version, limit)
  }

  /** Pauses a projection's runners (every version unless one is named). */
  async pauseProjection(name: string, options: { version?: number } = {}): Promise<void> {
    this.core.assertOpen()
    await this.#projections.setPaused(name, options.version, true)
  }

  async resumeProjection(name: string, options: { version?: number } = {}): Promise<void> {
    this.core.assertOpen()
    await this.#projections.setPaused(name, options.version, false)
  }

  /**
   * Replays a projection version from a position (exclusive) or a time: its tables are dropped
   * and rebuilt by its runner. To rebuild without downtime, bump the version instead.
   */
  async resetProjection(
    name: string,
    options: { version: number; from?: bigint | Date },
  ): Promise<void> {
    this.core.assertOpen()
    await this.#projections.reset(name, options.version, options.from ?? 0n)
  }

  /**
   * Kysely on the serving (active) version of a projection's tables, or null when no version is
   * active yet. (SQL users can read the views in schema `<name>` instead.)
   */
  async readModel<DB>(
    projection: ProjectionDefinition<EventRegistry, DB> | string,
  ): Promise<Kysely<DB> | null> {
    this.core.assertOpen()
    return this.#projections.readModel(projection)
  }

  // ---- consumer groups (src/consumers/) -------------------------------------------------

  /**
   * A consumer group over the log: competing consumers with acks, retries, dead letters,
   * leases and optional per-stream ordering. See docs/consumers.md.
   */
  consumerGroup<const T extends FilterableType<R, Open> = FilterableType<R, Open>>(
    name: string,
    options: ConsumerGroupOptions<StoredEvent<R, Open>, T>,
  ): ConsumerGroup<EventOfType<StoredEvent<R, Open>, T>> {
    this.core.assertOpen()
    // The group delivers only what its source selects, so the narrower event type is exact.
    return createConsumerGroup(this.core, name, options) as unknown as ConsumerGroup<
      EventOfType<StoredEvent<R, Open>, T>
    >
  }

  /** A task queue in SQS terms (send with delay and dedup key) on the consumer-group mechanism. */
  queue<Payload = unknown>(name: string, options: TaskQueueOptions = {}): TaskQueue<Payload> {
    this.core.assertOpen()
    return createTaskQueue<Payload>(this.core, name, options)
  }

  // ---- relays (src/relay/) ----------------------------------------------------------------

  /**
   * Relays $all (or the part a filter selects) to a NATS JetStream stream, exactly once and in
   * position order, as the one active instance of `options.name` (others stand by and take
   * over). Needs the optional NATS client packages. See docs/relay.md.
   * @throws ConfigError for bad options, before anything runs. Later failures arrive on `done`.
   */
  relay(options: RelayOptions): Relay {
    this.core.assertOpen()
    return startRelay(this.core, options)
  }

  /** Position, lag and active instance of every relay (or of one). */
  async relayStatus(name?: string): Promise<RelayStatus[]> {
    this.core.assertOpen()
    return relayStatus(this.core, name)
  }

  // ---- aggregates (src/aggregates/) ------------------------------------------------------

  /**
   * Handles a command on an aggregate: load, decide, append with the loaded version as
   * expectedVersion, retrying on conflicts. See docs/aggregates.md.
   * @throws as handleCommand: CommandValidationError, StreamDeletedError (tombstoned, before
   *   decide runs), UndeclaredEventTypeError, ConcurrencyRetriesExhaustedError, and decide's own.
   */
  async handle<A extends AnyAggregate>(
    aggregate: A,
    id: string,
    command: CommandOf<A>,
    options: HandleOptions = {},
  ): Promise<HandleResult<A>> {
    this.core.assertOpen()
    return handleOn(this.core, aggregate, id, command, options)
  }

  /**
   * Loads an aggregate's state, now or as of a version, position or time. See docs/aggregates.md.
   * @throws StreamDeletedError (tombstoned), SnapshotRequiredError, InvalidArgumentError.
   */
  async load<A extends AnyAggregate>(
    aggregate: A,
    id: string,
    options: LoadOptions = {},
  ): Promise<LoadResult<A>> {
    this.core.assertOpen()
    return loadOn(this.core, aggregate, id, options)
  }
}
