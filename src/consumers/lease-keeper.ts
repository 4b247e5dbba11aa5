import type { GroupRuntime } from './group-runtime.js'
import type { Lease } from './lease.js'
import type { ConsumeSettings } from './options.js'

/**
 * Keeps a consumer's leases: renews them (and announces the consumer) every heartbeatMs, and
 * gives up a lease it can no longer confirm: the renewal says another consumer holds the
 * message now, or the lease's local deadline passed without a successful renewal.
 *
 * The local deadline is the time the claim or last renewal was *sent* plus the lease duration.
 * The database computed the real expiry from a later clock reading, so the deadline never falls
 * after it: a consumer gives a delivery up before another consumer can take it.
 */
export class LeaseKeeper<E> {
  readonly #leases = new Map<bigint, Lease<E>>()
  #heartbeatTimer: NodeJS.Timeout | undefined
  #deadlineTimer: NodeJS.Timeout | undefined
  #beating: Promise<void> = Promise.resolve()
  #stopped = false

  constructor(
    private readonly runtime: GroupRuntime<E>,
    private readonly consumerId: string,
    private readonly settings: ConsumeSettings,
    /** Called once for each lease given up (it is no longer held). */
    private readonly onLost: (lease: Lease<E>) => void,
    private readonly report: (error: unknown) => void,
  ) {}

  /** Leases held now. */
  get size(): number {
    return this.#leases.size
  }

  values(): Array<Lease<E>> {
    return [...this.#leases.values()]
  }

  add(lease: Lease<E>): void {
    this.#leases.set(lease.position, lease)
  }

  /** Stops keeping a lease (it was settled or released). */
  delete(lease: Lease<E>): void {
    this.#leases.delete(lease.position)
  }

  /**
   * Registers the consumer (creating the group on first use) and renews every lease held.
   * @throws what the database throws (ConfigError for a group defined otherwise).
   */
  async beat(): Promise<void> {
    const held = this.values()
    const sentAt = Date.now()
    const kept = await this.runtime.heartbeat(
      this.consumerId,
      this.settings.label,
      this.settings.concurrency,
      held.map((lease) => lease.ref),
    )
    const { leaseMs } = this.runtime.settings.delivery
    for (const lease of held) {
      if (kept.has(lease.position)) lease.confirmedUntil = sentAt + leaseMs
      else this.#lose(lease)
    }
    this.scheduleDeadline()
  }

  /** Beats every heartbeatMs from now on, until stop(). */
  start(): void {
    if (this.#stopped) return
    this.#heartbeatTimer = setTimeout(() => {
      this.#beating = this.beat()
        .catch((error: unknown) => this.report(error))
        .finally(() => this.start())
    }, this.runtime.settings.delivery.heartbeatMs)
  }

  /** Watches the earliest local deadline among the leases (call after adding leases). */
  scheduleDeadline(): void {
    if (this.#deadlineTimer !== undefined) clearTimeout(this.#deadlineTimer)
    this.#deadlineTimer = undefined
    if (this.#stopped) return
    let earliest = Infinity
    for (const lease of this.#leases.values()) earliest = Math.min(earliest, lease.confirmedUntil)
    if (earliest === Infinity) return
    this.#deadlineTimer = setTimeout(
      () => {
        const now = Date.now()
        for (const lease of this.values()) if (lease.confirmedUntil <= now) this.#lose(lease)
        this.scheduleDeadline()
      },
      Math.max(0, earliest - Date.now()),
    )
  }

  /** Stops renewing; resolves once no renewal is in flight (a late one would register again). */
  async stop(): Promise<void> {
    this.#stopped = true
    if (this.#heartbeatTimer !== undefined) clearTimeout(this.#heartbeatTimer)
    if (this.#deadlineTimer !== undefined) clearTimeout(this.#deadlineTimer)
    await this.#beating
  }

  #lose(lease: Lease<E>): void {
    if (lease.state !== 'held' || !this.#leases.has(lease.position)) return
    this.#leases.delete(lease.position)
    this.onLost(lease)
  }
}
