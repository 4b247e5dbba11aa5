import { isTransientError } from '../db/index.js'

interface Pending<T> {
  readonly item: T
  readonly resolve: (held: boolean) => void
  readonly reject: (error: unknown) => void
}

/** Sends one batch; resolves to the positions the database applied it to. */
export type SettleFlush<T> = (items: readonly T[]) => Promise<Set<bigint>>

const ATTEMPTS = 5
const MAX_BATCH = 250

/**
 * Coalesces settlements (acks, or nacks and releases) of many deliveries into one statement:
 * one is sent at once when none is in flight; those that arrive meanwhile go together in the
 * next. Each caller learns whether its lease still held (its position was applied).
 *
 * A batch whose connection failed is sent again (the statement is idempotent: a second ack of
 * a deleted row changes nothing). After such a failure a position not applied may have been
 * applied by the lost attempt, so it counts as held: the worst case is a message delivered once
 * more, never one lost.
 */
export class SettleBatcher<T extends { readonly position: bigint }> {
  #queue: Array<Pending<T>> = []
  #inFlight: Promise<void> | undefined

  constructor(private readonly flush: SettleFlush<T>) {}

  /** Resolves to whether the lease still held; rejects when the database kept failing. */
  settle(item: T): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      this.#queue.push({ item, resolve, reject })
      this.#pump()
    })
  }

  /** Resolves once nothing is queued or in flight. */
  async drain(): Promise<void> {
    while (this.#inFlight !== undefined) await this.#inFlight
  }

  #pump(): void {
    if (this.#inFlight !== undefined || this.#queue.length === 0) return
    const batch = this.#queue.splice(0, MAX_BATCH)
    this.#inFlight = this.#send(batch).finally(() => {
      this.#inFlight = undefined
      this.#pump()
    })
  }

  async #send(batch: Array<Pending<T>>): Promise<void> {
    const items = batch.map((p) => p.item)
    for (let attempt = 1; ; attempt++) {
      try {
        const applied = await this.flush(items)
        for (const pending of batch) {
          pending.resolve(attempt > 1 || applied.has(pending.item.position))
        }
        return
      } catch (error) {
        if (attempt >= ATTEMPTS || !isTransientError(error)) {
          for (const pending of batch) pending.reject(error)
          return
        }
        await new Promise((resolve) => setTimeout(resolve, 25 * 3 ** attempt * Math.random()))
      }
    }
  }
}
