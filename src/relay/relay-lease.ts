import type pg from 'pg'
import { toBigInt } from '../db/index.js'
import type { Telemetry } from '../observability/index.js'
import { RelayLeaseLostError } from './errors.js'
import type { Confirmed } from './publish-window.js'
import type { RelaySql } from './sql.js'

/**
 * The lease of one relay instance, and its checkpoint: one UPDATE renews the lease and moves the
 * checkpoint to the last confirmed point, every `intervalMs` when the point moved and at least
 * every third of the lease. The lease is given up locally (onLost) when a renewal finds another
 * owner, or when no renewal succeeded for a whole lease: its local deadline is the time the last
 * successful renewal was *sent* plus the lease, never after the database's expiry, so an
 * instance stops publishing before a standby can take over.
 *
 * The same row-lease scheme as projection runners (migrations/0002): a row per name with owner
 * and expiry, taken by an UPDATE that only matches a free, expired or own lease.
 */
export class RelayLease {
  #confirmed: Confirmed
  #saved: bigint
  #deadline = 0
  #timer: NodeJS.Timeout | undefined
  #deadlineTimer: NodeJS.Timeout | undefined
  #writing: Promise<void> = Promise.resolve()
  #lastRenewal = 0
  #running = false

  constructor(
    private readonly pool: pg.Pool,
    private readonly sql: RelaySql,
    private readonly name: string,
    private readonly owner: string,
    private readonly leaseMs: number,
    private readonly intervalMs: number,
    private readonly telemetry: Telemetry,
    private readonly report: (error: unknown) => void,
  ) {
    this.#confirmed = { position: 0n, sequence: 0 }
    this.#saved = 0n
  }

  /** The checkpoint as last saved or confirmed. */
  get confirmed(): Confirmed {
    return this.#confirmed
  }

  /** Takes the lease if it is free, expired or ours; undefined when another instance holds it. */
  async acquire(filter: string): Promise<Confirmed | undefined> {
    const sentAt = Date.now()
    const { rows } = await this.pool.query<{ position: string; stream_sequence: string }>(
      this.sql.acquireLease,
      [this.name, this.owner, this.leaseMs, filter],
    )
    const row = rows[0]
    if (row === undefined) return undefined
    this.#deadline = sentAt + this.leaseMs
    this.#lastRenewal = sentAt
    this.#confirmed = { position: toBigInt(row.position), sequence: Number(row.stream_sequence) }
    this.#saved = this.#confirmed.position
    return this.#confirmed
  }

  /** Keeps the lease until stop(); `onLost` is called once if it is lost. */
  start(onLost: (error: RelayLeaseLostError) => void): void {
    this.#running = true
    const lost = () => {
      if (!this.#running) return
      this.stop()
      onLost(new RelayLeaseLostError(this.name))
    }
    const armDeadline = () => {
      clearTimeout(this.#deadlineTimer)
      this.#deadlineTimer = setTimeout(lost, Math.max(0, this.#deadline - Date.now()))
    }
    armDeadline()
    const tick = () => {
      this.#timer = setTimeout(() => {
        const due =
          this.#confirmed.position > this.#saved ||
          Date.now() - this.#lastRenewal >= this.leaseMs / 3
        if (!due) return tick()
        this.#writing = this.#renew()
          .then((held) => (held ? armDeadline() : lost()))
          .catch((error: unknown) => this.report(error)) // retried next tick; the deadline stands
          .finally(() => this.#running && tick())
      }, this.intervalMs)
    }
    tick()
  }

  /** Records a point every publish up to which is acknowledged (saved by the next renewal). */
  confirm(point: Confirmed): void {
    if (point.position > this.#confirmed.position) this.#confirmed = point
  }

  /**
   * Sets the checkpoint to where the stream says the relay is (after a takeover), also backwards.
   * @throws RelayLeaseLostError when the lease is no longer ours.
   */
  async reset(point: Confirmed): Promise<void> {
    await this.#writing
    const { rows } = await this.pool.query(this.sql.resetCheckpoint, [
      this.name,
      this.owner,
      point.position.toString(),
      point.sequence,
    ])
    if (rows.length === 0) throw new RelayLeaseLostError(this.name)
    this.#confirmed = point
    this.#saved = point.position
  }

  /** Stops renewing (a renewal in flight completes). */
  stop(): void {
    this.#running = false
    clearTimeout(this.#timer)
    clearTimeout(this.#deadlineTimer)
  }

  /** Saves the last confirmed point and gives the lease up (best effort: it expires anyway). */
  async release(): Promise<void> {
    this.stop()
    await this.#writing
    try {
      if (this.#confirmed.position > this.#saved) await this.#renew()
      await this.pool.query(this.sql.releaseLease, [this.name, this.owner])
    } catch (error) {
      this.report(error)
    }
  }

  async #renew(): Promise<boolean> {
    const point = this.#confirmed
    const sentAt = Date.now()
    const run = async () => {
      const { rows } = await this.pool.query(this.sql.renew, [
        this.name,
        this.owner,
        this.leaseMs,
        point.position.toString(),
        point.sequence,
      ])
      return rows.length > 0
    }
    const held = this.telemetry.enabled
      ? await this.telemetry.span(
          'strata.relay.checkpoint',
          { 'strata.relay': this.name, 'strata.position': point.position.toString() },
          run,
        )
      : await run()
    if (held) {
      this.#deadline = sentAt + this.leaseMs
      this.#lastRenewal = sentAt
      if (point.position > this.#saved) this.#saved = point.position
    }
    return held
  }
}
