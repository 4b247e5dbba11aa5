import type { RetryOptions } from '../config/index.js'
import type { AllFilter, ReadFrom } from '../store/index.js'

/**
 * Where a subscription starts. For $all and categories a position; for a stream a version.
 * - `'start'`: from the first event;
 * - `'end'`: only events appended from now on;
 * - a bigint: the events *after* it (exclusive), so a checkpoint or the last position you
 *   handled resumes without repeating it (`0n` is the same as `'start'`);
 * - a Date ($all and categories only): from the first event created at or after that time.
 */
export type SubscriptionStart = 'start' | 'end' | bigint | Date

/**
 * How transient database errors (dropped connections, a restart, a server refusing connections)
 * are retried. By default a subscription retries forever: 100 ms doubling (multiplier 2) up to
 * 30 s, jitter 0.5, and resumes after the last event it delivered. A finite `maxAttempts` makes it
 * end with a SubscriptionError after that many consecutive failed attempts instead.
 */
export interface RetryPolicy extends RetryOptions {
  /**
   * Called after each failed attempt, before the wait (attempt 1 starts an outage). The logger
   * gets the same (a warning per attempt, and an info line when the subscription recovers).
   */
  readonly onRetry?: (retry: SubscriptionRetry) => void
}

/** One failed attempt of a subscription to read, as `retry.onRetry` sees it. */
export interface SubscriptionRetry {
  /** What the subscription reads (`$all`, `subscription "name"`, `stream "id"` …). */
  readonly subscription: string
  /** The position (or stream version) after which it resumes. */
  readonly position: bigint
  /** Consecutive failed attempts so far (1 for the first of an outage). */
  readonly attempt: number
  /** The wait before the next attempt. */
  readonly delayMs: number
  readonly error: unknown
}

export interface LiveOptions {
  /** Events read per page while catching up (default 1000). */
  pageSize?: number
  /** Polling interval when caught up, a fallback for lost notifications (default 500 ms). */
  pollIntervalMs?: number
  retry?: RetryPolicy
  /** Ends the subscription (it completes) when aborted. */
  signal?: AbortSignal
  /**
   * Read the events from the primary or from one of the store's replicas (default: the store's
   * `replicas.readAllFrom`; the primary without replicas). Wake-ups and checkpoints stay on the
   * primary. See docs/guarantees.md, "Reading from replicas".
   */
  readFrom?: ReadFrom
}

export interface SubscribeToAllOptions<Type extends string = string> extends LiveOptions {
  /** Default 'start'. */
  from?: SubscriptionStart
  filter?: AllFilter<Type>
  /**
   * A durable subscription: start after the position saved under this name (when there is
   * one; `from` otherwise), and save the position of each event once it has been handled
   * (batched: at most every `checkpointEvery` events or second, and when the subscription ends).
   */
  checkpoint?: string
  /** Save the checkpoint at least every N handled events (default 100). */
  checkpointEvery?: number
}

export type SubscribeToCategoryOptions<Type extends string = string> = Omit<
  SubscribeToAllOptions<Type>,
  'filter'
> & { eventTypes?: readonly Type[] }

export interface SubscribeToStreamOptions extends LiveOptions {
  /** 'start', 'end', or a version: the events after it (default 'start'). */
  from?: 'start' | 'end' | bigint
}
