import { hostname } from 'node:os'
import { randomBytes } from 'node:crypto'
import { BehaviorSubject, ReplaySubject, type Observable } from 'rxjs'
import type { SqlExecutor } from '../db/executor.js'
import { toBigInt } from '../db/int8.js'
import { kyselyOn } from '../db/kysely.js'
import { isTransientError } from '../db/pg-errors.js'
import type { EventStore } from '../store/event-store.js'
import type { RecordedEvent } from '../store/types.js'
import { checkPositiveInt } from '../store/validate.js'
import { DedicatedConnection } from '../subscriptions/dedicated-connection.js'
import { WakeUp } from '../subscriptions/wake-up.js'
import { delay as sleep } from '../subscriptions/delay.js'
import type { AnyProjection, ProjectionDefinition, ReadModelDb } from './define-projection.js'
import { ProjectionLeaseLostError, ProjectionFailedError } from './errors.js'
import { readModelSearchPath, repointViews, schemaExists, versionSchema } from './read-model.js'
import { projectionSql, type ProjectionSql } from './sql.js'
import { componentLogger, errorFields } from '../observability/logger.js'
import { quoteIdent } from '../db/identifiers.js'

export interface RunProjectionOptions {
  /**
   * How long the runner's lease lasts without renewal (default 5000 ms). A standby takes over
   * within about this long after the active runner dies.
   */
  leaseMs?: number
  /** Events applied per transaction (default 500). */
  batchSize?: number
  /** Polling interval when caught up or on standby (default 500 ms). */
  pollIntervalMs?: number
  /** Stops the runner when aborted. */
  signal?: AbortSignal
  /** Errors the runner recovers from (lost connections, a lost lease); default: ignored. */
  onError?: (error: unknown) => void
}

/**
 * - `starting`; `standby`: another runner holds the lease; `catching-up`; `live`: caught up,
 *   following new events; `paused`; `stopped`: by stop() or the signal; `failed`: stopped on an
 *   event (error policy 'stop') or by setup; `retired`: a newer version took over.
 */
export type RunnerState =
  'starting' | 'standby' | 'catching-up' | 'live' | 'paused' | 'stopped' | 'failed' | 'retired'

/** Progress of a runner, in positions of $all (for a rebuild: done, total, rate, ETA). */
export interface ProjectionProgress {
  readonly name: string
  readonly version: number
  readonly position: bigint
  /** Positions processed since this version started (or was reset). */
  readonly done: bigint
  /** Positions to process to reach the head as of this moment. */
  readonly total: bigint
  /** Positions per second over the last seconds. */
  readonly rate: number
  /** Seconds until caught up at the current rate (0 when caught up, null when unknown). */
  readonly etaSeconds: number | null
  /** When it should catch up at the current rate: now + etaSeconds (null when unknown). */
  readonly eta: Date | null
  readonly state: RunnerState
}

type Handler = (event: RecordedEvent, db: ReadModelDb<unknown>) => void | Promise<void>

/**
 * Applies a projection from $all: exactly one active runner per projection version across
 * processes (a lease in the projections table, renewed as it works; every apply transaction
 * proves it still holds it), standbys that take over when the lease expires, read-model writes
 * committed with the position (exactly-once effect), the error policy, and the switch to a new
 * version once it has caught up. Start it with `store.runProjection(projection)`.
 */
export class ProjectionRunner {
  readonly name: string
  readonly version: number
  /** This runner's identity in the lease (host:pid:random). */
  readonly owner = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`
  readonly state$ = new BehaviorSubject<RunnerState>('starting')
  readonly #progress = new ReplaySubject<ProjectionProgress>(1)
  /** Resolves when the runner stops or retires; rejects with ProjectionFailedError. */
  readonly done: Promise<void>

  readonly #store: EventStore
  readonly #projection: AnyProjection
  readonly #handlers: Record<string, Handler>
  readonly #sql: ProjectionSql
  readonly #schema: string
  readonly #leaseMs: number
  readonly #batchSize: number
  readonly #pollMs: number
  readonly #onError: (error: unknown) => void
  readonly #controller = new AbortController()
  #position = 0n
  #startedFrom = 0n
  #failures = 0
  #samples: Array<{ at: number; position: bigint }> = []

  /** @internal Use store.runProjection(). */
  constructor(
    store: EventStore,
    projection: ProjectionDefinition<never, never>,
    options: RunProjectionOptions = {},
  ) {
    this.#store = store
    this.#projection = projection
    this.name = projection.name
    this.version = projection.version
    this.#handlers = projection.handlers as unknown as Record<string, Handler>
    this.#sql = projectionSql(store.schema)
    this.#schema = versionSchema(projection.name, projection.version)
    this.#leaseMs = checkPositiveInt('leaseMs', options.leaseMs ?? 5000)
    this.#batchSize = checkPositiveInt('batchSize', options.batchSize ?? 500, 100_000)
    this.#pollMs = checkPositiveInt('pollIntervalMs', options.pollIntervalMs ?? 500)
    const log = componentLogger(store.logger, 'projection')
    const userOnError = options.onError
    this.#onError = (error) => {
      log.warn(
        { projection: this.name, version: this.version, ...errorFields(error) },
        'projection runner recovering',
      )
      userOnError?.(error)
    }
    this.state$.subscribe((state) =>
      log.info(
        { projection: this.name, version: this.version, owner: this.owner, state },
        `projection ${state}`,
      ),
    )
    const external = options.signal
    if (external?.aborted) this.#controller.abort()
    else external?.addEventListener('abort', () => this.#controller.abort(), { once: true })
    this.done = this.#run()
    this.done.catch(() => undefined) // observed through state$ as well
  }

  /** Progress after every batch (done, total, rate, ETA): what a progress bar draws. */
  get progress$(): Observable<ProjectionProgress> {
    return this.#progress.asObservable()
  }

  get state(): RunnerState {
    return this.state$.value
  }

  /** The last position this runner applied. */
  get position(): bigint {
    return this.#position
  }

  /** Stops: finishes the batch in flight, releases the lease at once (a standby takes over). */
  async stop(): Promise<void> {
    this.#controller.abort()
    await this.done.catch(() => undefined)
  }

  /** Moves to a state; repeated states are not emitted again. */
  #setState(state: RunnerState): void {
    if (this.state$.value !== state) this.state$.next(state)
  }

  async #run(): Promise<void> {
    const connection = new DedicatedConnection({
      ...this.#store.pool.options,
      application_name: 'strata projection',
    })
    const signal = this.#controller.signal
    const wake = new WakeUp(
      this.#store.listens ? this.#store.notifications.wakeups$ : undefined,
      this.#pollMs,
    )
    try {
      await this.#store.ready()
      await this.#store.pool.query(this.#sql.register, [this.name, this.version])
      while (!signal.aborted) {
        try {
          const db = await connection.executor()
          const outcome = await this.#lead(db, wake, signal)
          this.#failures = 0
          if (outcome === 'retired') {
            this.#setState('retired')
            return
          }
          if (outcome === 'standby') {
            this.#setState('standby')
            await sleep(Math.min(this.#pollMs, this.#leaseMs / 2) * (0.5 + Math.random()), signal)
          }
        } catch (error) {
          if (error instanceof ProjectionFailedError) {
            this.#setState('failed')
            throw error
          }
          if (signal.aborted) break
          if (error instanceof ProjectionLeaseLostError || isTransientError(error)) {
            this.#onError(error)
            connection.reset()
            this.#failures++
            await sleep(
              Math.min(5000, 50 * 2 ** Math.min(this.#failures, 7)) * (0.5 + Math.random()),
              signal,
            )
            continue
          }
          this.#setState('failed')
          throw new ProjectionFailedError(this.name, this.version, null, null, { cause: error })
        }
      }
      this.#setState('stopped')
    } finally {
      wake.close()
      try {
        const db = await connection.executor()
        await db.query(this.#sql.releaseLease, [this.name, this.version, this.owner])
      } catch {
        // the lease expires by itself
      }
      await connection.close()
      this.#progress.complete()
      this.state$.complete()
    }
  }

  /** While this runner holds the lease: set up, then apply pages until stopped or deposed. */
  async #lead(
    db: SqlExecutor,
    wake: WakeUp,
    signal: AbortSignal,
  ): Promise<'standby' | 'retired' | 'stopped'> {
    const { rows } = await db.query<{
      position: string
      status: string
      paused: boolean
      started_from: string
    }>(this.#sql.acquireLease, [this.name, this.version, this.owner, this.#leaseMs])
    const lease = rows[0]
    if (lease === undefined) {
      const { rows: active } = await db.query<{ version: number }>(this.#sql.activeVersion, [
        this.name,
      ])
      if ((active[0]?.version ?? 0) > this.version) return 'retired'
      return 'standby'
    }
    if (await this.#supersede(db)) return 'retired'
    this.#position = toBigInt(lease.position)
    this.#startedFrom = toBigInt(lease.started_from)
    let status = lease.status
    this.#setState('catching-up')
    await this.#ensureSetup(db, status)
    let lastRenewal = Date.now()
    while (!signal.aborted) {
      if (Date.now() - lastRenewal > this.#leaseMs / 3) {
        const renewed = await db.query<{ position: string; status: string; paused: boolean }>(
          this.#sql.renewLease,
          [this.name, this.version, this.owner, this.#leaseMs],
        )
        const row = renewed.rows[0]
        if (row === undefined) throw new ProjectionLeaseLostError(this.name, this.version)
        if (row.status === 'retired') return 'retired'
        if (toBigInt(row.position) !== this.#position) return 'standby' // reset elsewhere: start over
        status = row.status
        lastRenewal = Date.now()
        if (row.paused) {
          this.#setState('paused')
          await sleep(this.#pollMs, signal)
          continue
        }
      }
      wake.arm()
      const page = await this.#store.allReader.read(
        {
          after: this.#position,
          limit: this.#batchSize,
          filter: { eventTypes: this.#projection.eventTypes },
          maxWaitMs: 200,
        },
        db,
      )
      if (page.lastPosition > this.#position) {
        const outcome = await this.#apply(db, page.events, page.lastPosition, signal)
        lastRenewal = Date.now()
        if (outcome !== 'applied') return outcome
      }
      if (page.isEnd) {
        if (status === 'building') {
          const activated = await this.#activate(db)
          if (activated === 'retired') return 'retired'
          status = 'active'
        }
        this.#setState('live')
        this.#emitProgress(this.#position)
        await wake.wait(signal)
      } else {
        this.#setState('catching-up')
      }
    }
    return 'stopped'
  }

  /** Retires this version when a newer one is already active (an old deployment still running). */
  async #supersede(db: SqlExecutor): Promise<boolean> {
    const { rows } = await db.query<{ version: number }>(this.#sql.activeVersion, [this.name])
    const active = rows[0]?.version ?? 0
    if (active <= this.version) return false
    await db.query(this.#sql.retire, [this.name, this.version])
    return true
  }

  /** Creates the version's schema and runs the projection's setup, once, in one transaction. */
  async #ensureSetup(db: SqlExecutor, status: string): Promise<void> {
    if (await schemaExists(db, this.#sql, this.#schema)) return
    await this.#transaction(db, async () => {
      await this.#fence(db)
      await db.query(`CREATE SCHEMA ${quoteIdent(this.#schema)}`)
      try {
        const setup = this.#projection.setup as
          ((db: ReadModelDb<unknown>) => Promise<void>) | undefined
        await setup?.(this.#readModel(db))
      } catch (error) {
        throw new ProjectionFailedError(this.name, this.version, null, null, { cause: error })
      }
      if (status === 'active') await repointViews(db, this.#sql, this.name, this.version)
    })
  }

  /** A batch in one transaction; on a handler error, event by event to apply the policy. */
  async #apply(
    db: SqlExecutor,
    events: readonly RecordedEvent[],
    to: bigint,
    signal: AbortSignal,
  ): Promise<'applied' | 'retired' | 'standby'> {
    try {
      const fenced = await this.#transaction(db, async () => {
        const fence = await this.#fence(db)
        if (fence !== 'ok') return fence
        const readModel = this.#readModel(db)
        for (const event of events) await this.#handle(event, readModel)
        await db.query(this.#sql.advance, [
          this.name,
          this.version,
          this.owner,
          to.toString(),
          this.#leaseMs,
        ])
        return 'ok' as const
      })
      if (fenced !== 'ok') return fenced
    } catch (error) {
      if (!(error instanceof HandlerError)) throw error
      for (const event of events) {
        const outcome = await this.#applyOne(db, event, signal)
        if (outcome !== 'applied') return outcome
      }
      await this.#transaction(db, async () => {
        if ((await this.#fence(db)) !== 'ok')
          throw new ProjectionLeaseLostError(this.name, this.version)
        await db.query(this.#sql.advance, [
          this.name,
          this.version,
          this.owner,
          to.toString(),
          this.#leaseMs,
        ])
      })
    }
    this.#position = to
    this.#failures = 0 // consecutive failures only: progress resets the backoff
    this.#emitProgress(to)
    return 'applied'
  }

  /** One event on its own, with the projection's error policy. */
  async #applyOne(
    db: SqlExecutor,
    event: RecordedEvent,
    signal: AbortSignal,
  ): Promise<'applied' | 'retired' | 'standby'> {
    const policy = this.#projection.onError
    const retry = typeof policy === 'object' ? policy.retry : undefined
    const maxAttempts = retry === undefined ? 1 : (retry.maxAttempts ?? 5)
    for (let attempt = 1; ; attempt++) {
      try {
        const fenced = await this.#transaction(db, async () => {
          const fence = await this.#fence(db)
          if (fence !== 'ok') return fence
          await this.#handle(event, this.#readModel(db))
          await db.query(this.#sql.advance, [
            this.name,
            this.version,
            this.owner,
            event.position.toString(),
            this.#leaseMs,
          ])
          return 'ok' as const
        })
        if (fenced !== 'ok') return fenced
        this.#position = event.position
        return 'applied'
      } catch (error) {
        if (!(error instanceof HandlerError)) throw error
        const cause = error.cause
        this.#onError(cause)
        if (attempt < maxAttempts && !signal.aborted) {
          const base = retry?.initialDelayMs ?? 100
          await sleep(
            Math.min(retry?.maxDelayMs ?? 10_000, base * 2 ** (attempt - 1)) *
              (0.5 + Math.random()),
            signal,
          )
          continue
        }
        const skip = policy === 'skip' || (typeof policy === 'object' && policy.then === 'skip')
        await this.#transaction(db, async () => {
          if ((await this.#fence(db)) !== 'ok')
            throw new ProjectionLeaseLostError(this.name, this.version)
          const message = cause instanceof Error ? cause.message : String(cause)
          await db.query(this.#sql.recordFailure, [
            this.name,
            this.version,
            event.position.toString(),
            event.id,
            event.type,
            message,
            attempt,
            skip,
          ])
          if (skip) {
            await db.query(this.#sql.advance, [
              this.name,
              this.version,
              this.owner,
              event.position.toString(),
              this.#leaseMs,
            ])
          } else {
            await db.query(this.#sql.markStopped, [
              this.name,
              this.version,
              event.position.toString(),
              event.id,
              message,
            ])
          }
        })
        if (!skip)
          throw new ProjectionFailedError(this.name, this.version, event.position, event.id, {
            cause,
          })
        this.#position = event.position
        return 'applied'
      }
    }
  }

  async #handle(event: RecordedEvent, readModel: ReadModelDb<unknown>): Promise<void> {
    const handler = this.#handlers[event.type]
    if (handler === undefined) return
    try {
      await handler(event, readModel)
    } catch (error) {
      // A dropped connection is not the handler's fault: retried as such, not by the policy.
      if (isTransientError(error)) throw error
      throw new HandlerError(error)
    }
  }

  /** Inside a transaction: are we still the leaseholder, at the position we think? */
  async #fence(db: SqlExecutor): Promise<'ok' | 'retired' | 'standby'> {
    const { rows } = await db.query<{ position: string; status: string; paused: boolean }>(
      this.#sql.fence,
      [this.name, this.version, this.owner],
    )
    const row = rows[0]
    if (row === undefined) throw new ProjectionLeaseLostError(this.name, this.version)
    if (row.status === 'retired') return 'retired'
    if (toBigInt(row.position) !== this.#position || row.paused) return 'standby'
    return 'ok'
  }

  /** Makes this version the serving one, once caught up: views switch in the same transaction. */
  async #activate(db: SqlExecutor): Promise<'active' | 'retired'> {
    return this.#transaction(db, async () => {
      const { rows } = await db.query<{ version: number; status: string }>(
        this.#sql.lockProjection,
        [this.name],
      )
      if (rows.some((r) => r.status === 'active' && r.version > this.version)) {
        await db.query(this.#sql.retire, [this.name, this.version])
        return 'retired' as const
      }
      if ((await this.#fence(db)) !== 'ok')
        throw new ProjectionLeaseLostError(this.name, this.version)
      await db.query(this.#sql.retireOthers, [this.name, this.version])
      await db.query(this.#sql.activate, [this.name, this.version])
      await repointViews(db, this.#sql, this.name, this.version)
      return 'active' as const
    })
  }

  #readModel(db: SqlExecutor): ReadModelDb<unknown> {
    return kyselyOn<unknown>(db).withSchema(this.#schema)
  }

  /**
   * One transaction on the runner's connection. Its search_path starts with the version's schema,
   * so read-model SQL written by hand (sql`…` in setup or handlers) lands in this version's
   * tables, like the kysely builder's, and never in another version's.
   */
  async #transaction<T>(db: SqlExecutor, work: () => Promise<T>): Promise<T> {
    await db.query('BEGIN')
    try {
      await db.query(readModelSearchPath(this.#schema))
      const result = await work()
      await db.query('COMMIT')
      return result
    } catch (error) {
      await db.query('ROLLBACK').catch(() => undefined)
      throw error
    }
  }

  #emitProgress(position: bigint): void {
    const now = Date.now()
    this.#samples.push({ at: now, position })
    this.#samples = this.#samples.filter((s) => now - s.at <= 5000)
    const first = this.#samples[0]!
    const seconds = (now - first.at) / 1000
    const rate = seconds > 0 ? Number(position - first.position) / seconds : 0
    const head = this.#store.horizon.known > position ? this.#store.horizon.known : position
    const state = this.state$.value
    const etaSeconds = head === position ? 0 : rate > 0 ? Number(head - position) / rate : null
    this.#progress.next({
      name: this.name,
      version: this.version,
      position,
      done: position - this.#startedFrom,
      total: head - this.#startedFrom,
      rate,
      etaSeconds,
      eta: etaSeconds === null ? null : new Date(now + etaSeconds * 1000),
      state,
    })
  }
}

/** A handler threw: the batch is replayed event by event to apply the error policy. */
class HandlerError extends Error {
  constructor(cause: unknown) {
    super('projection handler failed', { cause })
  }
}
