import type pg from 'pg'
import {
  clientExecutor,
  executorFor,
  type SqlExecutor,
  checkSchemaName,
  checkTenant,
  inTenantTransaction,
  preparedExecutor,
  tenantPool,
} from '../db/index.js'
import { checkOptions, intOption, optionKeys } from '../config/index.js'
import { ConfigError } from '../errors.js'
import { EventTypes } from '../events/index.js'
import type { MigrateOptions, MigrateResult } from '../migrate/index.js'
import {
  componentLogger,
  errorFields,
  silentLogger,
  type StrataLogger,
  Telemetry,
} from '../observability/index.js'
import { Appender, type TransactionalAppendHook } from './appender.js'
import { SafeHorizon } from './horizon.js'
import { SchemaState } from './schema-state.js'
import { StoreLifecycle } from './lifecycle.js'
import { NotificationListener } from './notification-listener.js'
import { AppendNotifier } from './notifier.js'
import type { EventStoreOptions, StoreConnection } from './options.js'
import { AllReader, toRecordedEvent, type AllPageRequest, type EventRow } from './read.js'
import { ReplicaSet, WalPosition } from './replica.js'
import { openPool, STORE_OPTIONS } from './connection.js'
import { storeSql, type StoreSql } from './sql.js'
import { StoreReads } from './store-reads.js'
import { Tenancy } from './tenancy.js'
import {
  deleteStream,
  getStreamInfo,
  scavenge,
  setStreamMetadata,
  type ScavengeOptions,
} from './streams.js'
import type {
  AppendOptions,
  AppendResult,
  DeleteStreamOptions,
  ReadAllOptions,
  ReadAllResult,
  ReadFrom,
  ReadRouting,
  ReadStreamOptions,
  RecordedEvent,
  ScavengeResult,
  StreamAppend,
  StreamInfo,
  StreamMetadata,
  StreamWriteOptions,
} from './types.js'
import {
  checkExpectedVersion,
  checkPositiveInt,
  checkStreamId,
  type EventLimits,
} from './validate.js'

const DEFAULT_LIMITS: EventLimits = { maxEventsPerAppend: 10_000, maxAppendBytes: 64 * 1024 * 1024 }

/**
 * The event store itself, and the internal interface every capability builds on: its pool and
 * SQL, the event registry, the safe horizon and the $all reader, wake-ups (NOTIFY out, LISTEN
 * in), the logger and telemetry, and its lifecycle. It knows nothing of what is built on it:
 * subscriptions, projections, consumers and aggregates take a StoreCore, and the user-facing
 * EventStore (src/event-store.ts) composes them. Reads and writes here are untyped; the facade
 * types them from the registry.
 */
export class StoreCore {
  /** The Postgres schema holding the store's tables. */
  readonly schema: string
  /** The pool the store runs on (the user's, or the one it opened). */
  readonly pool: pg.Pool
  /** The store's tenant (docs/tenants.md), undefined for a tenant-less store. */
  readonly tenant: string | undefined
  readonly sql: StoreSql
  /**
   * The pool, in autocommit, sending each text as a named prepared statement (unless the
   * `preparedStatements` option is false): for the store's constant hot statements only.
   */
  readonly statements: SqlExecutor
  readonly eventTypes: EventTypes
  readonly horizon: SafeHorizon
  readonly allReader: AllReader
  /** The replicas reads may be routed to (undefined: none configured). */
  readonly replicas: ReplicaSet | undefined
  /** The logger given in the options (silent by default). */
  readonly logger: StrataLogger
  readonly telemetry: Telemetry
  readonly #lifecycle = new StoreLifecycle()
  readonly #ownsPool: boolean
  readonly #notifier: AppendNotifier | undefined
  readonly #appender: Appender
  readonly #reads: StoreReads
  readonly #listen: boolean
  readonly #onError: (error: unknown) => void
  readonly #schemaState: SchemaState
  #tenancy: Promise<void> | undefined
  readonly #tenants: Tenancy
  #notifications: NotificationListener | undefined
  #closed: Promise<void> | undefined

  constructor(connection: StoreConnection, given: EventStoreOptions = {}) {
    const options = checkOptions(given, STORE_OPTIONS, 'an option of createEventStore', {
      errorClass: ConfigError,
    })!
    this.schema = checkSchemaName(options.schema ?? 'strata')
    const { pool, owned } = openPool(connection)
    this.tenant = options.tenant === undefined ? undefined : checkTenant(options.tenant)
    if (this.tenant !== undefined && options.replicas !== undefined) {
      // Replica connections do not name the tenant yet, and row-level security would refuse
      // them; refused here rather than at the first read.
      throw new ConfigError(
        'replicas',
        'replicas',
        'a tenant store reads from the primary only (tenants with replicas are not supported yet)',
      )
    }
    // A tenant store runs everything through a pool that names the tenant in each transaction.
    this.pool = this.tenant === undefined ? pool : tenantPool(pool, this.tenant, this.schema)
    this.#ownsPool = owned
    if (
      options.preparedStatements !== undefined &&
      typeof options.preparedStatements !== 'boolean'
    ) {
      throw new ConfigError('preparedStatements', options.preparedStatements, 'expected a boolean')
    }
    this.statements = preparedExecutor(this.pool, options.preparedStatements ?? true)
    const limits: EventLimits = {
      maxEventsPerAppend: options.maxEventsPerAppend ?? DEFAULT_LIMITS.maxEventsPerAppend,
      maxAppendBytes: options.maxAppendBytes ?? DEFAULT_LIMITS.maxAppendBytes,
    }
    checkPositiveInt('maxEventsPerAppend', limits.maxEventsPerAppend)
    checkPositiveInt('maxAppendBytes', limits.maxAppendBytes)
    this.sql = storeSql(this.schema, {
      lockTimeoutMs: intOption(
        'appendLockTimeoutMs',
        options.appendLockTimeoutMs,
        10_000,
        0,
        2 ** 31 - 1,
      ),
    })
    this.#tenants = new Tenancy(this.pool, this.sql, this.schema, this.tenant)
    this.eventTypes = new EventTypes(options.events, options.allowUnregisteredTypes)
    this.horizon = new SafeHorizon(this.pool, this.sql)
    this.allReader = new AllReader(this.pool, this.sql, this.horizon, this.eventTypes)
    this.logger = options.logger ?? silentLogger
    this.telemetry = new Telemetry(options.telemetry ?? 'auto')
    const migrateMode = options.migrate ?? 'check'
    if (!['check', 'auto', 'off'].includes(migrateMode)) {
      throw new ConfigError('migrate', options.migrate, "expected 'check', 'auto' or 'off'")
    }
    this.#schemaState = new SchemaState(this.pool, this.schema, migrateMode, this.logger)
    const log = componentLogger(this.logger, 'store')
    const userOnError = options.onError
    this.#onError = (error: unknown) => {
      log.warn(errorFields(error), 'background error (strata retries)')
      userOnError?.(error)
    }
    this.replicas =
      options.replicas === undefined
        ? undefined
        : new ReplicaSet(options.replicas, {
            primary: this.pool,
            sql: this.sql,
            openPool,
            onError: this.#onError,
            onFallback: (replica, reason) => {
              log.warn({ replica, ...errorFields(reason) }, 'replica read served by the primary')
              this.telemetry.count('strata.replica.fallbacks', 1)
            },
          })
    this.#listen = options.listen ?? true
    this.#notifier =
      options.notify === false ? undefined : new AppendNotifier(this.pool, this.sql, this.#onError)
    this.#appender = new Appender({
      pool: this.pool,
      statements: this.statements,
      sql: this.sql,
      eventTypes: this.eventTypes,
      limits,
      telemetry: this.telemetry,
      maxInFlight: checkPositiveInt('appendConcurrency', options.appendConcurrency ?? 8),
      notifier: this.#notifier,
      ready: () => this.ready(),
      closed: () => this.#lifecycle.closing,
      walPosition:
        this.replicas === undefined
          ? undefined
          : new WalPosition(this.pool, this.sql, this.#onError),
    })
    this.#reads = new StoreReads({
      pool: this.pool,
      sql: this.sql,
      eventTypes: this.eventTypes,
      allReader: this.allReader,
      replicas: this.replicas,
      telemetry: this.telemetry,
      ready: () => this.ready(),
    })
  }

  // ---- schema --------------------------------------------------------------------------------

  async migrate(options: MigrateOptions = {}): Promise<MigrateResult> {
    this.assertOpen()
    checkOptions(options, MIGRATE_OPTIONS, 'an option of migrate()')
    return this.#schemaState.migrate(options)
  }

  /**
   * Resolves once the schema is usable: checked (or migrated, with `migrate: 'auto'`) on first
   * use, then cached.
   * @throws SchemaOutdatedError when migrations are missing (with the default `migrate: 'check'`).
   */
  ready(): Promise<void> {
    this.#tenancy ??= this.#schemaState
      .ready()
      .then(() => this.#tenants.check())
      .catch((error: unknown) => {
        this.#tenancy = undefined
        throw error
      })
    return this.#tenancy
  }

  async migrationScript(): Promise<string> {
    return this.#schemaState.script()
  }

  async assertSchemaCurrent(): Promise<void> {
    this.assertOpen()
    await this.#schemaState.assertCurrent()
  }

  // ---- writes --------------------------------------------------------------------------------

  /**
   * Appends to one stream. `generated`: the event ids were generated just now by strata (handle()
   * decides them), so they cannot be retries and the append skips the idempotency lookup, as it
   * does for ids it generates itself (a retry after a lost connection still checks).
   */
  async appendToStream(
    streamId: string,
    events: readonly unknown[],
    options: AppendOptions = {},
    generated = false,
  ): Promise<AppendResult> {
    this.assertOpen()
    checkOptions(options, APPEND_OPTIONS, 'an option of appendToStream()')
    const append = this.#appender.prepare(streamId, events, options.expectedVersion)
    const appended = this.#appender.appendOne(
      generated ? { ...append, events: { ...append.events, idsSupplied: false } } : append,
      options.transaction,
    )
    return this.#tenants.guard(appended)
  }

  async appendToStreams(
    appends: ReadonlyArray<StreamAppend<unknown>>,
    options: Pick<AppendOptions, 'transaction'> = {},
  ): Promise<AppendResult[]> {
    this.assertOpen()
    checkOptions(options, TRANSACTION_OPTIONS, 'an option of appendToStreams()')
    const appended = this.#appender.appendMany(appends, options.transaction)
    return this.#tenants.guard(appended)
  }

  /** Registers work that runs inside the transaction of every append it handles. */
  addTransactionalHook(hook: TransactionalAppendHook): void {
    this.#appender.addHook(hook)
  }

  async setStreamMetadata(
    streamId: string,
    metadata: StreamMetadata,
    options: StreamWriteOptions = {},
  ): Promise<void> {
    this.assertOpen()
    checkStreamId(streamId)
    const db = this.#writer(options)
    await this.ready()
    await setStreamMetadata(db, this.sql, streamId, metadata)
  }

  async deleteStream(
    streamId: string,
    mode: 'soft' | 'tombstone',
    options: DeleteStreamOptions = {},
  ): Promise<void> {
    this.assertOpen()
    checkStreamId(streamId)
    checkExpectedVersion(options.expectedVersion)
    const db = this.#writer(options, DELETE_OPTIONS)
    await this.ready()
    const deleted = deleteStream(db, this.sql, streamId, mode, options.expectedVersion)
    await this.#tenants.guard(deleted)
  }

  async scavenge(options: ScavengeOptions = {}): Promise<ScavengeResult> {
    this.assertOpen()
    checkOptions(options, SCAVENGE_OPTIONS, 'an option of scavenge()')
    await this.ready()
    return scavenge(this.pool, this.sql, options)
  }

  /** Where a stream write runs: the caller's transaction, else the pool (its own commit). */
  #writer(
    options: DeleteStreamOptions,
    known: ReadonlyArray<keyof DeleteStreamOptions> = TRANSACTION_OPTIONS,
  ): SqlExecutor {
    checkOptions(options, known, 'an option of a stream write')
    return options.transaction === undefined
      ? clientExecutor(this.pool)
      : inTenantTransaction(executorFor(options.transaction), this.pool)
  }

  // ---- reads (store-reads.ts) ---------------------------------------------------------------

  async readStream(streamId: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    this.assertOpen()
    return this.#reads.readStream(streamId, options)
  }

  async readAll(options: ReadAllOptions = {}): Promise<ReadAllResult<RecordedEvent>> {
    this.assertOpen()
    return this.#reads.readAll(options)
  }

  /**
   * Where a read runs: `readFrom` as given (checked), else the default of its kind ($all or
   * stream reads); always the primary without replicas.
   * @throws InvalidArgumentError for readFrom 'replica' on a store without replicas.
   */
  readTarget(readFrom: unknown, kind: 'all' | 'stream'): ReadFrom {
    return this.#reads.readTarget(readFrom, kind)
  }

  /** One gap-safe page of $all, on the primary (through `primary`) or a replica, per `routing`. */
  readAllPage(
    request: AllPageRequest,
    routing: ReadRouting,
    primary?: SqlExecutor,
  ): Promise<ReadAllResult<RecordedEvent>> {
    return this.#reads.readAllPage(request, routing, primary)
  }

  /** Runs a read on the primary's pool or on a replica, per `routing`. */
  readOn<T>(
    routing: ReadRouting,
    kind: 'all' | 'stream',
    read: (db: SqlExecutor) => Promise<T>,
  ): Promise<T> {
    return this.#reads.readOn(routing, kind, read)
  }

  async getStreamInfo(streamId: string): Promise<StreamInfo> {
    this.assertOpen()
    checkStreamId(streamId)
    await this.ready()
    return getStreamInfo(this.pool, this.sql, streamId)
  }

  async headPosition(): Promise<bigint> {
    this.assertOpen()
    // A tenant's head is its own last event: positions of other tenants are not its to wait for.
    const { rows } = await this.pool.query<{ head: string }>(
      this.tenant === undefined ? this.sql.headPosition : this.sql.tenantHeadPosition,
    )
    return BigInt(rows[0]?.head ?? '0')
  }

  /** Parses stored rows the way reads do. */
  toRecordedEvent(row: EventRow): RecordedEvent {
    return toRecordedEvent(row, this.eventTypes)
  }

  // ---- live reads ----------------------------------------------------------------------------

  /**
   * Wake-ups after appends, for live readers: a shared LISTEN connection opened while someone
   * subscribes. Emits nothing when the store was created with `listen: false`.
   */
  get notifications(): NotificationListener {
    this.#notifications ??= new NotificationListener({
      connection: { ...this.pool.options, application_name: 'strata listener' },
      channel: this.sql.notifyChannel,
      onError: this.#onError,
      onSharedSession: () =>
        componentLogger(this.logger, 'store').warn(
          { schema: this.schema },
          'LISTEN runs through a transaction-mode pooler (its session is shared with other clients): notifications get lost and wake-ups are delayed to polling. Point live readers at Postgres directly or at a session-mode pool, or create the store with listen: false (see docs/operations.md)',
        ),
    })
    return this.#notifications
  }

  /** Whether live readers may LISTEN (see the `listen` option). */
  get listens(): boolean {
    return this.#listen
  }

  // ---- lifecycle -----------------------------------------------------------------------------

  /**
   * Stops every capability registered with onClose (while the store still works, so consumers
   * settle what they hold), then refuses new work, waits for tracked work, and ends the pool if
   * the store opened it. Idempotent: later calls wait for the first.
   */
  close(): Promise<void> {
    this.#closed ??= this.#close()
    return this.#closed
  }

  async #close(): Promise<void> {
    await this.#lifecycle.close((error) => this.reportError(error))
    await this.#notifications?.closed()
    await this.#notifier?.close()
    await this.replicas?.close()
    if (this.#ownsPool) await this.pool.end()
  }

  /** True once close() has stopped every capability. */
  get closed(): boolean {
    return this.#lifecycle.closed
  }

  /** True from the moment close() is called: new work is refused, running work finishes. */
  get closing(): boolean {
    return this.#lifecycle.closing
  }

  /** Aborted when close() starts: subscriptions stop on it. */
  get closingSignal(): AbortSignal {
    return this.#lifecycle.closingSignal
  }

  /** Work close() waits for (subscriptions releasing their connections). */
  track(work: Promise<unknown>): void {
    this.#lifecycle.track(work)
  }

  /** Registers how a capability stops when the store closes; returns the unregistration. */
  onClose(stop: () => Promise<void>): () => void {
    return this.#lifecycle.onClose(stop)
  }

  /** Reports an error of background work to the logger and the `onError` option. */
  reportError(error: unknown): void {
    this.#onError(error)
  }

  /** @throws StoreClosedError once close() was called (new work only; see lifecycle.ts). */
  assertOpen(): void {
    this.#lifecycle.assertOpen()
  }
}

const MIGRATE_OPTIONS = optionKeys<MigrateOptions>({ allowChecksumMismatch: true, dryRun: true })
const APPEND_OPTIONS = optionKeys<AppendOptions>({ expectedVersion: true, transaction: true })
const TRANSACTION_OPTIONS = optionKeys<StreamWriteOptions>({ transaction: true })
const DELETE_OPTIONS = optionKeys<DeleteStreamOptions>({ expectedVersion: true, transaction: true })
const SCAVENGE_OPTIONS = optionKeys<ScavengeOptions>({
  batchSize: true,
  onProgress: true,
  signal: true,
})
