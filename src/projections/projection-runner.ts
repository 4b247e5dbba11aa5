import { hostname } from 'node:os'
import { randomBytes } from 'node:crypto'
import { BehaviorSubject, ReplaySubject, type Observable } from 'rxjs'
import {
  type SqlExecutor,
  DedicatedConnection,
  kyselyOn,
  isTransientError,
  quoteIdent,
} from '../db/index.js'
import {
  type Backoff,
  backoffDelay,
  checkOptions,
  optionKeys,
  RECONNECT_BACKOFF,
} from '../config/index.js'
import {
  type StoreCore,
  type ReadFrom,
  type RecordedEvent,
  checkPositiveInt,
} from '../store/index.js'
import { delay as sleep, NotificationChase, WakeUp } from '../subscriptions/index.js'
import type { AnyProjection, ProjectionDefinition, ReadModelDb } from './define-projection.js'
import { ProjectionLeaseLostError, ProjectionFailedError } from './errors.js'
import { ProgressMeter } from './progress-meter.js'
import { ProjectionLease } from './projection-lease.js'
import { repointViews, schemaExists, versionSchema } from './read-model.js'
import type { ProjectionProgress, RunnerState, RunProjectionOptions } from './runner-types.js'
import { projectionSql, type ProjectionSql } from './sql.js'
import { componentLogger, errorFields } from '../observability/index.js'

type Handler = (event: RecordedEvent, db: ReadModelDb<unknown>) => void | Promise<void>

const RUN_OPTIONS = optionKeys<RunProjectionOptions>({
  leaseMs: true,
  batchSize: true,
  pollIntervalMs: true,
  signal: true,
  onError: true,
  readFrom: true,
})

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

  readonly #store: StoreCore
  readonly #projection: AnyProjection
  readonly #handlers: Record<string, Handler>
  readonly #sql: ProjectionSql
  readonly #schema: string
  readonly #lease: ProjectionLease
  readonly #meter: ProgressMeter
  readonly #batchSize: number
  readonly #pollMs: number
  readonly #readFrom: ReadFrom
  readonly #chase: NotificationChase
  readonly #onError: (error: unknown) => void
  readonly #log: ReturnType<typeof componentLogger>
  readonly #controller = new AbortController()
  #position = 0n
  #startedFrom = 0n
  #failures = 0

  /** @internal Use store.runProjection(). */
  constructor(
    store: StoreCore,
    projection: ProjectionDefinition<never, never>,
    options: RunProjectionOptions = {},
  ) {
    checkOptions(options, RUN_OPTIONS, 'an option of runProjection()')
    this.#store = store
    this.#projection = projection
    this.name = projection.name
    this.version = projection.version
    this.#handlers = projection.handlers as unknown as Record<string, Handler>
    this.#sql = projectionSql(store.schema)
    this.#schema = versionSchema(projection.name, projection.version)
    this.#lease = new ProjectionLease(
      this.#sql,
      this.name,
      this.version,
      this.owner,
      checkPositiveInt('leaseMs', options.leaseMs ?? 5000),
      this.#schema,
    )
    this.#meter = new ProgressMeter(this.name, this.version)
    this.#batchSize = checkPositiveInt('batchSize', options.batchSize ?? 500, 100_000)
    this.#pollMs = checkPositiveInt('pollIntervalMs', options.pollIntervalMs ?? 500)
    this.#readFrom = store.readTarget(options.readFrom, 'all')
    this.#chase = new NotificationChase(store)
    const log = componentLogger(store.logger, 'projection')
    this.#log = log
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
            await this.#explainRetirement(db)
            this.#setState('retired')
            return
          }
          if (outcome === 'standby') {
            this.#setState('standby')
            await sleep(
              Math.min(this.#pollMs, this.#lease.leaseMs / 2) * (0.5 + Math.random()),
              signal,
            )
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
            await sleep(backoffDelay(this.#failures, RECONNECT_BACKOFF), signal)
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
        await this.#lease.release(await connection.executor())
      } catch {
        // the lease expires by itself
      }
      await connection.close()
      this.#progress.complete()
      this.state$.complete()
    }
  }

  /**
   * An old deployment starting after a newer version took over stops at once; say so loudly,
   * or its operator sees a runner that simply ended.
   */
  async #explainRetirement(db: SqlExecutor): Promise<void> {
    const active = await this.#lease.activeVersion(db).catch(() => undefined)
    this.#log.warn(
      { projection: this.name, version: this.version, activeVersion: active },
      `projection ${this.name} version ${this.version} retired: ${
        active === undefined || active <= this.version
          ? 'a newer version replaced it'
          : `version ${active} is active`
      }; this runner stops (deploy the newer code, or reset the projection to rebuild an older version)`,
    )
  }

  /** While this runner holds the lease: set up, then apply pages until stopped or deposed. */
  async #lead(
    db: SqlExecutor,
    wake: WakeUp,
    signal: AbortSignal,
  ): Promise<'standby' | 'retired' | 'stopped'> {
    const lease = await this.#lease.acquire(db)
    if (lease === undefined) {
      return (await this.#lease.activeVersion(db)) > this.version ? 'retired' : 'standby'
    }
    if (await this.#lease.supersede(db)) return 'retired'
    this.#position = lease.position
    this.#startedFrom = lease.startedFrom
    let status = lease.status
    this.#setState('catching-up')
    await this.#ensureSetup(db, status)
    let lastRenewal = Date.now()
    while (!signal.aborted) {
      if (Date.now() - lastRenewal > this.#lease.leaseMs / 3) {
        const row = await this.#lease.renew(db)
        if (row.status === 'retired') return 'retired'
        if (row.position !== this.#position) return 'standby' // reset elsewhere: start over
        status = row.status
        lastRenewal = Date.now()
        if (row.paused) {
          this.#setState('paused')
          await sleep(this.#pollMs, signal)
          continue
        }
      }
      wake.arm()
      const page = await this.#store.readAllPage(
        {
          after: this.#position,
          limit: this.#batchSize,
          filter: { eventTypes: this.#projection.eventTypes },
          maxWaitMs: 200,
        },
        { readFrom: this.#readFrom },
        db,
      )
      if (page.lastPosition > this.#position) {
        const outcome = await this.#apply(db, page.events, page.lastPosition, signal)
        lastRenewal = Date.now()
        if (outcome !== 'applied') return outcome
      }
      const caughtUp =
        page.isEnd &&
        (this.#readFrom === 'primary' || !(await this.#chase.behind(page.lastPosition)))
      if (caughtUp) {
        if (status === 'building') {
          const activated = await this.#lease.activate(db, this.#position)
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

  /** Creates the version's schema and runs the projection's setup, once, in one transaction. */
  async #ensureSetup(db: SqlExecutor, status: string): Promise<void> {
    if (await schemaExists(db, this.#sql, this.#schema)) return
    await this.#lease.transaction(db, async () => {
      await this.#lease.fence(db, this.#position)
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
      const fenced = await this.#lease.transaction(db, async () => {
        const fence = await this.#lease.fence(db, this.#position)
        if (fence !== 'ok') return fence
        const readModel = this.#readModel(db)
        for (const event of events) await this.#handle(event, readModel)
        await this.#lease.advance(db, to)
        return 'ok' as const
      })
      if (fenced !== 'ok') return fenced
    } catch (error) {
      if (!(error instanceof HandlerError)) throw error
      for (const event of events) {
        const outcome = await this.#applyOne(db, event, signal)
        if (outcome !== 'applied') return outcome
      }
      await this.#lease.transaction(db, async () => {
        await this.#lease.assertHeld(db, this.#position)
        await this.#lease.advance(db, to)
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
        const fenced = await this.#lease.transaction(db, async () => {
          const fence = await this.#lease.fence(db, this.#position)
          if (fence !== 'ok') return fence
          await this.#handle(event, this.#readModel(db))
          await this.#lease.advance(db, event.position)
          return 'ok' as const
        })
        if (fenced !== 'ok') return fenced
        this.#position = event.position
        return 'applied'
      } catch (error) {
        if (!(error instanceof HandlerError)) throw error
        const cause = error.cause
        this.#onError(cause)
        if (retry !== undefined && attempt < maxAttempts && !signal.aborted) {
          // defineProjection filled in every value of the policy
          await sleep(backoffDelay(attempt, retry as Backoff), signal)
          continue
        }
        const skip = policy === 'skip' || (typeof policy === 'object' && policy.then === 'skip')
        await this.#lease.transaction(db, async () => {
          await this.#lease.assertHeld(db, this.#position)
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
            await this.#lease.advance(db, event.position)
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

  #readModel(db: SqlExecutor): ReadModelDb<unknown> {
    return kyselyOn<unknown>(db).withSchema(this.#schema)
  }

  #emitProgress(position: bigint): void {
    this.#progress.next(
      this.#meter.measure(position, this.#startedFrom, this.#store.horizon.known, this.state),
    )
  }
}

/** A handler threw: the batch is replayed event by event to apply the error policy. */
class HandlerError extends Error {
  constructor(cause: unknown) {
    super('projection handler failed', { cause })
  }
}
