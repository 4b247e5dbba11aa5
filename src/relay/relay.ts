import { randomBytes } from 'node:crypto'
import { backoffDelay, RECONNECT_BACKOFF } from '../config/index.js'
import { hostname } from 'node:os'
import { BehaviorSubject } from 'rxjs'
import { ConfigError, InvalidArgumentError, MissingDependencyError } from '../errors.js'
import { componentLogger, errorFields, type StrataLogger } from '../observability/index.js'
import type { StoreCore } from '../store/index.js'
import { RelayError, RelayLeaseLostError } from './errors.js'
import { ensureStream, reconcile, type ResumePoint } from './jetstream-target.js'
import { checkTimeline, relayMessage } from './relay-checks.js'
import {
  connectNats,
  loadNats,
  type JetStreamClient,
  type JetStreamManager,
  type NatsConnection,
  type NatsModules,
} from './nats-client.js'
import { filterJson, relaySettings, type RelayOptions, type RelaySettings } from './options.js'
import { bursts } from './bursts.js'
import { PublishWindow } from './publish-window.js'
import { RelayLease } from './relay-lease.js'
import { relaySql, type RelaySql } from './sql.js'
import { delay as sleep, subscribeToAll } from '../subscriptions/index.js'

/**
 * - `starting`; `standby`: another instance holds the lease; `catching-up`: publishing a
 *   backlog; `live`: caught up, publishing new events as they commit; `recovering`: NATS or
 *   Postgres failed, retrying with backoff; `stopped`; `failed`: stopped on a {@link RelayError}
 *   (or a missing dependency, a bad option).
 */
export type RelayState =
  'starting' | 'standby' | 'catching-up' | 'live' | 'recovering' | 'stopped' | 'failed'

const backoff = (failures: number) => backoffDelay(failures, RECONNECT_BACKOFF)

/** An AbortController aborted with `parent` too. */
function childController(parent: AbortSignal): AbortController {
  const controller = new AbortController()
  if (parent.aborted) controller.abort()
  else parent.addEventListener('abort', () => controller.abort(), { once: true })
  return controller
}

/**
 * Publishes $all (or the part a filter selects) to a JetStream stream, in position order, each
 * event exactly once (docs/relay.md). Start it with {@link startRelay}.
 */
export class Relay {
  readonly name: string
  /** This instance's identity in the lease (host:pid:random). */
  readonly owner = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`
  readonly state$ = new BehaviorSubject<RelayState>('starting')
  /** Resolves when the relay stops; rejects with the error it failed on. */
  readonly done: Promise<void>

  readonly #store: StoreCore
  readonly #settings: RelaySettings
  readonly #sql: RelaySql
  readonly #lease: RelayLease
  readonly #log: StrataLogger
  readonly #onError: (error: unknown) => void
  readonly #controller = new AbortController()
  #connection: NatsConnection | undefined
  #position = 0n
  #published = 0

  /** @internal Use startRelay(). */
  constructor(store: StoreCore, settings: RelaySettings, options: RelayOptions) {
    this.#store = store
    this.#settings = settings
    this.name = settings.name
    this.#sql = relaySql(store.schema)
    this.#log = componentLogger(store.logger, 'relay')
    const userOnError = options.onError
    this.#onError = (error) => {
      this.#log.warn({ relay: this.name, ...errorFields(error) }, 'relay recovering')
      userOnError?.(error)
    }
    this.#lease = new RelayLease(
      store.pool,
      this.#sql,
      this.name,
      this.owner,
      settings.leaseMs,
      Math.min(settings.checkpointIntervalMs, Math.floor(settings.leaseMs / 3)),
      store.telemetry,
      this.#onError,
    )
    this.state$.subscribe((state) =>
      this.#log.info({ relay: this.name, owner: this.owner, state }, `relay ${state}`),
    )
    const external = options.signal
    if (external?.aborted) this.#controller.abort()
    else external?.addEventListener('abort', () => this.#controller.abort(), { once: true })
    this.done = this.#run()
    this.done.catch(() => undefined) // observed through state$ as well
  }

  get state(): RelayState {
    return this.state$.value
  }

  /** The last position this instance knows to be in the stream (acknowledged, in order). */
  get position(): bigint {
    return this.#position
  }

  /** Messages this instance published and JetStream acknowledged. */
  get published(): number {
    return this.#published
  }

  /** Stops: waits for the publishes in flight, saves the checkpoint, releases the lease. */
  async stop(): Promise<void> {
    this.#controller.abort()
    await this.done.catch(() => undefined)
  }

  #setState(state: RelayState): void {
    if (this.state$.value !== state) this.state$.next(state)
  }

  async #run(): Promise<void> {
    const signal = this.#controller.signal
    let failures = 0
    try {
      const modules = await loadNats()
      await this.#register()
      while (!signal.aborted) {
        try {
          const lease = await this.#lease.acquire(filterJson(this.#settings.filter))
          if (lease === undefined) {
            this.#setState('standby')
            await sleep(this.#settings.pollIntervalMs * (0.5 + Math.random()), signal)
            continue
          }
          this.#position = lease.position
          failures = 0
          await this.#lead(modules, signal)
        } catch (error) {
          if (signal.aborted) break
          if (isFatal(error)) throw error
          this.#onError(error)
          this.#setState('recovering')
          await sleep(backoff(++failures), signal)
        }
      }
      this.#setState('stopped')
    } catch (error) {
      this.#setState('failed')
      this.#log.error({ relay: this.name, ...errorFields(error) }, 'relay failed')
      throw error
    } finally {
      await this.#lease.release()
      await this.#connection?.close().catch(() => undefined)
      this.state$.complete()
    }
  }

  /** Creates the relay's row on first use; a name already bound to another stream is refused. */
  async #register(): Promise<void> {
    await this.#store.ready()
    const { from, stream } = this.#settings
    let initial = 0n
    if (from === 'end') initial = await this.#store.headPosition()
    else if (typeof from === 'bigint') initial = from
    const pool = this.#store.pool
    await pool.query(this.#sql.register, [
      this.name,
      stream,
      filterJson(this.#settings.filter),
      initial.toString(),
    ])
    const { rows } = await pool.query<{ target: string }>(this.#sql.target, [this.name])
    const target = rows[0]?.target
    if (target !== stream)
      throw new ConfigError(
        'stream',
        stream,
        `relay ${JSON.stringify(this.name)} publishes to ${JSON.stringify(target)}: use another relay name for another stream`,
      )
  }

  /** While this instance holds the lease: reconcile with the stream, publish, and again on failure. */
  async #lead(modules: NatsModules, signal: AbortSignal): Promise<void> {
    const held = childController(signal)
    let lost: RelayLeaseLostError | undefined
    this.#lease.start((error) => {
      lost = error
      held.abort()
    })
    let failures = 0
    try {
      const nc = await this.#connect(modules, held.signal)
      if (nc === undefined) return
      const js = modules.jetstream.jetstream(nc)
      const jsm = await modules.jetstream.jetstreamManager(nc)
      const { stream, subjectPrefix, createStream } = this.#settings
      await ensureStream(modules, jsm, this.name, stream, [`${subjectPrefix}.>`], createStream)
      while (!held.signal.aborted) {
        try {
          const resume = await this.#reconcile(jsm)
          const progressed = await this.#publish(modules, js, nc, resume, held)
          if (progressed) failures = 0
        } catch (error) {
          if (held.signal.aborted) break
          if (error instanceof RelayLeaseLostError) {
            lost = error
            break
          }
          if (isFatal(error)) throw error
          this.#onError(error)
          this.#setState('recovering')
          await sleep(backoff(++failures), held.signal)
        }
      }
    } finally {
      this.#lease.stop()
    }
    if (lost !== undefined && !signal.aborted) {
      this.#onError(lost)
      this.#setState('standby')
    }
  }

  /** The NATS connection (one per instance; it reconnects by itself). */
  async #connect(modules: NatsModules, signal: AbortSignal): Promise<NatsConnection | undefined> {
    if (this.#connection !== undefined && !this.#connection.isClosed()) return this.#connection
    const connecting = connectNats(modules, this.#settings.nats, `strata relay ${this.name}`)
    const aborted = new Promise<undefined>((resolve) =>
      signal.addEventListener('abort', () => resolve(undefined), { once: true }),
    )
    const nc = await Promise.race([connecting, aborted])
    if (nc === undefined) {
      void connecting.then((late) => late.close()).catch(() => undefined)
      return undefined
    }
    this.#connection = nc
    return nc
  }

  async #reconcile(jsm: JetStreamManager): Promise<ResumePoint> {
    const run = () => reconcile(jsm, this.#settings.stream, this.name, this.#lease.confirmed)
    const resume = this.#store.telemetry.enabled
      ? await this.#store.telemetry.span(
          'strata.relay.reconcile',
          { 'strata.relay': this.name, 'strata.stream': this.#settings.stream },
          run,
        )
      : await run()
    if (resume.note !== undefined)
      this.#log.warn({ relay: this.name, note: resume.note }, 'relay resume point')
    if (resume.eventId !== undefined)
      await checkTimeline(
        this.#store,
        this.name,
        this.#settings.stream,
        resume.after,
        resume.eventId,
      )
    if (resume.skip === 0)
      await this.#lease.reset({ position: resume.after, sequence: resume.lastSequence })
    this.#position = resume.after
    return resume
  }

  /**
   * Publishes the events after the resume point until the window fails or the lease ends.
   * Returns whether anything was acknowledged.
   * @throws the first failed publish (after every publish in flight settled), RelayError.
   */
  async #publish(
    modules: NatsModules,
    js: JetStreamClient,
    nc: NatsConnection,
    resume: ResumePoint,
    held: AbortController,
  ): Promise<boolean> {
    const attempt = childController(held.signal)
    const telemetry = this.#store.telemetry
    const attributes = { 'strata.relay': this.name }
    let progressed = false
    const window = new PublishWindow(
      js,
      resume.lastSequence,
      resume.after,
      this.#settings.maxInFlight,
      this.#settings.publishTimeoutMs,
      {
        confirmed: (point, acked, ackMs, createdAt, duplicates) => {
          progressed = true
          this.#position = point.position
          this.#published += acked
          this.#lease.confirm(point)
          if (telemetry.enabled) {
            telemetry.count('strata.relay.published', acked, attributes)
            telemetry.count('strata.relay.duplicates', duplicates, attributes)
            telemetry.duration('strata.relay.ack.duration', ackMs, attributes)
            telemetry.duration('strata.relay.latency', Date.now() - createdAt.getTime(), attributes)
          }
        },
        failed: () => attempt.abort(),
      },
    )
    let skip = resume.skip
    const maxPayload = nc.info?.max_payload ?? Number.MAX_SAFE_INTEGER
    const head = await this.#store.headPosition()
    this.#setState(head <= resume.after ? 'live' : 'catching-up')
    const subscription = subscribeToAll(this.#store, {
      from: resume.after,
      ...(this.#settings.filter === undefined ? {} : { filter: this.#settings.filter }),
      pageSize: this.#settings.pageSize,
      pollIntervalMs: this.#settings.pollIntervalMs,
      signal: attempt.signal,
    })
    try {
      for await (const burst of bursts(subscription, () => window.free)) {
        try {
          for (const event of burst) {
            if (skip > 0) {
              // Published before, its message since deleted or expired (see reconcile).
              if (--skip === 0)
                this.#lease.confirm({ position: event.position, sequence: resume.lastSequence })
              this.#position = event.position
              continue
            }
            window.send(
              event.position,
              event.createdAt,
              relayMessage(modules, this.#store.eventTypes, this.#settings, event, maxPayload),
              event.id,
            )
          }
        } catch (error) {
          attempt.abort() // the subscription must stop before the burst reader lets go of it
          throw error
        }
        const last = burst[burst.length - 1]!
        this.#setState(last.position >= this.#store.horizon.known ? 'live' : 'catching-up')
        if (!(await window.room())) break
      }
    } finally {
      attempt.abort()
      await window.settle()
    }
    const failure = window.failure
    if (failure !== undefined)
      throw failure instanceof Error ? failure : new Error('a publish failed', { cause: failure })
    return progressed
  }
}

/** Errors the relay stops on rather than retrying. */
function isFatal(error: unknown): boolean {
  return (
    error instanceof RelayError ||
    error instanceof MissingDependencyError ||
    error instanceof ConfigError ||
    error instanceof InvalidArgumentError
  )
}

/**
 * Starts relaying $all (or the part `filter` selects) to a JetStream stream: in position order,
 * each event exactly once, however often instances are killed, NATS restarts or Postgres
 * connections drop (docs/relay.md). Run it in as many processes as you like: one instance per
 * relay name publishes, the others stand by and take over within `leaseMs`. It stops when the
 * store closes, on `stop()` or on the `signal`.
 *
 * Needs the optional peer dependencies `@nats-io/transport-node` and `@nats-io/jetstream`.
 *
 * @example
 * const relay = startRelay(store, {
 *   name: 'orders-to-nats',
 *   nats: { servers: 'nats://127.0.0.1:4222' },
 *   stream: 'ORDERS',
 *   filter: { category: 'order' },
 * })
 * // subjects ORDERS.<category>.<type>; headers Nats-Msg-Id (the event id), Strata-Position, …
 *
 * @throws ConfigError (and InvalidArgumentError for `from`) for bad options, before anything runs;
 * StoreClosedError.
 * Later failures arrive on `done` (and state `failed`): MissingDependencyError when the NATS
 * client is not installed, RelayError when the stream holds another publisher's messages or an
 * event cannot be published, ConfigError when the name is bound to another stream.
 */
export function startRelay(store: StoreCore, options: RelayOptions): Relay {
  const settings = relaySettings(options)
  store.assertOpen()
  const relay = new Relay(store, settings, options)
  const unregister = store.onClose(() => relay.stop())
  void relay.done.finally(unregister).catch(() => undefined)
  return relay
}
