import { backoffDelay, pause, type Backoff } from '../config/index.js'
import { isTransientError } from '../db/index.js'

interface Pending<T> {
  readonly item: T
  readonly resolve: (held: boolean) => void
  readonly reject: (error: unknown) => void
}

/** Sends one batch; resolves to the positions the database applied it to. */
export type SettleFlush<T> = (items: readonly T[]) => Promise<Set<bigint>>

const ATTEMPTS = 5
/** Up to 75 ms, then 225 ms, … (full jitter): settlements of many consumers spread out. */
const SETTLE_RETRY: Backoff = { initialMs: 75, maxMs: 2000, multiplier: 3, jitter: 1 }
const MAX_BATCH = 250
/**
 * Batches in flight at once: a second one goes out while the first waits for its commit (its
 * WAL flush), so a settlement never waits for a whole commit before it is even sent, and
 * Postgres flushes both commits together when they overlap.
 */
const MAX_IN_FLIGHT = 2

/**
 * Coalesces settlements (acks, or nacks and releases) of many deliveries into one statement:
 * one is sent at once when fewer than MAX_IN_FLIGHT are in flight; those that arrive meanwhile
 * go together in the next. Each caller learns whether its lease still held (its position was
 * applied).
 *
 * A batch whose connection failed is sent again (the statement is idempotent: a second ack of
 * a deleted row changes nothing). After such a failure a position not applied may have been
 * applied by the lost attempt, so it counts as held: the worst case is a message delivered once
 * more, never one lost.
 */
export class SettleBatcher<T extends { readonly position: bigint }> {
  #queue: Array<Pending<T>> = []
  readonly #inFlight = new Set<Promise<void>>()

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
    while (this.#inFlight.size > 0) await Promise.all([...this.#inFlight])
  }

  #pump(): void {
    while (this.#inFlight.size < MAX_IN_FLIGHT && this.#queue.length > 0) {
      const batch = this.#queue.splice(0, MAX_BATCH)
      const sending: Promise<void> = this.#send(batch).finally(() => {
        this.#inFlight.delete(sending)
        this.#pump()
      })
      this.#inFlight.add(sending)
    }
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
        await pause(backoffDelay(attempt, SETTLE_RETRY))
      }
    }
  }
}
