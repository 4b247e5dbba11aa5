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

/** How transient database errors (dropped connections, restarts) are retried before giving up. */
export interface RetryPolicy {
  /** Consecutive failed attempts before the subscription errors (default 20). */
  maxAttempts?: number
  /** First delay (default 100 ms); doubled per attempt with jitter, up to maxDelayMs (5 s). */
  initialDelayMs?: number
  maxDelayMs?: number
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
