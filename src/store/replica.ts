import type pg from 'pg'
import {
  checkOut,
  clientExecutor,
  type SqlExecutor,
  isDatabaseError,
  isTransientError,
  toBigInt,
} from '../db/index.js'
import { checkOptions, optionKeys } from '../config/index.js'
import {
  ConfigError,
  InvalidArgumentError,
  ReplicaLagError,
  ReplicaUnavailableError,
} from '../errors.js'
import type { ReplicaOptions, StoreConnection } from './options.js'
import type { ReplicaView } from './replica-read.js'
import type { StoreSql } from './sql.js'
import type { ReadFrom } from './types.js'

const REPLICA_OPTIONS = optionKeys<ReplicaOptions>({
  connections: true,
  readAllFrom: true,
  readStreamFrom: true,
  maxLagMs: true,
  fallback: true,
  publishIntervalMs: true,
})

interface Replica {
  readonly label: string
  readonly pool: pg.Pool
  readonly owned: boolean
  /** Skipped until then after it failed a whole read (0: healthy). */
  downUntil: number
}

export interface ReplicaSetDeps {
  readonly primary: pg.Pool
  readonly sql: StoreSql
  readonly openPool: (connection: StoreConnection) => { pool: pg.Pool; owned: boolean }
  readonly onError: (error: unknown) => void
  /** Called when a read falls back to the primary (logs, metrics). */
  readonly onFallback: (replica: string, reason: ReplicaLagError | ReplicaUnavailableError) => void
}

/**
 * The store's replicas: where replica reads run, their staleness check, and the publisher of the
 * safe horizon on the primary (docs/guarantees.md, "Reading from replicas"). A read runs on one
 * pooled connection of one replica: first a look at the replica's view (published horizon, its
 * age, the replayed LSN), then the read itself, whose later snapshot on the same server sees at
 * least that view.
 */
export class ReplicaSet {
  readonly readAllFrom: ReadFrom
  readonly readStreamFrom: ReadFrom
  readonly maxLagMs: number
  readonly fallback: 'primary' | 'error'
  readonly publishIntervalMs: number
  readonly #replicas: Replica[]
  readonly #deps: ReplicaSetDeps
  readonly #publisher: HorizonPublisher
  #next = 0

  constructor(given: ReplicaOptions, deps: ReplicaSetDeps) {
    const options = checkOptions(given, REPLICA_OPTIONS, 'an option of replicas', {
      errorClass: ConfigError,
    })!
    this.readAllFrom = checkReadFrom('replicas.readAllFrom', options.readAllFrom ?? 'replica')
    this.readStreamFrom = checkReadFrom(
      'replicas.readStreamFrom',
      options.readStreamFrom ?? 'primary',
    )
    this.maxLagMs = checkMs('replicas.maxLagMs', options.maxLagMs ?? 5000)
    this.publishIntervalMs = checkMs('replicas.publishIntervalMs', options.publishIntervalMs ?? 100)
    const fallback = options.fallback ?? 'primary'
    if (fallback !== 'primary' && fallback !== 'error') {
      throw new ConfigError('replicas.fallback', fallback, "expected 'primary' or 'error'")
    }
    this.fallback = fallback
    const list = Array.isArray(options.connections)
      ? (options.connections as readonly StoreConnection[])
      : [options.connections as StoreConnection]
    if (list.length === 0) {
      throw new ConfigError('replicas.connections', options.connections, 'give at least one')
    }
    this.#deps = deps
    this.#replicas = list.map((connection) => {
      const { pool, owned } = deps.openPool(connection)
      // A replica that does not answer must not hold a read longer than the staleness bound.
      if (owned) pool.options.connectionTimeoutMillis = Math.min(this.maxLagMs, 10_000)
      return { label: describe(pool), pool, owned, downUntil: 0 }
    })
    this.#publisher = new HorizonPublisher(deps.primary, deps.sql, {
      intervalMs: this.publishIntervalMs,
      // Readers judge staleness by the publication time: an idle store still writes it, often
      // enough that an up-to-date replica never looks older than a quarter of the bound.
      heartbeatMs: Math.max(this.publishIntervalMs, Math.floor(this.maxLagMs / 4)),
      onError: deps.onError,
    })
  }

  /** The server a read runs on: the one asked for, else the default of its kind. */
  route(readFrom: unknown, kind: 'all' | 'stream'): ReadFrom {
    if (readFrom === undefined) return kind === 'all' ? this.readAllFrom : this.readStreamFrom
    if (readFrom !== 'primary' && readFrom !== 'replica') {
      throw new InvalidArgumentError('readFrom', readFrom, "expected 'primary' or 'replica'")
    }
    return readFrom
  }

  /**
   * Runs `work` on a replica whose view is at most maxLagMs old and has replayed `minLsn`,
   * trying (with backoff) for up to maxLagMs; then `onPrimary`, or ReplicaLagError /
   * ReplicaUnavailableError with `fallback: 'error'`. A replica that failed a whole read is
   * skipped for maxLagMs, then tried once per read until it answers again.
   */
  async run<T>(
    minLsn: string | undefined,
    work: (db: SqlExecutor, view: ReplicaView) => Promise<T>,
    onPrimary: () => Promise<T>,
  ): Promise<T> {
    await this.#publisher.start()
    const started = Date.now()
    let problem: ReplicaLagError | ReplicaUnavailableError | undefined
    for (let attempt = 1; ; attempt++) {
      const replica = this.#pick()
      if (replica === undefined) break
      const probing = replica.downUntil !== 0
      let client: pg.PoolClient | undefined
      let broken: Error | undefined
      try {
        // checkOut: a replica that goes away mid-read must reject the query, not crash the
        // process with the client's unhandled 'error' event.
        client = await checkOut(replica.pool)
        const { rows } = await client.query<{
          position: string
          lag_ms: number | null
          at_lsn: boolean
        }>(this.#deps.sql.replicaView, [minLsn ?? null])
        const row = rows[0]
        const lagMs = row?.lag_ms ?? null
        if (row !== undefined && lagMs !== null && lagMs <= this.maxLagMs && row.at_lsn) {
          replica.downUntil = 0
          return await work(clientExecutor(client), { horizon: toBigInt(row.position), lagMs })
        }
        problem = new ReplicaLagError(replica.label, lagMs, this.maxLagMs, minLsn ?? null)
      } catch (error) {
        if (notReplayedYet(error)) {
          // The schema (a migration) has not reached this replica yet: it lags.
          problem = new ReplicaLagError(replica.label, null, this.maxLagMs, minLsn ?? null)
        } else {
          if (!isTransientError(error)) throw error
          broken = error instanceof Error ? error : new Error(String(error))
          problem = new ReplicaUnavailableError(replica.label, Date.now() - started, {
            cause: error,
          })
        }
      } finally {
        client?.release(broken)
      }
      const elapsed = Date.now() - started
      if (probing || elapsed >= this.maxLagMs) {
        replica.downUntil = Date.now() + this.maxLagMs
        if (this.#replicas.every((r) => r.downUntil > Date.now())) break
        continue
      }
      const backoff = Math.min(250, 5 * 2 ** attempt)
      await new Promise((resolve) =>
        setTimeout(resolve, Math.min(backoff, this.maxLagMs - elapsed)),
      )
    }
    const reason =
      problem instanceof ReplicaUnavailableError
        ? new ReplicaUnavailableError(problem.replica, Date.now() - started, {
            cause: problem.cause,
          })
        : (problem ?? new ReplicaUnavailableError(this.#replicas[0]!.label, Date.now() - started))
    if (this.fallback === 'error') throw reason
    this.#deps.onFallback(reason.replica, reason)
    return onPrimary()
  }

  /** Round robin over the replicas not skipped; undefined when every one is. */
  #pick(): Replica | undefined {
    const now = Date.now()
    for (let i = 0; i < this.#replicas.length; i++) {
      const replica = this.#replicas[(this.#next + i) % this.#replicas.length]!
      if (replica.downUntil <= now) {
        this.#next = (this.#next + i + 1) % this.#replicas.length
        return replica
      }
    }
    return undefined
  }

  /** Stops publishing and ends the pools the store opened. */
  async close(): Promise<void> {
    await this.#publisher.stop()
    await Promise.all(this.#replicas.filter((r) => r.owned).map((r) => r.pool.end()))
  }
}

/**
 * WAL positions for read-your-writes: resolves to pg_current_wal_insert_lsn() read by a query
 * sent after the call, hence at or after the commit of an append that returned before it.
 * Concurrent callers share one query (at most one in flight and one waiting to be sent).
 */
export class WalPosition {
  #queued: Promise<string | undefined> | undefined
  #inFlight: Promise<unknown> | undefined

  constructor(
    private readonly pool: pg.Pool,
    private readonly sql: StoreSql,
    private readonly onError: (error: unknown) => void,
  ) {}

  /** Undefined when the query failed (reported): the append itself committed all the same. */
  after(): Promise<string | undefined> {
    this.#queued ??= this.#next()
    return this.#queued
  }

  async #next(): Promise<string | undefined> {
    await this.#inFlight?.catch(() => undefined)
    // From here on, callers wait for the next query: this one may be sent before they commit.
    this.#queued = undefined
    const sent = this.pool.query<{ lsn: string }>(this.sql.walInsertLsn)
    this.#inFlight = sent
    try {
      return (await sent).rows[0]?.lsn
    } catch (error) {
      this.onError(error)
      return undefined
    } finally {
      if (this.#inFlight === sent) this.#inFlight = undefined
    }
  }
}

interface PublisherOptions {
  readonly intervalMs: number
  readonly heartbeatMs: number
  readonly onError: (error: unknown) => void
}

/**
 * Publishes the safe horizon into published_horizon on the primary (migrations/0014) every
 * interval, from the first replica read until the store closes. No lease: the row only moves
 * forward, so several processes publishing at once is harmless.
 */
export class HorizonPublisher {
  #first: Promise<void> | undefined
  #timer: NodeJS.Timeout | undefined
  #running: Promise<void> | undefined
  #stopped = false

  constructor(
    private readonly pool: pg.Pool,
    private readonly sql: StoreSql,
    private readonly options: PublisherOptions,
  ) {}

  /** Starts publishing; resolves after the first publication (or its failure, reported). */
  start(): Promise<void> {
    this.#first ??= this.#tick()
    return this.#first
  }

  #tick(): Promise<void> {
    this.#running = this.pool
      .query(this.sql.publishHorizon, [
        Math.min(this.options.intervalMs, 50),
        this.options.heartbeatMs,
      ])
      .then(
        () => undefined,
        (error: unknown) => {
          if (!this.#stopped) this.options.onError(error)
        },
      )
      .finally(() => {
        this.#running = undefined
        if (!this.#stopped) {
          this.#timer = setTimeout(() => void this.#tick(), this.options.intervalMs)
          this.#timer.unref()
        }
      })
    return this.#running
  }

  async stop(): Promise<void> {
    this.#stopped = true
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    await this.#running
  }
}

/** undefined_table, invalid_schema_name, undefined_function: DDL not replayed here yet. */
function notReplayedYet(error: unknown): boolean {
  return isDatabaseError(error) && ['42P01', '3F000', '42883'].includes(error.code ?? '')
}

function checkReadFrom(option: string, value: unknown): ReadFrom {
  if (value !== 'primary' && value !== 'replica') {
    throw new ConfigError(option, value, "expected 'primary' or 'replica'")
  }
  return value
}

function checkMs(option: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new ConfigError(option, value, 'must be a positive integer (ms)')
  }
  return value
}

function describe(pool: pg.Pool): string {
  const options = pool.options as pg.PoolConfig
  if (typeof options.connectionString === 'string') {
    try {
      const url = new URL(options.connectionString)
      return `${url.hostname}:${url.port || '5432'}${url.pathname}`
    } catch {
      return 'replica'
    }
  }
  return `${String(options.host ?? 'localhost')}:${String(options.port ?? 5432)}/${String(options.database ?? '')}`
}
