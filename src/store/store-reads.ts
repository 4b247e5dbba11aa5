import { clientExecutor, type SqlExecutor } from '../db/index.js'
import { checkOptions, MAX_TIMER_MS, optionKeys } from '../config/index.js'
import { InvalidArgumentError } from '../errors.js'
import type { EventTypes } from '../events/index.js'
import type { Telemetry } from '../observability/index.js'
import type pg from 'pg'
import { archivedAware } from './archived.js'
import { toRecordedEvent, type AllPageRequest, type AllReader, type EventRow } from './read.js'
import type { ReplicaSet } from './replica.js'
import { readReplicaPage } from './replica-read.js'
import type { StoreSql } from './sql.js'
import type {
  ReadAllOptions,
  ReadAllResult,
  ReadFrom,
  ReadRouting,
  ReadStreamOptions,
  RecordedEvent,
} from './types.js'
import { checkFilter, checkPosition, checkPositiveInt, checkStreamId } from './validate.js'

/** What the reads of a store run on. */
export interface StoreReadDeps {
  readonly pool: pg.Pool
  readonly sql: StoreSql
  readonly eventTypes: EventTypes
  readonly allReader: AllReader
  readonly replicas: ReplicaSet | undefined
  readonly telemetry: Telemetry
  /** Resolves once the schema is usable (StoreCore.ready). */
  readonly ready: () => Promise<void>
}

/**
 * The store's reads: stream reads and $all pages, on the primary or routed to a replica
 * (docs/guarantees.md, "Reading from replicas"). StoreCore checks that the store is open and
 * delegates here.
 */
export class StoreReads {
  constructor(private readonly deps: StoreReadDeps) {}

  async readStream(streamId: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    checkStreamId(streamId)
    checkOptions(options, READ_STREAM_OPTIONS, 'an option of readStream()')
    this.readTarget(options.readFrom, 'stream')
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
    await this.deps.ready()
    const read = async () => {
      const { rows } = await this.readOn(options, 'stream', (db) =>
        db.query<EventRow>(this.deps.sql.readStream, [
          streamId,
          from.toString(),
          limit,
          direction === 'backward',
        ]),
      )
      this.deps.telemetry.count('strata.events.read', rows.length)
      return rows.map((row) => toRecordedEvent(row, this.deps.eventTypes))
    }
    if (!this.deps.telemetry.enabled) return read()
    return this.deps.telemetry.span(
      'strata.read_stream',
      { 'strata.stream_id': streamId, 'strata.direction': direction },
      read,
    )
  }

  async readAll(options: ReadAllOptions = {}): Promise<ReadAllResult<RecordedEvent>> {
    checkOptions(options, READ_ALL_OPTIONS, 'an option of readAll()')
    const request = {
      after: checkPosition('after', options.after ?? 0n),
      limit: checkPositiveInt('limit', options.limit ?? 1000, 100_000),
      filter: checkFilter(options.filter),
      maxWaitMs: options.maxWaitMs ?? 200,
    }
    // The wait reaches Postgres as an int4 of milliseconds (and a timer, which caps there too).
    if (
      typeof request.maxWaitMs !== 'number' ||
      !(request.maxWaitMs >= 0) ||
      request.maxWaitMs > MAX_TIMER_MS
    ) {
      throw new InvalidArgumentError(
        'maxWaitMs',
        request.maxWaitMs,
        `must be a number from 0 to ${MAX_TIMER_MS} (milliseconds)`,
      )
    }
    this.readTarget(options.readFrom, 'all')
    await this.deps.ready()
    const read = async () => {
      const page = await this.readAllPage(request, options)
      this.deps.telemetry.count('strata.events.read', page.events.length)
      return page
    }
    if (!this.deps.telemetry.enabled) return read()
    return this.deps.telemetry.span(
      'strata.read_all',
      { 'strata.after': request.after.toString() },
      read,
    )
  }

  /**
   * Where a read runs: `readFrom` as given (checked), else the default of its kind ($all or
   * stream reads); always the primary without replicas.
   * @throws InvalidArgumentError for readFrom 'replica' on a store without replicas.
   */
  readTarget(readFrom: unknown, kind: 'all' | 'stream'): ReadFrom {
    if (this.deps.replicas !== undefined) return this.deps.replicas.route(readFrom, kind)
    if (readFrom === undefined || readFrom === 'primary') return 'primary'
    throw new InvalidArgumentError(
      'readFrom',
      readFrom,
      readFrom === 'replica'
        ? 'the store has no replicas (see the replicas option)'
        : "expected 'primary' or 'replica'",
    )
  }

  /**
   * One gap-safe page of $all, on the primary (through `primary`, default the pool) or on a
   * replica, per `routing` (see ReadRouting and docs/guarantees.md, "Reading from replicas").
   */
  async readAllPage(
    request: AllPageRequest,
    routing: ReadRouting,
    primary?: SqlExecutor,
  ): Promise<ReadAllResult<RecordedEvent>> {
    const replicas = this.deps.replicas
    if (replicas === undefined || this.readTarget(routing.readFrom, 'all') === 'primary') {
      return archivedAware(() => this.deps.allReader.read(request, primary))
    }
    const context = {
      sql: this.deps.sql,
      types: this.deps.eventTypes,
      pollMs: Math.max(2, Math.min(25, Math.floor(replicas.publishIntervalMs / 4))),
    }
    return archivedAware(() =>
      replicas.run(
        routing.minLsn,
        (db, view) => readReplicaPage(db, context, request, view),
        () => this.deps.allReader.read(request, primary),
      ),
    )
  }

  /**
   * Runs a read on the primary's pool or on a replica, per `routing` (default: the default of
   * `kind`); replica reads get the staleness check, minLsn and the fallback of ReplicaSet.run.
   */
  async readOn<T>(
    routing: ReadRouting,
    kind: 'all' | 'stream',
    read: (db: SqlExecutor) => Promise<T>,
  ): Promise<T> {
    const replicas = this.deps.replicas
    if (replicas === undefined || this.readTarget(routing.readFrom, kind) === 'primary') {
      return archivedAware(() => read(clientExecutor(this.deps.pool)))
    }
    return archivedAware(() =>
      replicas.run(
        routing.minLsn,
        (db) => read(db),
        () => read(clientExecutor(this.deps.pool)),
      ),
    )
  }
}

const READ_STREAM_OPTIONS = optionKeys<ReadStreamOptions>({
  from: true,
  direction: true,
  limit: true,
  readFrom: true,
  minLsn: true,
})
const READ_ALL_OPTIONS = optionKeys<ReadAllOptions>({
  after: true,
  limit: true,
  filter: true,
  maxWaitMs: true,
  readFrom: true,
  minLsn: true,
})
