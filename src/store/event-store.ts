import { setMaxListeners } from 'node:events'
import pg from 'pg'
import {
  handleCommand,
  loadAggregate,
  type AnyAggregate,
  type CommandOf,
  type HandleOptions,
  type HandleResult,
  type LoadOptions,
  type LoadResult,
} from '../aggregates/aggregate.js'
import {
  createConsumerGroup,
  createTaskQueue,
  type ConsumerGroup,
  type ConsumerGroupOptions,
  type TaskQueue,
  type TaskQueueOptions,
} from '../consumers/consumer-group.js'
import {
  clientExecutor,
  executorFor,
  inTransaction,
  type ExternalTransaction,
  type SqlExecutor,
} from '../db/executor.js'
import { checkSchemaName } from '../db/identifiers.js'
import { isTransientError } from '../db/pg-errors.js'
import { ConfigError, InvalidArgumentError, StoreClosedError } from '../errors.js'
import { EventTypes, type EventRegistry } from '../events/registry.js'
import {
  assertSchemaCurrent,
  migrate,
  migrationScript,
  type MigrateOptions,
  type MigrateResult,
} from '../migrate/migrator.js'
import {
  AppendBatcher,
  appendAtomically,
  type AppendOutcome,
  type PreparedAppend,
} from './append.js'
import { SafeHorizon } from './horizon.js'
import { AppendNotifier } from './notifier.js'
import type { Kysely } from 'kysely'
import { kyselyOnPool } from '../db/kysely.js'
import {
  projectionFailures,
  projectionStatus,
  resetProjection,
  setPaused,
  type ProjectionFailure,
  type ProjectionStatus,
} from '../projections/admin.js'
import type {
  AnyProjection,
  ProjectionDefinition,
  RunnableProjection,
} from '../projections/define-projection.js'
import { InlineProjections } from '../projections/inline.js'
import { ProjectionRunner, type RunProjectionOptions } from '../projections/projection-runner.js'
import { versionSchema } from '../projections/read-model.js'
import { projectionSql } from '../projections/sql.js'
import { CheckpointStore } from '../subscriptions/checkpoint-store.js'
import type { EventSubscription } from '../subscriptions/event-subscription.js'
import { NotificationListener } from '../subscriptions/notification-listener.js'
import {
  componentLogger,
  errorFields,
  silentLogger,
  type StrataLogger,
} from '../observability/logger.js'
import { Telemetry, type TelemetryOption } from '../observability/telemetry.js'
import {
  subscribeToAll,
  subscribeToCategory,
  subscribeToStream,
} from '../subscriptions/subscribe.js'
import type {
  SubscribeToAllOptions,
  SubscribeToCategoryOptions,
  SubscribeToStreamOptions,
} from '../subscriptions/types.js'
import { AllReader, toRecordedEvent, type EventRow } from './read.js'
import { storeSql, type StoreSql } from './sql.js'
import {
  deleteStream,
  getStreamInfo,
  scavenge,
  setStreamMetadata,
  type ScavengeOptions,
} from './streams.js'
import type {
  AppendableEvent,
  AppendOptions,
  AppendResult,
  ExpectedVersion,
  FilterableType,
  ReadAllOptions,
  ReadAllResult,
  ReadStreamOptions,
  RecordedEvent,
  ScavengeResult,
  StoredEvent,
  StreamAppend,
  StreamInfo,
  StreamMetadata,
  StreamWriteOptions,
  DeleteStreamOptions,
} from './types.js'
import {
  prepareAppends,
  checkExpectedVersion,
  checkFilter,
  checkPosition,
  checkPositiveInt,
  checkStreamId,
  prepareEvents,
  type EventLimits,
} from './validate.js'

/** Where the store's connections come from. */
export type StoreConnection =
  | {
      /** A postgres:// URL; the store opens (and on close, ends) its own pool. */
      connectionString: string
      /** Size of that pool (default 20). */
      max?: number
    }
  | {
      /** Your pool; the store never ends it. */
      pool: pg.Pool
    }

export interface EventStoreOptions<
  R extends EventRegistry = EventRegistry,
  Open extends boolean = boolean,
> {
  /** Postgres schema of the store's tables (default 'strata'). */
  schema?: string
  /** Event types and their zod schemas: appends are validated, reads are typed. */
  events?: R
  /**
   * Whether event types missing from `events` may be appended (default: false when `events` is
   * given, true when it is not).
   */
  allowUnregisteredTypes?: Open
  /** Largest number of events in one append (default 10,000). */
  maxEventsPerAppend?: number
  /** Largest serialised size of one append, in bytes (default 64 MiB). */
  maxAppendBytes?: number
  /**
   * Append transactions in flight at once from this store (default 8). Appends beyond this wait
   * and go together in the next transaction (group commit); each still succeeds or fails on its
   * own. More in flight lets Postgres flush more commits at once (what one-row INSERTs from as
   * many connections get); fewer makes bigger batches, which spend less server CPU per append.
   * Measured on 2 shared cores (docs/performance.md): 8 beat 2 and 4 at 8 and 32 callers.
   */
  appendConcurrency?: number
  /** Wake live subscribers with NOTIFY after appends (default true). */
  notify?: boolean
  /**
   * Whether live readers LISTEN for appends on a dedicated connection (default true). Without it
   * (a transaction-mode pooler that cannot LISTEN) they rely on polling alone.
   */
  listen?: boolean
  /** Called with errors of background work (notifications, reconnects); default: ignored. */
  onError?: (error: unknown) => void
  /** A pino-compatible logger (`info(fields, message)` …); strata is silent without one. */
  logger?: StrataLogger
  /**
   * OpenTelemetry spans and metrics for appends, reads, subscription deliveries and consumer
   * processing. `'auto'` (default) uses @opentelemetry/api when it is installed (an optional
   * peer dependency; no exporter is bundled), `false` turns it off, or pass `{ tracer, meter }`.
   */
  telemetry?: TelemetryOption
  /**
   * What the store does about its schema on first use: `'check'` (default) verifies that every
   * migration has been applied and throws SchemaOutdatedError otherwise (run `strata migrate`
   * or `store.migrate()` as part of your deploy, e.g. with a role that may run DDL); `'auto'`
   * migrates on first use; `'off'` does neither.
   */
  migrate?: 'check' | 'auto' | 'off'
}

const DEFAULT_LIMITS: EventLimits = { maxEventsPerAppend: 10_000, maxAppendBytes: 64 * 1024 * 1024 }
const APPEND_ATTEMPTS = 3

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

export class EventStore<
  R extends EventRegistry = Record<never, never>,
  Open extends boolean = false,
> {
  /** The Postgres schema holding the store's tables. */
  readonly schema: string
  /** The pool the store runs on (yours, or the one it opened). */
  readonly pool: pg.Pool
  /** @internal */
  readonly sql: StoreSql
  /** @internal */
  readonly eventTypes: EventTypes
  /** @internal */
  readonly horizon: SafeHorizon
  /** @internal */
  readonly allReader: AllReader
  readonly #ownsPool: boolean
  readonly #limits: EventLimits
  readonly #notifier: AppendNotifier | undefined
  readonly #batcher: AppendBatcher
  readonly #closeHooks: Array<() => Promise<void>> = []
  #closed = false
  #notifications: NotificationListener | undefined
  // One listener per open subscription: no MaxListenersExceededWarning past ten.
  readonly #closing = unlimitedListeners(new AbortController())
  readonly #active = new Set<Promise<unknown>>()
  #checkpoints: CheckpointStore | undefined
  #inline: InlineProjections | undefined
  #kysely: Kysely<unknown> | undefined
  readonly #listen: boolean
  readonly #onError: (error: unknown) => void
  readonly #migrateMode: 'check' | 'auto' | 'off'
  #ready: Promise<void> | undefined
  /** @internal The logger given in the options (silent by default). */
  readonly logger: StrataLogger
  /** @internal Spans and metrics. */
  readonly telemetry: Telemetry

  constructor(connection: StoreConnection, options: EventStoreOptions<R, Open> = {}) {
    this.schema = checkSchemaName(options.schema ?? 'strata')
    if ('pool' in connection && connection.pool !== undefined) {
      if (typeof (connection.pool as { connect?: unknown }).connect !== 'function') {
        throw new ConfigError('pool', connection.pool, 'must be a pg.Pool')
      }
      this.pool = connection.pool
      this.#ownsPool = false
    } else if (
      'connectionString' in connection &&
      typeof connection.connectionString === 'string'
    ) {
      const max = connection.max ?? 20
      if (!Number.isInteger(max) || max < 1)
        throw new ConfigError('max', max, 'must be a positive integer')
      this.pool = new pg.Pool({ connectionString: connection.connectionString, max })
      // Idle clients that lose their server (restart, pg_terminate_backend) emit 'error' on the
      // pool; the pool drops them, and an unhandled 'error' would crash the process.
      this.pool.on('error', () => undefined)
      this.#ownsPool = true
    } else {
      throw new ConfigError('connection', connection, 'pass { connectionString } or { pool }')
    }
    this.#limits = {
      maxEventsPerAppend: options.maxEventsPerAppend ?? DEFAULT_LIMITS.maxEventsPerAppend,
      maxAppendBytes: options.maxAppendBytes ?? DEFAULT_LIMITS.maxAppendBytes,
    }
    checkPositiveInt('maxEventsPerAppend', this.#limits.maxEventsPerAppend)
    checkPositiveInt('maxAppendBytes', this.#limits.maxAppendBytes)
    this.sql = storeSql(this.schema)
    this.eventTypes = new EventTypes(options.events, options.allowUnregisteredTypes)
    this.horizon = new SafeHorizon(this.pool, this.sql)
    this.allReader = new AllReader(this.pool, this.sql, this.horizon, this.eventTypes)
    this.logger = options.logger ?? silentLogger
    this.telemetry = new Telemetry(options.telemetry ?? 'auto')
    this.#migrateMode = options.migrate ?? 'check'
    if (!['check', 'auto', 'off'].includes(this.#migrateMode)) {
      throw new ConfigError('migrate', options.migrate, "expected 'check', 'auto' or 'off'")
    }
    const log = componentLogger(this.logger, 'store')
    const userOnError = options.onError
    const onError = (error: unknown) => {
      log.warn(errorFields(error), 'background error (strata retries)')
      userOnError?.(error)
    }
    this.#onError = onError
    this.#listen = options.listen ?? true
    this.#batcher = new AppendBatcher(this.pool, this.sql, {
      maxInFlight: checkPositiveInt('appendConcurrency', options.appendConcurrency ?? 8),
      maxBatchEvents: 1000,
      attempts: APPEND_ATTEMPTS,
    })
    this.#notifier =
      options.notify === false ? undefined : new AppendNotifier(this.pool, this.sql, onError)
  }

  /**
   * Creates or upgrades the store's schema: the numbered files of migrations/, each in its own
   * transaction under an advisory lock. Safe to call from many processes at once.
   * @throws MigrationChecksumError when an applied migration file has changed.
   */
  async migrate(options: MigrateOptions = {}): Promise<MigrateResult> {
    this.#assertOpen()
    const result = await migrate(this.pool, this.schema, options)
    if (result.applied.length > 0 && options.dryRun !== true) {
      componentLogger(this.logger, 'migrate').info(
        { schema: this.schema, applied: result.applied },
        'migrations applied',
      )
    }
    if (options.dryRun !== true) this.#ready = Promise.resolve()
    return result
  }

  /**
   * @internal Resolves once the schema is usable: checked (or migrated, with `migrate: 'auto'`)
   * on first use, then cached. Failures are not cached.
   * @throws SchemaOutdatedError when migrations are missing (with the default `migrate: 'check'`).
   */
  ready(): Promise<void> {
    if (this.#ready !== undefined) return this.#ready
    if (this.#migrateMode === 'off') return (this.#ready = Promise.resolve())
    const attempt = (
      this.#migrateMode === 'auto'
        ? this.migrate().then(() => undefined)
        : assertSchemaCurrent(this.pool, this.schema)
    ).then(
      () => {
        this.#ready = attempt
      },
      (error: unknown) => {
        this.#ready = undefined
        throw error
      },
    )
    this.#ready = attempt
    return attempt
  }

  /** The SQL that migrate() would run, for a DBA to review (`strata migrate --print`). */
  migrationScript(): Promise<string> {
    return migrationScript(this.schema)
  }

  /** @throws SchemaOutdatedError when migrations are missing. */
  async assertSchemaCurrent(): Promise<void> {
    this.#assertOpen()
    await assertSchemaCurrent(this.pool, this.schema)
  }

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
    this.#assertOpen()
    return this.#append(this.#prepare(streamId, events, options.expectedVersion), options)
  }

  /**
   * @internal appendToStream for events whose ids were generated just now by strata (handle()
   * decides them): they cannot be retries, so the append skips the idempotency lookup, as it
   * does for ids it generates itself (a retry after a lost connection still checks).
   */
  async appendGenerated(
    streamId: string,
    events: ReadonlyArray<AppendableEvent<R, Open>>,
    options: AppendOptions = {},
  ): Promise<AppendResult> {
    this.#assertOpen()
    const append = this.#prepare(streamId, events, options.expectedVersion)
    return this.#append({ ...append, events: { ...append.events, idsSupplied: false } }, options)
  }

  async #append(append: PreparedAppend, options: AppendOptions): Promise<AppendResult> {
    await this.ready()
    if (!this.telemetry.enabled) return this.#appendOne(append, options.transaction)
    return this.telemetry.span(
      'strata.append',
      {
        'strata.stream_id': append.streamId,
        'strata.event_count': append.events.ids.length,
        'strata.expected_version': String(append.expectedAsGiven),
      },
      () => this.#appendOne(append, options.transaction),
    )
  }

  async #appendOne(
    append: PreparedAppend,
    transaction: ExternalTransaction | undefined,
  ): Promise<AppendResult> {
    const started = performance.now()
    let outcome: AppendOutcome
    if (transaction !== undefined || this.#inlineApplies([append])) {
      outcome = (await this.#appendInTransaction([append], transaction))[0]!
    } else {
      outcome = await this.#batcher.append(append)
      this.#notifier?.appended(outcome.position)
    }
    if (this.telemetry.enabled) {
      this.telemetry.duration('strata.append.duration', performance.now() - started)
      if (!outcome.retried) this.telemetry.count('strata.events.appended', append.events.ids.length)
    }
    return publicResult(outcome)
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
    this.#assertOpen()
    const prepared = prepareAppends(appends, this.#limits, (entry) =>
      this.#prepare(entry.streamId, entry.events, entry.expectedVersion),
    )
    await this.ready()
    if (options.transaction !== undefined || this.#inlineApplies(prepared)) {
      return (await this.#appendInTransaction(prepared, options.transaction)).map(publicResult)
    }
    // One statement in autocommit: all or nothing without a BEGIN/COMMIT round trip.
    const outcomes = await this.#withRetries((attempt) =>
      appendAtomically(clientExecutor(this.pool), this.sql, prepared, attempt > 1),
    )
    this.#notifier?.appended(maxPosition(outcomes))
    return outcomes.map(publicResult)
  }

  /**
   * All or nothing inside a transaction: the caller's, or one of our own when inline projections
   * must run in it. Inline handlers see the events just appended (not retries of stored ones).
   */
  async #appendInTransaction(
    appends: readonly PreparedAppend[],
    transaction: ExternalTransaction | undefined,
  ): Promise<AppendOutcome[]> {
    const run = async (tx: SqlExecutor, forceIdCheck: boolean) => {
      const outcomes = await appendAtomically(tx, this.sql, appends, forceIdCheck)
      if (this.#inline !== undefined && this.#inline.size > 0) {
        const fresh = appends.filter((_, i) => !outcomes[i]!.retried).flatMap((a) => a.events.ids)
        if (fresh.length > 0) await this.#inline.apply(tx, fresh)
      }
      return outcomes
    }
    if (transaction !== undefined) {
      const tx = executorFor(transaction)
      const outcomes = await run(tx, false)
      await this.#notifyInside(tx, maxPosition(outcomes))
      return outcomes
    }
    const outcomes = await this.#withRetries((attempt) =>
      inTransaction(this.pool, (tx) => run(tx, attempt > 1)),
    )
    this.#notifier?.appended(maxPosition(outcomes))
    return outcomes
  }

  #inlineApplies(appends: readonly PreparedAppend[]): boolean {
    return (
      this.#inline !== undefined && this.#inline.handles(appends.flatMap((a) => a.events.types))
    )
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
    this.#assertOpen()
    checkStreamId(streamId)
    const direction = options.direction ?? 'forward'
    if (direction !== 'forward' && direction !== 'backward') {
      throw new InvalidArgumentError('direction', direction, "must be 'forward' or 'backward'")
    }
    const limit =
      options.limit === undefined
        ? Number.MAX_SAFE_INTEGER
        : checkPositiveInt('limit', options.limit)
    const from =
      options.from === undefined
        ? direction === 'forward'
          ? 0n
          : 9223372036854775807n
        : checkPosition('from', options.from)
    await this.ready()
    const read = async () => {
      const { rows } = await this.pool.query<EventRow>(this.sql.readStream, [
        streamId,
        from.toString(),
        limit,
        direction === 'backward',
      ])
      this.telemetry.count('strata.events.read', rows.length)
      return rows.map((row) => toRecordedEvent(row, this.eventTypes) as StoredEvent<R, Open>)
    }
    if (!this.telemetry.enabled) return read()
    return this.telemetry.span(
      'strata.read_stream',
      { 'strata.stream_id': streamId, 'strata.direction': direction },
      read,
    )
  }

  /**
   * Reads $all: events with position > `after`, in strictly increasing position, optionally
   * filtered by event types, category or stream-id prefix. Never skips an event that commits
   * later with a lower position: such events are waited for (up to maxWaitMs) or held back.
   * Returns `{ events, lastPosition, isEnd }`; continue with `after: lastPosition`.
   */
  async readAll(
    options: ReadAllOptions<FilterableType<R, Open>> = {},
  ): Promise<ReadAllResult<StoredEvent<R, Open>>> {
    this.#assertOpen()
    const request = {
      after: checkPosition('after', options.after ?? 0n),
      limit: checkPositiveInt('limit', options.limit ?? 1000, 100_000),
      filter: checkFilter(options.filter),
      maxWaitMs: options.maxWaitMs ?? 200,
    }
    if (typeof request.maxWaitMs !== 'number' || !(request.maxWaitMs >= 0)) {
      throw new InvalidArgumentError('maxWaitMs', request.maxWaitMs, 'must be a number >= 0')
    }
    await this.ready()
    const read = async () => {
      const page = await this.allReader.read(request)
      this.telemetry.count('strata.events.read', page.events.length)
      return page as ReadAllResult<StoredEvent<R, Open>>
    }
    if (!this.telemetry.enabled) return read()
    return this.telemetry.span(
      'strata.read_all',
      { 'strata.after': request.after.toString() },
      read,
    )
  }

  /** Version, dates, deletion state and metadata of a stream (a stream never written reads as empty). */
  async getStreamInfo(streamId: string): Promise<StreamInfo> {
    this.#assertOpen()
    checkStreamId(streamId)
    await this.ready()
    return getStreamInfo(this.pool, this.sql, streamId)
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
    this.#assertOpen()
    checkStreamId(streamId)
    const db = this.#writer(options)
    await this.ready()
    await setStreamMetadata(db, this.sql, streamId, metadata)
  }

  /**
   * Soft-deletes a stream: reads return nothing, $all keeps its events, and the next append
   * starts it again (versions continue). scavenge() removes the events. With `transaction`, the
   * delete commits (or rolls back) with the caller's transaction.
   * @throws WrongExpectedVersionError, StreamDeletedError (tombstoned).
   */
  async deleteStream(streamId: string, options: DeleteStreamOptions = {}): Promise<void> {
    this.#assertOpen()
    checkStreamId(streamId)
    checkExpectedVersion(options.expectedVersion)
    const db = this.#writer(options)
    await this.ready()
    await deleteStream(db, this.sql, streamId, 'soft', options.expectedVersion)
  }

  /**
   * Tombstones a stream: it can never be written again (appends throw StreamDeletedError) and
   * reads return nothing. scavenge() removes its events. With `transaction`, as deleteStream.
   */
  async tombstoneStream(streamId: string, options: DeleteStreamOptions = {}): Promise<void> {
    this.#assertOpen()
    checkStreamId(streamId)
    checkExpectedVersion(options.expectedVersion)
    const db = this.#writer(options)
    await this.ready()
    await deleteStream(db, this.sql, streamId, 'tombstone', options.expectedVersion)
  }

  /** Where a stream write runs: the caller's transaction, else the pool (its own commit). */
  #writer(options: StreamWriteOptions): SqlExecutor {
    if (typeof options !== 'object' || options === null) {
      throw new InvalidArgumentError('options', options, 'must be an object')
    }
    return options.transaction === undefined
      ? clientExecutor(this.pool)
      : executorFor(options.transaction)
  }

  /**
   * Physically deletes the events that retention and deletion hide. The only operation that
   * deletes events.
   */
  async scavenge(options: ScavengeOptions = {}): Promise<ScavengeResult> {
    this.#assertOpen()
    await this.ready()
    return scavenge(this.pool, this.sql, options)
  }

  /** The last position handed out so far (it may belong to an append still in flight). */
  async headPosition(): Promise<bigint> {
    this.#assertOpen()
    const { rows } = await this.pool.query<{ head: string }>(this.sql.headPosition)
    return BigInt(rows[0]?.head ?? '0')
  }

  /** Stops background work and ends the pool if the store opened it. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#closing.abort()
    // A failing hook must not keep the rest (the pool above all) from being released.
    for (const hook of this.#closeHooks.splice(0).reverse()) {
      await hook().catch((error: unknown) => this.reportError(error))
    }
    // Subscriptions stopped by the abort above release their connections.
    await Promise.allSettled([...this.#active])
    await this.#notifications?.closed()
    await this.#notifier?.close()
    await this.#kysely?.destroy()
    if (this.#ownsPool) await this.pool.end()
  }

  get closed(): boolean {
    return this.#closed
  }

  /** @internal Aborted when close() starts: subscriptions stop on it. */
  get closingSignal(): AbortSignal {
    return this.#closing.signal
  }

  /** @internal Work close() waits for (subscriptions releasing their connections). */
  track(work: Promise<unknown>): void {
    this.#active.add(work)
    const done = () => this.#active.delete(work)
    void work.then(done, done)
  }

  /** @internal Registers cleanup run by close() (subscriptions, runners). */
  onClose(hook: () => Promise<void>): () => void {
    this.#closeHooks.push(hook)
    return () => {
      const index = this.#closeHooks.indexOf(hook)
      if (index >= 0) this.#closeHooks.splice(index, 1)
    }
  }

  // ---- subscriptions (src/subscriptions/) ------------------------------------------------

  /**
   * $all from a position (exclusive), a time, the start or the end: catch-up in pages, then
   * live. Strictly increasing positions, nothing skipped, nothing repeated, across dropped
   * connections and restarts. An Observable and an async iterable; see docs/subscriptions.md.
   * @throws InvalidArgumentError for bad options (before anything runs).
   */
  subscribeToAll(
    options: SubscribeToAllOptions<FilterableType<R, Open>> = {},
  ): EventSubscription<StoredEvent<R, Open>> {
    this.#assertOpen()
    return subscribeToAll(this as unknown as EventStore, options)
  }

  /** The events of one category (stream ids `<category>-…`), catch-up then live. */
  subscribeToCategory(
    category: string,
    options: SubscribeToCategoryOptions<FilterableType<R, Open>> = {},
  ): EventSubscription<StoredEvent<R, Open>> {
    this.#assertOpen()
    return subscribeToCategory(this as unknown as EventStore, category, options)
  }

  /** One stream in version order, catch-up then live; `from` is a version (exclusive). */
  subscribeToStream(
    streamId: string,
    options: SubscribeToStreamOptions = {},
  ): EventSubscription<StoredEvent<R, Open>> {
    this.#assertOpen()
    return subscribeToStream(this as unknown as EventStore, streamId, options)
  }

  /** Positions of durable subscriptions, by name. */
  get checkpoints(): CheckpointStore {
    this.#checkpoints ??= new CheckpointStore(this.pool, this.schema)
    return this.#checkpoints
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
    this.#assertOpen()
    const runner = new ProjectionRunner(this, projection as unknown as AnyProjection, options)
    const unregister = this.onClose(() => runner.stop())
    void runner.done.finally(unregister).catch(() => undefined)
    return runner
  }

  /**
   * Applies a projection inline: inside the transaction of every append (through this store)
   * of an event type it handles, so its read model is current when the append returns.
   * Sets up its tables and makes this version the serving one.
   */
  async addInlineProjection(projection: RunnableProjection): Promise<void> {
    this.#assertOpen()
    this.#inline ??= new InlineProjections(this, projectionSql(this.schema))
    const client = await this.pool.connect()
    try {
      await this.#inline.add(clientExecutor(client), projection as unknown as AnyProjection)
    } finally {
      client.release()
    }
  }

  /** Status and lag of every version of a projection (or of all projections). */
  async projectionStatus(name?: string): Promise<ProjectionStatus[]> {
    this.#assertOpen()
    return projectionStatus(this.pool, projectionSql(this.schema), await this.headPosition(), name)
  }

  /** The events a projection version skipped or stopped on, with their errors. */
  async projectionFailures(
    name: string,
    version: number,
    limit?: number,
  ): Promise<ProjectionFailure[]> {
    this.#assertOpen()
    return projectionFailures(this.pool, projectionSql(this.schema), name, version, limit)
  }

  /** Pauses a projection's runners (every version unless one is named). */
  async pauseProjection(name: string, options: { version?: number } = {}): Promise<void> {
    this.#assertOpen()
    await setPaused(this.pool, projectionSql(this.schema), name, options.version, true)
  }

  async resumeProjection(name: string, options: { version?: number } = {}): Promise<void> {
    this.#assertOpen()
    await setPaused(this.pool, projectionSql(this.schema), name, options.version, false)
  }

  /**
   * Replays a projection version from a position (exclusive) or a time: its tables are dropped
   * and rebuilt by its runner. To rebuild without downtime, bump the version instead.
   */
  async resetProjection(
    name: string,
    options: { version: number; from?: bigint | Date },
  ): Promise<void> {
    this.#assertOpen()
    await resetProjection(
      this.pool,
      projectionSql(this.schema),
      this.schema,
      name,
      options.version,
      options.from ?? 0n,
    )
  }

  /**
   * Kysely on the serving (active) version of a projection's tables, or null when no version is
   * active yet. (SQL users can read the views in schema `<name>` instead.)
   */
  async readModel<DB>(
    projection: ProjectionDefinition<EventRegistry, DB> | string,
  ): Promise<Kysely<DB> | null> {
    this.#assertOpen()
    const name = typeof projection === 'string' ? projection : projection.name
    const { rows } = await this.pool.query<{ version: number }>(
      projectionSql(this.schema).activeVersion,
      [name],
    )
    const version = rows[0]?.version
    if (version === undefined) return null
    this.#kysely ??= kyselyOnPool<unknown>(this.pool)
    return (this.#kysely as Kysely<DB>).withSchema(versionSchema(name, version))
  }

  // ---- consumer groups (src/consumers/) -------------------------------------------------

  /**
   * A consumer group over the log: competing consumers with acks, retries, dead letters,
   * leases and optional per-stream ordering. See docs/consumers.md.
   */
  consumerGroup(
    name: string,
    options: ConsumerGroupOptions<StoredEvent<R, Open>, FilterableType<R, Open>>,
  ): ConsumerGroup<StoredEvent<R, Open>> {
    this.#assertOpen()
    return createConsumerGroup(this as unknown as EventStore, name, options)
  }

  /** A task queue in SQS terms (send with delay and dedup key) on the consumer-group mechanism. */
  queue<Payload = unknown>(name: string, options: TaskQueueOptions = {}): TaskQueue<Payload> {
    this.#assertOpen()
    return createTaskQueue<Payload>(this, name, options)
  }

  // ---- aggregates (src/aggregates/) ------------------------------------------------------

  /**
   * Handles a command on an aggregate: load, decide, append with the loaded version as
   * expectedVersion, retrying on conflicts. See docs/aggregates.md.
   */
  handle<A extends AnyAggregate>(
    aggregate: A,
    id: string,
    command: CommandOf<A>,
    options: HandleOptions = {},
  ): Promise<HandleResult<A>> {
    this.#assertOpen()
    return handleCommand(this as unknown as EventStore, aggregate, id, command, options)
  }

  /** Loads an aggregate's state, now or as of a version, position or time. */
  load<A extends AnyAggregate>(
    aggregate: A,
    id: string,
    options: LoadOptions = {},
  ): Promise<LoadResult<A>> {
    this.#assertOpen()
    return loadAggregate(this as unknown as EventStore, aggregate, id, options)
  }

  // ---- internals ---------------------------------------------------------------------------

  /**
   * @internal Wake-ups after appends, for live readers: a shared LISTEN connection opened while
   * someone subscribes. Emits nothing when the store was created with `listen: false`.
   */
  get notifications(): NotificationListener {
    this.#notifications ??= new NotificationListener({
      connection: { ...this.pool.options, application_name: 'strata listener' },
      channel: this.sql.notifyChannel,
      onError: this.#onError,
    })
    return this.#notifications
  }

  /** @internal Reports an error of background work to the `onError` option. */
  reportError(error: unknown): void {
    this.#onError(error)
  }

  /** @internal Whether live readers may LISTEN (see the `listen` option). */
  get listens(): boolean {
    return this.#listen
  }

  /** @internal Parses stored rows the way reads do. */
  toRecordedEvent(row: EventRow): RecordedEvent {
    return toRecordedEvent(row, this.eventTypes)
  }

  #prepare(streamId: unknown, events: unknown, expectedVersion: unknown): PreparedAppend {
    const id = checkStreamId(streamId)
    const expected = checkExpectedVersion(expectedVersion)
    return {
      streamId: id,
      expected,
      expectedAsGiven: (expectedVersion ?? 'any') as ExpectedVersion,
      events: prepareEvents(events, this.eventTypes, this.#limits),
    }
  }

  async #withRetries<T>(attempt: (n: number) => Promise<T>): Promise<T> {
    for (let n = 1; ; n++) {
      try {
        return await attempt(n)
      } catch (error) {
        if (n >= APPEND_ATTEMPTS || !isTransientError(error) || this.#closed) throw error
        await new Promise((resolve) =>
          setTimeout(resolve, 25 * 4 ** (n - 1) * (0.5 + Math.random())),
        )
      }
    }
  }

  async #notifyInside(tx: SqlExecutor, position: bigint): Promise<void> {
    // Inside the caller's transaction: delivered at their commit, dropped with their rollback.
    if (this.#notifier !== undefined) await tx.query(this.sql.notify, [position.toString()])
  }

  #assertOpen(): void {
    if (this.#closed) throw new StoreClosedError()
  }
}

function publicResult(outcome: AppendOutcome): AppendResult {
  return {
    streamId: outcome.streamId,
    nextExpectedVersion: outcome.nextExpectedVersion,
    position: outcome.position,
  }
}

function maxPosition(outcomes: readonly AppendOutcome[]): bigint {
  return outcomes.reduce((max, o) => (o.position > max ? o.position : max), 0n)
}

function unlimitedListeners(controller: AbortController): AbortController {
  setMaxListeners(0, controller.signal)
  return controller
}
