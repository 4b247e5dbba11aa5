import { randomUUID } from 'node:crypto'
import { backoffDelay, RECONNECT_BACKOFF } from '../config/index.js'
import { isTransientError } from '../db/index.js'
import { InvalidArgumentError } from '../errors.js'
import { AutoPrefetch } from './auto-prefetch.js'
import { DeliveryLeaseLostError } from './errors.js'
import type { Claimed, GroupRuntime } from './group-runtime.js'
import { Kick } from './kick.js'
import { Lease } from './lease.js'
import { LeaseKeeper } from './lease-keeper.js'
import type { ConsumeSettings } from './options.js'
import { toDeliveryError } from './to-delivery-error.js'
import type { DeliveryError, SettlementFailure, StopOptions, StopResult } from './types.js'

/** How a consumer form hands leases to user code. */
export interface ConsumerHooks<E> {
  /** How many more deliveries the consumer wants now. */
  capacity(): number
  /** A lease ready for user code (its event decoded). */
  deliver(lease: Lease<E>): void
}

/** How user code settled a delivery. */
export type Outcome =
  | { readonly kind: 'ack' }
  | {
      readonly kind: 'retry'
      /** Instead of the backoff. */
      readonly delayMs: number | undefined
      readonly error: DeliveryError | undefined
    }
  | { readonly kind: 'park'; readonly reason: string; readonly error: DeliveryError | undefined }

/** Most messages claimed by one statement. */
const MAX_CLAIM = 100

/**
 * What every consumer does, whatever its form (handler or Observable): register, claim
 * deliveries when it has room, keep their leases (see LeaseKeeper: a lease it cannot confirm
 * aborts its delivery's signal before another consumer can take the message), settle deliveries,
 * and stop gracefully. Settlements present the lease token, so a late one never touches a
 * message leased again.
 */
export class ConsumerCore<E> {
  readonly id = randomUUID()
  readonly kick = new Kick()
  readonly done: Promise<StopResult>
  readonly #runtime: GroupRuntime<E>
  readonly #settings: ConsumeSettings
  readonly #hooks: ConsumerHooks<E>
  /** Leases held (not settled, lost or released). */
  readonly #leases: LeaseKeeper<E>
  readonly #settlements = new Set<Promise<unknown>>()
  readonly #settled = new Kick()
  #state: 'running' | 'stopping' | 'stopped' = 'running'
  #fetching: Promise<void> = Promise.resolve()
  #stopping: Promise<StopResult> | undefined
  #completedWhileStopping = 0
  /** Settlements of the stop that did not take effect: reported in its result. */
  readonly #failedWhileStopping: SettlementFailure[] = []
  #fatal: unknown
  #resolveDone: (result: StopResult) => void = () => undefined
  readonly #autoPrefetch: AutoPrefetch | undefined

  constructor(runtime: GroupRuntime<E>, settings: ConsumeSettings, hooks: ConsumerHooks<E>) {
    this.#runtime = runtime
    this.#settings = settings
    this.#hooks = hooks
    this.#autoPrefetch = settings.autoPrefetch ? new AutoPrefetch(settings.concurrency) : undefined
    this.#leases = new LeaseKeeper(
      runtime,
      this.id,
      settings,
      (lease) => this.#lose(lease),
      (error) => this.#report(error),
    )
    this.done = new Promise<StopResult>((resolve) => {
      this.#resolveDone = resolve
    })
  }

  /** Whether new deliveries may start (false once stopping). */
  get accepting(): boolean {
    return this.#state === 'running'
  }

  get running(): boolean {
    return this.#state === 'running'
  }

  /** Leases held now. */
  get held(): number {
    return this.#leases.size
  }

  /** Deliveries this consumer may hold (running and leased ahead): see AutoPrefetch. */
  get prefetch(): number {
    return this.#autoPrefetch?.value ?? this.#settings.prefetch
  }

  /** The group's name as users gave it (a task queue's own name). */
  get group(): string {
    return this.#runtime.displayName
  }

  get maxAttempts(): number {
    return this.#runtime.settings.delivery.maxAttempts
  }

  /**
   * Starts fetching in the background.
   * @throws StoreClosedError when the store is closed.
   */
  start(): void {
    this.#runtime.attach(this)
    this.#fetching = this.#run()
  }

  /** Stops (see Consumer.stop). Idempotent. */
  stop(options: StopOptions = {}): Promise<StopResult> {
    const timeoutMs = options.timeoutMs ?? this.#settings.stopTimeoutMs
    if (typeof timeoutMs !== 'number' || !(timeoutMs >= 0)) {
      return Promise.reject(
        new InvalidArgumentError('timeoutMs', timeoutMs, 'must be a number >= 0'),
      )
    }
    this.#stopping ??= this.#stop(timeoutMs)
    return this.#stopping
  }

  /**
   * Settles a delivery once: ack, retry (parked instead on the last attempt) or park. Resolves
   * to whether the lease still held; false also when the consumer already released it.
   * @throws InvalidArgumentError when the delivery was already settled.
   */
  settle(lease: Lease<E>, outcome: Outcome): Promise<boolean> {
    if (lease.state === 'settling' || lease.state === 'settled') {
      return Promise.reject(
        new InvalidArgumentError(
          'delivery',
          lease.position,
          'was already settled: ack, nack or park a delivery once',
        ),
      )
    }
    if (lease.state === 'released') return Promise.resolve(false)
    lease.state = 'settling'
    this.#leases.delete(lease)
    if (lease.started) this.#autoPrefetch?.completed()
    this.kick.notify() // room for another delivery
    const stopping = this.#state !== 'running'
    const settlement = this.#apply(lease, outcome)
      .then(
        (held) => {
          if (stopping && lease.started) {
            if (held) this.#completedWhileStopping++
            else this.#settlementFailed(lease, outcome.kind, undefined)
          }
          return held
        },
        (error: unknown) => {
          if (stopping) this.#settlementFailed(lease, outcome.kind, error)
          throw error
        },
      )
      .finally(() => {
        lease.state = 'settled'
        this.#settlements.delete(settlement)
        this.#settled.notify()
        // Per-stream: the next event of the stream is deliverable only now that the ack committed,
        // to any consumer: one whose last claim found nothing would otherwise sleep until its poll.
        if (this.#runtime.settings.definition.strategy === 'per-stream') this.#runtime.broadcast()
        else this.kick.notify()
      })
    this.#settlements.add(settlement)
    return settlement
  }

  async #apply(lease: Lease<E>, outcome: Outcome): Promise<boolean> {
    const runtime = this.#runtime
    const { maxAttempts, backoff } = runtime.settings.delivery
    switch (outcome.kind) {
      case 'ack':
        return runtime.ack(lease.ref)
      case 'park':
        return this.#park(lease, outcome.reason, outcome.error)
      case 'retry': {
        if (lease.attempt >= maxAttempts) {
          const why = outcome.error === undefined ? 'nacked' : `failed: ${outcome.error.message}`
          return this.#park(
            lease,
            `attempt ${lease.attempt} of ${maxAttempts} ${why}`,
            outcome.error,
          )
        }
        const delayMs = outcome.delayMs ?? backoffDelay(lease.attempt, backoff)
        const held = await runtime.retry(lease.ref, delayMs, outcome.error, false)
        if (held) {
          runtime.log.warn(
            {
              ...this.#logFields(lease, outcome.error),
              maxAttempts,
              retryInMs: Math.round(delayMs),
            },
            outcome.error === undefined
              ? 'delivery nacked, retry scheduled'
              : 'delivery failed, retry scheduled',
          )
        }
        return held
      }
    }
  }

  async #park(lease: Lease<E>, reason: string, error: DeliveryError | undefined) {
    const held = await this.#runtime.park(lease.ref, reason, error)
    if (held) {
      this.#runtime.log.warn(
        {
          ...this.#logFields(lease, error),
          maxAttempts: this.#runtime.settings.delivery.maxAttempts,
          reason,
        },
        'delivery parked (dead-lettered)',
      )
    }
    return held
  }

  /** The structured fields of a delivery's log lines (positions as strings: JSON has no bigint). */
  #logFields(lease: Lease<E>, error: DeliveryError | undefined) {
    return {
      group: this.#runtime.displayName,
      ...(this.#runtime.kind === 'queue' ? { kind: 'queue' } : {}),
      consumerId: this.id,
      position: lease.position.toString(),
      streamId: lease.streamId,
      attempt: lease.attempt,
      ...(error === undefined ? {} : { error }),
    }
  }

  async #run(): Promise<void> {
    // Registering also creates the group: a wrong definition or a missing migration stops the
    // consumer here, with its error in `done`.
    for (let failures = 1; this.#state === 'running'; failures++) {
      try {
        await this.#leases.beat()
        break
      } catch (error) {
        if (!isTransientError(error)) {
          this.#fail(error)
          return
        }
        this.#report(error)
        await this.kick.wait(this.kick.generation, retryPause(failures))
      }
    }
    this.#leases.start()
    await this.#fetchLoop()
  }

  async #fetchLoop(): Promise<void> {
    const { pollIntervalMs } = this.#runtime.settings.delivery
    let failures = 0
    while (this.#state === 'running') {
      const since = this.kick.generation
      const want = this.#wanted()
      let waitMs = pollIntervalMs
      if (want > 0) {
        try {
          const claimed = await this.#runtime.claim(this.id, want)
          failures = 0
          const leases = this.#adopt(claimed)
          if (this.#state !== 'running') {
            await this.#release(leases)
            break
          }
          for (const lease of leases) this.#hooks.deliver(lease)
          if (claimed.rows.length >= want) {
            this.#runtime.admitAhead()
            continue
          }
          if (claimed.waitMs !== undefined) waitMs = Math.min(waitMs, claimed.waitMs + 1)
          const admission = await this.#runtime.admit()
          if (admission.status === 'more' || admission.admitted > 0) continue
          if (admission.status === 'busy') waitMs = Math.min(waitMs, 20)
        } catch (error) {
          if (this.#state !== 'running') break
          this.#report(error)
          waitMs = retryPause(++failures)
        }
      }
      await this.kick.wait(since, waitMs)
    }
  }

  /**
   * How many deliveries to claim now. With an automatic prefetch, a consumer that still has
   * work leased ahead for every handler waits until half its buffer is free, so it claims in
   * batches rather than one delivery per completion.
   */
  #wanted(): number {
    const capacity = Math.min(this.#hooks.capacity(), MAX_CLAIM)
    if (!this.#settings.autoPrefetch || capacity <= 0) return capacity
    const prefetch = this.prefetch
    const ahead = this.#leases.values().filter((lease) => !lease.started).length
    if (ahead >= this.#settings.concurrency && capacity < prefetch / 2) return 0
    return capacity
  }

  /** Turns claimed rows into leases; settles at once those user code must not see. */
  #adopt(claimed: Claimed): Array<Lease<E>> {
    const { leaseMs, maxAttempts } = this.#runtime.settings.delivery
    const leases: Array<Lease<E>> = []
    for (const row of claimed.rows) {
      let event: E | undefined
      let decodeError: unknown
      if (row.event !== undefined) {
        try {
          event = this.#runtime.decode(row.event)
        } catch (error) {
          decodeError = error
        }
      }
      const lease = new Lease<E>(
        row.position,
        claimed.token,
        row.attempts,
        row.lastError,
        row.event?.stream_id ?? '',
        event,
        claimed.sentAt + leaseMs,
      )
      this.#leases.add(lease)
      if (row.event === undefined) {
        // Scavenged since it was admitted: nothing left to deliver.
        void this.#settleQuietly(lease, { kind: 'ack' })
      } else if (decodeError !== undefined) {
        void this.#settleQuietly(lease, {
          kind: 'park',
          reason: `the event could not be decoded: ${toDeliveryError(decodeError).message}`,
          error: toDeliveryError(decodeError),
        })
      } else if (row.attempts > maxAttempts) {
        // Its earlier deliveries all ended without a result: the consumers died, stalled or
        // stopped while handling it (a poison message that crashes its consumer ends here).
        void this.#settleQuietly(lease, {
          kind: 'park',
          reason: `${row.attempts - 1} deliveries ended without an ack or nack (lease expired or consumer stopped)`,
          error: row.lastError,
        })
      } else {
        leases.push(lease)
      }
    }
    this.#leases.scheduleDeadline()
    return leases
  }

  async #settleQuietly(lease: Lease<E>, outcome: Outcome): Promise<void> {
    try {
      await this.settle(lease, outcome)
    } catch (error) {
      this.#report(error)
    }
  }

  /** The lease can no longer be confirmed: abort its work, make room. */
  #lose(lease: Lease<E>): void {
    lease.state = 'lost'
    const error = new DeliveryLeaseLostError(this.#runtime.displayName, lease.position, 'lost')
    lease.controller.abort(error)
    this.#report(error)
    this.kick.notify()
    this.#settled.notify()
  }

  /**
   * Gives leases back at once (not at expiry): deliverable again now. Deliveries that never
   * reached user code do not count as an attempt.
   */
  async #release(leases: ReadonlyArray<Lease<E>>): Promise<number> {
    const released = leases.filter((lease) => lease.state === 'held')
    for (const lease of released) {
      lease.state = 'released'
      this.#leases.delete(lease)
      if (lease.started) {
        lease.controller.abort(
          new DeliveryLeaseLostError(this.#runtime.displayName, lease.position, 'stopped'),
        )
      }
    }
    if (released.length === 0) return 0
    const held = await Promise.all(
      released.map((lease) =>
        this.#runtime.retry(lease.ref, 0, undefined, !lease.started).then(
          (held) => {
            if (!held) this.#settlementFailed(lease, 'release', undefined)
            return held
          },
          (error: unknown) => {
            this.#settlementFailed(lease, 'release', error)
            return false
          },
        ),
      ),
    )
    await this.#runtime.wakeEveryone()
    return held.filter(Boolean).length
  }

  /**
   * A settlement of a stopping consumer that did not take effect: its delivery comes back when
   * its lease expires (and then counts an attempt). Reported in the stop's result and logged,
   * never counted as done.
   */
  #settlementFailed(lease: Lease<E>, action: SettlementFailure['action'], error: unknown): void {
    const reason =
      error === undefined ? 'the lease was no longer held' : toDeliveryError(error).message
    this.#failedWhileStopping.push({ position: lease.position, action, reason, error })
    this.#runtime.log.error(
      {
        ...this.#logFields(lease, undefined),
        action,
        reason,
      },
      'settlement failed while stopping: the delivery comes back when its lease expires',
    )
    if (error !== undefined) this.#report(error)
  }

  async #stop(timeoutMs: number): Promise<StopResult> {
    if (this.#state === 'running') this.#state = 'stopping'
    this.kick.notify()
    await this.#fetching
    const released = await this.#release(this.#leases.values().filter((l) => !l.started))
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const since = this.#settled.generation
      if (!this.#leases.values().some((lease) => lease.started)) break
      const left = deadline - Date.now()
      if (left <= 0) break
      await this.#settled.wait(since, left)
    }
    const overdue = this.#leases.values()
    const aborted = overdue.filter((lease) => lease.state === 'held' && lease.started).length
    await this.#release(overdue)
    await Promise.allSettled([...this.#settlements])
    this.#state = 'stopped'
    await this.#leases.stop()
    try {
      await this.#runtime.unregister(this.id)
    } catch (error) {
      if (this.#fatal === undefined) this.#report(error)
    }
    this.#runtime.detach(this)
    const result: StopResult = {
      completed: this.#completedWhileStopping,
      aborted,
      released,
      ...(this.#failedWhileStopping.length === 0
        ? {}
        : { failures: [...this.#failedWhileStopping] }),
      ...(this.#fatal === undefined ? {} : { error: this.#fatal }),
    }
    this.#resolveDone(result)
    return result
  }

  /** Stops by itself after an error it cannot get past (a wrong definition, no schema). */
  #fail(error: unknown): void {
    this.#fatal = error
    this.#report(error)
    void this.stop({ timeoutMs: 0 })
  }

  #report(error: unknown): void {
    this.#runtime.settings.delivery.onError(error)
  }
}

/** Pause after the n-th consecutive failure. */
function retryPause(failures: number): number {
  return backoffDelay(failures, RECONNECT_BACKOFF)
}
