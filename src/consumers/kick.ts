import { MAX_TIMER_MS } from '../config/index.js'

/**
 * A wake-up signal without lost wake-ups: a waiter reads `generation` before it looks for work
 * and passes it to wait(), which returns at once if notify() ran since. Waits also end after a
 * timeout, so a missed notification costs latency, never progress.
 */
export class Kick {
  #generation = 0
  readonly #waiters = new Set<() => void>()

  /** Changes on every notify(). */
  get generation(): number {
    return this.#generation
  }

  /** Wakes every waiter (and makes waits that started from an older generation return). */
  notify(): void {
    this.#generation++
    if (this.#waiters.size === 0) return // the common case: every settlement notifies
    const waiters = [...this.#waiters]
    this.#waiters.clear()
    for (const wake of waiters) wake()
  }

  /** Resolves on the next notify() after `since`, or after timeoutMs (Infinity: no timeout). */
  wait(since: number, timeoutMs: number): Promise<void> {
    if (this.#generation !== since || timeoutMs <= 0) return Promise.resolve()
    return new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined
      const wake = () => {
        if (timer !== undefined) clearTimeout(timer)
        this.#waiters.delete(wake)
        resolve()
      }
      this.#waiters.add(wake)
      if (Number.isFinite(timeoutMs)) timer = setTimeout(wake, Math.min(timeoutMs, MAX_TIMER_MS))
    })
  }
}
