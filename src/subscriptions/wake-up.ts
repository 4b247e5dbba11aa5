import type { Observable, Subscription } from 'rxjs'

/**
 * When a caught-up reader should look again: a notification arrived (or the listener
 * reconnected), the polling interval passed, or it was told to stop. Notifications that arrive
 * while a read is running are remembered, so none falls between a read and the next wait.
 */
export class WakeUp {
  #pending = true
  #release: (() => void) | undefined
  readonly #subscription: Subscription | undefined

  constructor(
    wakeups$: Observable<void> | undefined,
    private readonly pollIntervalMs: number,
  ) {
    this.#subscription = wakeups$?.subscribe(() => this.#poke())
  }

  /** Call right before a read: only notifications after this point wake the next wait. */
  arm(): void {
    this.#pending = false
  }

  /** Resolves on a notification since arm(), after the polling interval, or when aborted. */
  wait(signal: AbortSignal): Promise<void> {
    if (this.#pending || signal.aborted) return Promise.resolve()
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer)
        signal.removeEventListener('abort', done)
        this.#release = undefined
        resolve()
      }
      const timer = setTimeout(done, this.pollIntervalMs)
      signal.addEventListener('abort', done)
      this.#release = done
    })
  }

  close(): void {
    this.#subscription?.unsubscribe()
    this.#release?.()
  }

  #poke(): void {
    this.#pending = true
    this.#release?.()
  }
}
