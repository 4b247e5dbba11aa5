import type pg from 'pg'
import type { StoreSql } from './sql.js'

/**
 * Wakes live subscribers after appends commit. It sends NOTIFY from its own short transaction,
 * after the append's commit: a NOTIFY inside the append would take Postgres' cluster-wide notify
 * lock until commit and serialise every appender's fsync. Coalesced: at most one in flight, plus
 * one more if appends finished meanwhile. A lost notification costs latency only; subscribers
 * also poll.
 */
export class AppendNotifier {
  #inFlight: Promise<void> | undefined
  #pending = false
  #lastPosition = 0n
  #closed = false

  constructor(
    private readonly pool: pg.Pool,
    private readonly sql: StoreSql,
    private readonly onError: (error: unknown) => void,
  ) {}

  appended(position: bigint): void {
    if (position > this.#lastPosition) this.#lastPosition = position
    if (this.#closed) return
    if (this.#inFlight) {
      this.#pending = true
      return
    }
    this.#send()
  }

  #send(): void {
    this.#pending = false
    this.#inFlight = this.pool
      .query(this.sql.notify, [this.#lastPosition.toString()])
      .catch((error: unknown) => {
        if (!this.#closed) this.onError(error)
      })
      .then(() => {
        this.#inFlight = undefined
        if (this.#pending && !this.#closed) this.#send()
      })
  }

  /** Resolves once no notification is in flight (before the pool is closed). */
  async close(): Promise<void> {
    this.#closed = true
    while (this.#inFlight !== undefined) await this.#inFlight
  }
}
