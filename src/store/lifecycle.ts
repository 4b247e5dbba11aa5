import { setMaxListeners } from 'node:events'
import { StoreClosedError } from '../errors.js'

/**
 * A store's life: open, closing, closed. Capabilities register how they stop (consumers,
 * projection runners) and the background work close() must wait for (subscriptions releasing
 * their connections). From close() on, new work is refused (assertOpen), but the stops run while
 * the store still works, so a consumer can ack what finished, release what it prefetched and
 * unregister; only then is the store closed.
 */
export class StoreLifecycle {
  #state: 'open' | 'closing' | 'closed' = 'open'
  // One listener per open subscription: no MaxListenersExceededWarning past ten.
  readonly #closing = unlimitedListeners(new AbortController())
  readonly #stops: Array<() => Promise<void>> = []
  readonly #active = new Set<Promise<unknown>>()

  /** True once close() has stopped every capability: new work is refused from then on. */
  get closed(): boolean {
    return this.#state === 'closed'
  }

  /** True from the moment close() is called. */
  get closing(): boolean {
    return this.#state !== 'open'
  }

  /** Aborted when close() starts: live subscriptions stop on it. */
  get closingSignal(): AbortSignal {
    return this.#closing.signal
  }

  /**
   * For new work (the public API): refused from the moment close() is called, while the work
   * already running (a consumer's acks, a runner's last batch) goes on until its stop returns.
   * @throws StoreClosedError once close() was called.
   */
  assertOpen(): void {
    if (this.closing) throw new StoreClosedError()
  }

  /**
   * Registers how a capability stops when the store closes; returns the unregistration. Stops
   * run newest first, while the store still accepts work.
   */
  onClose(stop: () => Promise<void>): () => void {
    this.#stops.push(stop)
    return () => {
      const index = this.#stops.indexOf(stop)
      if (index >= 0) this.#stops.splice(index, 1)
    }
  }

  /** Work close() waits for after the stops (a subscription releasing its connection). */
  track(work: Promise<unknown>): void {
    this.#active.add(work)
    const done = () => this.#active.delete(work)
    void work.then(done, done)
  }

  /**
   * Aborts the closing signal, runs every stop (a failing one is reported and does not keep the
   * others from running), marks the store closed, then waits for tracked work. Returns false
   * when close() had already been called.
   */
  async close(report: (error: unknown) => void): Promise<boolean> {
    if (this.#state !== 'open') return false
    this.#state = 'closing'
    this.#closing.abort()
    while (this.#stops.length > 0) {
      const stop = this.#stops.pop()!
      await stop().catch(report)
    }
    this.#state = 'closed'
    await Promise.allSettled([...this.#active])
    return true
  }
}

function unlimitedListeners(controller: AbortController): AbortController {
  setMaxListeners(0, controller.signal)
  return controller
}
