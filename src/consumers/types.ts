import type { BackoffOptions } from '../config/index.js'
import type { Observable } from 'rxjs'
import type { ReadFrom, RecordedEvent } from '../store/index.js'

/**
 * How a group hands out its messages:
 * - `'round-robin'`: any message to any free consumer, no order (most throughput);
 * - `'per-stream'`: a stream's events one at a time, in version order; different streams in
 *   parallel.
 */
export type ConsumerStrategy = 'round-robin' | 'per-stream'

/**
 * Which events a group receives: `'all'`, or criteria that must all hold (at least one):
 * a category (the stream id up to its first `-`), a set of streams, a stream-id prefix, event
 * types.
 */
export type ConsumerGroupSource<T extends string = string> =
  | 'all'
  | {
      readonly category?: string
      readonly streams?: readonly string[]
      readonly streamIdPrefix?: string
      readonly eventTypes?: readonly T[]
    }

/**
 * A global position: a bigint, or a number that is a non-negative safe integer (taken as the
 * same bigint; positions above 2^53 - 1 need a bigint).
 */
export type PositionInput = bigint | number

/**
 * Where a new group starts reading the log: `'start'` (every event), `'end'` (events appended
 * after the group is created), a position (that event is the first delivered) or a time (the
 * first event created at or after it).
 */
export type StartFrom = 'start' | 'end' | PositionInput | Date

/** Where {@link ConsumerGroup.reset} moves a group: as {@link StartFrom}, or spelled out. */
export type ResetTarget = StartFrom | { readonly position: PositionInput } | { readonly time: Date }

/**
 * Exponential backoff between attempts (defaults for consumers: initialMs 1000, maxMs 60,000,
 * multiplier 2, jitter 0.5).
 */
export type { BackoffOptions }

/** Options shared by consumer groups and task queues. */
export interface DeliveryOptions {
  /**
   * Deliveries of one message before it is parked (default 5). A failed handler, a nack or a
   * lease that expired each end one attempt. `Infinity` never parks.
   */
  readonly maxAttempts?: number
  /** Delay before a failed message is delivered again. */
  readonly backoff?: BackoffOptions
  /**
   * How long a delivery is leased to a consumer before another may take it (the visibility
   * timeout; default 30,000 ms). Running consumers renew their leases by heartbeat, so only a
   * consumer that died or stalled loses one.
   */
  readonly leaseMs?: number
  /** How often consumers renew their leases and announce themselves (default leaseMs / 3). */
  readonly heartbeatMs?: number
  /**
   * Most admitted, deliverable messages the group keeps in its window (default 4000): the log
   * is read ahead this far, and the group's table never holds more (plus delayed, retrying and
   * parked messages).
   */
  readonly windowSize?: number
  /** Most deliveries in flight at once across all consumers of the group, in every process. */
  readonly maxConcurrency?: number
  /** Most deliveries per second across all consumers of the group, in every process. */
  readonly maxPerSecond?: number
  /**
   * How often an idle consumer looks for work when no notification woke it (default 1000 ms).
   * Appends wake consumers at once through LISTEN/NOTIFY; this is the fallback.
   */
  readonly pollIntervalMs?: number
  /**
   * How long admission waits for appends in flight before reading the log (default 100 ms);
   * events behind them are held back meanwhile, never skipped.
   */
  readonly maxWaitMs?: number
  /**
   * After this many acks in this process, VACUUM the consumer-group tables (default 10,000; 0:
   * never, leave it to autovacuum). Acked messages are deleted, and their space is reused only
   * once vacuumed: this keeps the window table small even where autovacuum is off or slow. It
   * uses VACUUM (SKIP_LOCKED), which never blocks reads or writes; without table ownership it
   * does nothing.
   */
  readonly vacuumEvery?: number
  /** Errors of background work (lost connections, refused acks); default: ignored. */
  readonly onError?: (error: unknown) => void
  /**
   * Where admission reads the log: the primary (default, also with replicas) or one of the
   * store's replicas (`'replica'`). The window, claims, acks and the group's cursor stay on the
   * primary; a replica admission reads the events there and admits them on the primary with a
   * compare-and-set on the cursor. See docs/guarantees.md, "Reading from replicas".
   */
  readonly readFrom?: ReadFrom
}

/**
 * Options of {@link ConsumerGroup}. `T` is the event type names the source may name. `source`,
 * `strategy` and `parkedStream` are fixed when the group is first created: opening it again
 * with other values is a ConfigError.
 */
export interface ConsumerGroupOptions<
  // The store's event type: not needed by the options themselves, kept so that
  // store.consumerGroup() can name it.
  _E extends RecordedEvent = RecordedEvent,
  T extends string = string,
> extends DeliveryOptions {
  /** Which events the group receives. */
  readonly source: ConsumerGroupSource<T>
  /** Default 'round-robin'. */
  readonly strategy?: ConsumerStrategy
  /** Where a new group starts (default 'start': every event in the log). */
  readonly startFrom?: StartFrom
  /**
   * Per-stream groups: whether a parked message holds back the rest of its stream until it is
   * replayed or discarded (`'hold'`, the default: order is never broken) or lets it go on
   * (`'continue'`). Every other stream flows either way.
   */
  readonly parkedStream?: 'hold' | 'continue'
}

/** What {@link ConsumerGroup.changeSource} did. */
export interface SourceChange {
  /** The source before, e.g. `{ category: "order" }` or `'all'`. */
  readonly from: string
  /** The source now. */
  readonly to: string
  /** The group's position when it changed: later events are filtered by the new source. */
  readonly position: bigint
}

/** What a failed delivery recorded: the error's name, message, stack and code (when a string). */
export interface DeliveryError {
  readonly name: string
  readonly message: string
  readonly stack?: string
  readonly code?: string
}

/** What a handler gets beside the event. */
export interface DeliveryContext {
  /**
   * Aborts when the lease is lost (it expired or another consumer took the message) or when the
   * consumer stops and its stop timeout passes. Its reason is a {@link DeliveryLeaseLostError}. Pass it
   * to fetch, database calls and timers so abandoned work stops.
   */
  readonly signal: AbortSignal
  /** 1 for the first delivery of this message, 2 for the first retry, … */
  readonly attempt: number
  /** The group's maxAttempts: on this attempt a failure parks the message. */
  readonly maxAttempts: number
  /** What the previous attempt failed with, if it failed. */
  readonly lastError: DeliveryError | undefined
  /** The consumer group's name (for a task queue, the queue's own name: `emails`). */
  readonly group: string
  /** The consumer's id (as listed in the group's status). */
  readonly consumerId: string
}

/**
 * A handler: resolves to ack, throws to retry (after the backoff, or after the error's numeric
 * `retryAfterMs` property when it has one) or, on the last attempt or with a
 * {@link NonRetryableError}, to park the message.
 */
export type ConsumerHandler<E> = (event: E, context: DeliveryContext) => unknown

/** Options of {@link ConsumerGroup.consume}. */
export interface ConsumeOptions {
  /** Handlers running at once in this consumer (default 1). */
  readonly concurrency?: number
  /**
   * Deliveries this consumer leases at once, running or waiting for a handler. More saves round
   * trips; the waiting ones cannot go to other consumers. Default: automatic, the concurrency
   * plus what the handlers completed in the last ~100 ms (at most 200 more), so fast handlers
   * are served by few claims and slow ones lease nothing ahead (docs/consumers.md).
   */
  readonly prefetch?: number
  /** A name for the group's status (default `host:pid`). */
  readonly label?: string
  /** Default timeout of {@link Consumer.stop}, also used by store.close() (default 10,000 ms). */
  readonly stopTimeoutMs?: number
}

/** Options of the Observable form ({@link ConsumerGroup.deliveries}). */
export interface DeliveriesOptions {
  /** Most deliveries emitted and not yet settled at once (default 1). */
  readonly concurrency?: number
  /** A name for the group's status (default `host:pid`). */
  readonly label?: string
}

/** Options of {@link Delivery.nack}. */
export interface NackOptions {
  /** Deliver again after this delay instead of the group's backoff. */
  readonly retryAfterMs?: number
  /** Recorded as the message's last error. */
  readonly error?: unknown
}

/**
 * A message of the Observable form. Settle it exactly once: `ack()` (done), `nack()` (deliver
 * again later; parks it after maxAttempts) or `park(reason)` (dead-letter it now). Each returns
 * once the database has it.
 *
 * @throws DeliveryLeaseLostError from ack/nack/park when the lease was lost meanwhile.
 */
export interface Delivery<E> extends DeliveryContext {
  readonly event: E
  ack(): Promise<void>
  nack(options?: NackOptions): Promise<void>
  park(reason: string): Promise<void>
}

/** What {@link Consumer.stop} did. */
export interface StopResult {
  /** Handlers that finished during the stop and whose ack, nack or park took effect. */
  readonly completed: number
  /** Handlers still running at the timeout: aborted (their leases released, see `failed`). */
  readonly aborted: number
  /** Leased deliveries never started, given back at once for other consumers (no attempt counted). */
  readonly released: number
  /**
   * Present when settlements of the stop did not take effect (a lost connection, a lease already
   * lost): those deliveries come back when their leases expire. Each is also logged.
   */
  readonly failures?: readonly SettlementFailure[]
  /** The error that stopped the consumer by itself, if one did. */
  readonly error?: unknown
}

/** A settlement that a stopping consumer could not make. */
export interface SettlementFailure {
  readonly position: bigint
  readonly action: 'ack' | 'retry' | 'park' | 'release'
  readonly reason: string
  /** The error, when the database refused or could not be reached (absent for a lost lease). */
  readonly error?: unknown
}

/** Options of {@link Consumer.stop}. */
export interface StopOptions {
  /** How long to wait for running handlers before aborting them (default: stopTimeoutMs). */
  readonly timeoutMs?: number
}

/** A running consumer of a group (see {@link ConsumerGroup.consume}). */
export interface Consumer {
  /** This consumer's id, as listed in the group's status. */
  readonly id: string
  /** The group's name (for a task queue, the queue's own name). */
  readonly group: string
  /** False once stop() was called or the consumer stopped by itself. */
  readonly running: boolean
  /**
   * Stops fetching, gives back deliveries not yet started, waits up to timeoutMs for running
   * handlers (settling each as it finishes), then aborts the rest and releases their leases at
   * once rather than at expiry. Idempotent: later calls return the same result.
   */
  stop(options?: StopOptions): Promise<StopResult>
  /** Resolves when the consumer has stopped (never rejects: see StopResult.error). */
  readonly done: Promise<StopResult>
}

/** A consumer as listed in the group's status. */
export interface ConsumerInfo {
  readonly id: string
  readonly label: string
  readonly concurrency: number
  readonly startedAt: Date
  readonly lastSeenAt: Date
}

/** A snapshot of a group. */
export interface ConsumerGroupStatus {
  /** The name given to store.consumerGroup(), or to store.queue() for a task queue. */
  readonly name: string
  /** `'queue'` for a task queue (store.queue()), else `'group'`. */
  readonly kind: 'group' | 'queue'
  readonly strategy: ConsumerStrategy
  /** The group's position: every event at or below it was admitted (or did not match). */
  readonly position: bigint
  /** The last position handed out in the log. */
  readonly headPosition: bigint
  /** headPosition - position: how far behind the head the group reads (positions, not events). */
  readonly behind: bigint
  /** Admitted messages ready for delivery, never attempted. */
  readonly pending: number
  /** Admitted messages not deliverable yet (a task's delay). */
  readonly delayed: number
  /** Messages leased to a consumer now. */
  readonly inFlight: number
  /** Messages that failed (or whose lease expired) and wait for another attempt. */
  readonly retrying: number
  /** Dead letters. */
  readonly parked: number
  /** Consumers connected (heartbeat not expired). */
  readonly consumers: number
  /** Those consumers. */
  readonly members: readonly ConsumerInfo[]
}

/** A parked message. `event` is undefined when scavenge removed the event since. */
export interface DeadLetter<E> {
  readonly position: bigint
  readonly streamId: string
  readonly event: E | undefined
  /** Deliveries before it was parked. */
  readonly attempts: number
  readonly reason: string
  readonly lastError: DeliveryError | undefined
  readonly parkedAt: Date
  readonly lastDeliveredAt: Date | undefined
}

/**
 * Which dead letters to replay or discard: a position, an event id (a uuid string), a dead
 * letter, a list of those, or the string `'all'`.
 */
export type DeadLetterTarget =
  | PositionInput
  | string
  | { readonly position: PositionInput }
  | ReadonlyArray<PositionInput | string | { readonly position: PositionInput }>

/** Options of {@link DeadLetters.list}. */
export interface ListDeadLettersOptions {
  /** Only dead letters after this position (for paging; default: from the first). */
  readonly after?: PositionInput
  /** At most this many (default 100). */
  readonly limit?: number
  /** Only those of this stream. */
  readonly streamId?: string
}

/** The parked messages of a group. */
export interface DeadLetters<E> {
  /** Parked messages in position order. */
  list(options?: ListDeadLettersOptions): Promise<Array<DeadLetter<E>>>
  /** One parked message by position or event id, or undefined. */
  inspect(target: PositionInput | string): Promise<DeadLetter<E> | undefined>
  /**
   * Makes parked messages deliverable again with a fresh attempt count. In a per-stream group
   * they go first in their stream, and the events held back behind them follow in order.
   * Returns how many were replayed.
   */
  replay(target: DeadLetterTarget): Promise<number>
  /** Drops parked messages as if acked (their streams go on). Returns how many were dropped. */
  discard(target: DeadLetterTarget): Promise<number>
  /** How many messages are parked. */
  count(): Promise<number>
}

/** What {@link ConsumerGroup.reset} did. */
export interface ResetResult {
  /**
   * Where delivery starts again, inclusive, in the caller's terms: the position asked for
   * (`reset({ position: 3n })` gives `3n`); for a time, the position of the first event
   * created at or after it (or the next position to be appended when there is none); for
   * `'start'`, 1n; for `'end'`, the head position + 1.
   */
  readonly position: bigint
  /**
   * The group's new position as {@link ConsumerGroupStatus.position} reports it: every event at
   * or below it counts as done (always `position - 1n`).
   */
  readonly after: bigint
  /** Messages that left the window (in-flight ones lose their leases); parked ones stay. */
  readonly removed: number
}

/**
 * A consumer group: competing consumers over the log with leases, retries, dead letters and an
 * optional per-stream order. Every group on a source receives every event (fan-out); the
 * consumers of one group share its events (load balancing).
 */
export interface ConsumerGroup<E> {
  /** The name given to store.consumerGroup() (for a task queue, to store.queue(): `emails`). */
  readonly name: string
  readonly strategy: ConsumerStrategy
  /**
   * Starts a consumer that calls `handler` for each delivery: resolving acks it, throwing
   * retries or parks it (see {@link ConsumerHandler}). Returns at once; stop it with
   * `consumer.stop()` or `store.close()`.
   * @throws ConfigError for invalid options (before any SQL).
   */
  consume(handler: ConsumerHandler<E>, options?: ConsumeOptions): Consumer
  /**
   * The Observable form: each subscription is a consumer emitting deliveries to settle with
   * ack/nack/park, at most `concurrency` unsettled at once. Unsubscribing stops it and releases
   * the unsettled deliveries at once (their signals abort).
   * @throws ConfigError for invalid options (before any SQL).
   */
  deliveries(options?: DeliveriesOptions): Observable<Delivery<E>>
  /**
   * Creates the group now if it does not exist (otherwise it is created on first use), so
   * `startFrom: 'end'` counts from this moment.
   * @throws ConfigError when the group exists with another source, strategy or parkedStream.
   */
  ensure(): Promise<void>
  /** Counts and position of the group, and its connected consumers. */
  status(): Promise<ConsumerGroupStatus>
  /**
   * Moves the group to a position or time (replay, or skip ahead) and empties its window of
   * everything but dead letters. In-flight deliveries lose their leases.
   * @throws InvalidArgumentError for an invalid target.
   */
  reset(to: ResetTarget): Promise<ResetResult>
  /**
   * Makes this object's `source` the group's source, keeping its position, its window (what
   * was admitted under the old source is still delivered) and its dead letters. Events past
   * the position are filtered by the new source, in every process at once (consumers already
   * running go on, fed by the new source); opening the group with the old source is then a
   * ConfigError. Creates the group when it does not
   * exist. Idempotent.
   */
  changeSource(): Promise<SourceChange>
  /** The parked messages: list, inspect, replay, discard. */
  readonly deadLetters: DeadLetters<E>
  /**
   * Stops every consumer started from this object (as {@link Consumer.stop}); for SIGTERM:
   * `process.once('SIGTERM', () => void group.stop().then(() => store.close()))`.
   */
  stop(options?: StopOptions): Promise<void>
  /**
   * Deletes the group: its position, window, dead letters and consumer list. Stop its
   * consumers first (a consumer still running creates it again from startFrom).
   * Returns whether it existed.
   */
  delete(): Promise<boolean>
}
