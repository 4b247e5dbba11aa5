import { concatMap, from, Observable, type OperatorFunction, type Subscriber } from 'rxjs'
import type { RecordedEvent } from '../store/index.js'
import type { Checkpointer } from './checkpoint-store.js'

type Open = (signal: AbortSignal) => AsyncGenerator<readonly RecordedEvent[], void, undefined>

/** What a subscription needs of its store's lifecycle: closing the store stops it. */
export interface SubscriptionOwner {
  /** Aborted when the store closes. */
  readonly closingSignal: AbortSignal
  /** Lets close() wait until this work has released its connections. */
  track(work: Promise<unknown>): void
}

/**
 * A live subscription: catch-up, then live, in order, never skipping or repeating an event.
 *
 * It is both an RxJS Observable and an async iterable over one pull-based source:
 * - `for await (const event of subscription)`: the next page is read only when you ask for
 *   events past the previous one, so a slow consumer holds at most one page in memory;
 * - `subscription.pipe(handleEach(async (event) => …))` (or `subscription.handleEach(…)`): the
 *   same pull discipline for async work in an RxJS pipeline;
 * - `subscription.subscribe(…)` / `.pipe(…)` with other operators: events are pushed as fast as
 *   the observer's `next` returns. RxJS has no backpressure: an operator that queues async work
 *   (`concatMap`, `mergeMap`) makes the source run ahead of it, so use `handleEach` for that.
 *
 * Unsubscribing (or breaking out of the loop, or the `signal` option) stops it and releases its
 * connection. Errors arrive on the error channel as a SubscriptionError, after transient database
 * errors outlasted the retry policy.
 */
export class EventSubscription<E extends RecordedEvent = RecordedEvent>
  extends Observable<E>
  implements AsyncIterable<E>
{
  readonly #open: Open
  readonly #checkpointer: Checkpointer | undefined
  readonly #signal: AbortSignal | undefined
  readonly #owner: SubscriptionOwner

  /** @internal */
  constructor(
    open: Open,
    checkpointer: Checkpointer | undefined,
    signal: AbortSignal | undefined,
    owner: SubscriptionOwner,
  ) {
    const self: { subscription?: EventSubscription<E> } = {}
    super((subscriber) => self.subscription!.#push(subscriber))
    self.subscription = this
    this.#open = open
    this.#checkpointer = checkpointer
    this.#signal = signal
    this.#owner = owner
  }

  /** Push mode: the next event is taken once the observer's `next` has returned. */
  #push(subscriber: Subscriber<E>): () => void {
    return this.#drive(subscriber, (event) => event)
  }

  /**
   * Pulls events one at a time: each goes through `map` (awaited), then to the subscriber; the
   * next is read only after that, and its position counts as handled for the checkpoint.
   */
  #drive<R>(subscriber: Subscriber<R>, map: (event: E) => R | Promise<R>): () => void {
    const controller = this.#controller()
    const checkpointer = this.#checkpointer
    const work = (async () => {
      const pages = this.#open(controller.signal)
      try {
        pages: for await (const page of pages) {
          for (const event of page) {
            if (controller.signal.aborted) break pages
            const mapped = map(event as E)
            const result = isPromiseLike(mapped) ? await mapped : mapped
            if (subscriber.closed || controller.signal.aborted) break pages
            subscriber.next(result)
            if (checkpointer !== undefined) await checkpointer.handled(event.position)
          }
        }
        subscriber.complete()
      } catch (error) {
        subscriber.error(error)
      } finally {
        controller.abort()
        await pages.return(undefined)
        await checkpointer?.flush()
      }
    })()
    this.#owner.track(work)
    return () => controller.abort()
  }

  async *[Symbol.asyncIterator](): AsyncIterator<E> {
    const controller = this.#controller()
    const checkpointer = this.#checkpointer
    const pages = this.#open(controller.signal)
    try {
      for await (const page of pages) {
        for (const event of page) {
          yield event as E
          // Asked for the next one: this one was handled.
          if (checkpointer !== undefined) await checkpointer.handled(event.position)
          if (controller.signal.aborted) return // stopped (signal or store closed) mid-page
        }
      }
    } finally {
      controller.abort()
      await pages.return(undefined)
      await checkpointer?.flush()
    }
  }

  /**
   * Runs `handler` on each event in order, one at a time, reading further only once it has
   * resolved (backpressure). Emits the handler's results; a handler error ends it with that error.
   */
  handleEach<R>(handler: (event: E) => R | Promise<R>): Observable<R> {
    return new Observable<R>((subscriber) => this.#drive(subscriber, handler))
  }

  /** Stopped by unsubscribing, by the `signal` option, or by closing the store. */
  #controller(): AbortController {
    const controller = new AbortController()
    for (const external of [this.#signal, this.#owner.closingSignal]) {
      if (external === undefined) continue
      if (external.aborted) controller.abort()
      else {
        const abort = () => controller.abort()
        external.addEventListener('abort', abort, { once: true })
        controller.signal.addEventListener(
          'abort',
          () => external.removeEventListener('abort', abort),
          { once: true },
        )
      }
    }
    return controller
  }
}

/**
 * Like `concatMap(handler)`, with backpressure when applied directly to a strata subscription:
 * the next event is read only after `handler` resolved for the previous one.
 */
export function handleEach<E, R>(handler: (event: E) => R | Promise<R>): OperatorFunction<E, R> {
  return (source) =>
    source instanceof EventSubscription
      ? (source as EventSubscription<E & RecordedEvent>).handleEach(handler)
      : source.pipe(concatMap((event) => from(Promise.resolve(handler(event)))))
}

function isPromiseLike<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | null)?.then === 'function'
}
