/** With prefetch left to its default: at most this many deliveries leased beyond concurrency. */
export const AUTO_AHEAD_MAX = 200
/** With prefetch left to its default: lease ahead what the handlers complete in this long. */
const AUTO_AHEAD_MS = 100

/**
 * The automatic prefetch of a consumer: its concurrency plus what its handlers completed in the
 * last AUTO_AHEAD_MS (at most AUTO_AHEAD_MAX). Fast handlers get a deep buffer, so one claim and
 * one ack serve many deliveries, while a message leased ahead of slow handlers waits about
 * AUTO_AHEAD_MS, and a consumer whose handlers hang leases nothing ahead.
 */
export class AutoPrefetch {
  /** Deliveries completed in the current and the last AUTO_AHEAD_MS. */
  #completedNow = 0
  #completedBefore = 0
  #windowStart = 0

  constructor(private readonly concurrency: number) {}

  get value(): number {
    this.#roll(performance.now())
    const ahead = Math.min(AUTO_AHEAD_MAX, Math.max(this.#completedNow, this.#completedBefore))
    return this.concurrency + ahead
  }

  /** User code completed a delivery. */
  completed(): void {
    this.#roll(performance.now())
    this.#completedNow++
  }

  #roll(now: number): void {
    const elapsed = now - this.#windowStart
    if (elapsed < AUTO_AHEAD_MS) return
    // An idle stretch counts as completions spread over it.
    this.#completedBefore = Math.floor((this.#completedNow * AUTO_AHEAD_MS) / elapsed)
    this.#completedNow = 0
    this.#windowStart = now
  }
}
