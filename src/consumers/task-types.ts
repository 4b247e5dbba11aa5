import type { EventMetadata } from '../store/index.js'
import type { ConsumerGroup, DeliveryOptions } from './types.js'

/** Options of {@link TaskQueue}: those of a round-robin group over the queue's tasks. */
export type TaskQueueOptions = DeliveryOptions

/** Options of {@link TaskQueue.send}. */
export interface SendOptions {
  /** Deliver no sooner than this many milliseconds after the task is stored (default 0). */
  readonly delayMs?: number
  /**
   * Deduplication key: a send with a key already sent to this queue returns the first task and
   * enqueues nothing, forever (the log keeps every task).
   */
  readonly dedupKey?: string
  /** Metadata stored with the task (correlationId, causationId, your own keys). */
  readonly metadata?: EventMetadata
}

/** What {@link TaskQueue.send} stored. */
export interface SentTask {
  /** The task's id (its event's id). */
  readonly id: string
  /** Its position in the log. */
  readonly position: bigint
  /** True when the dedupKey had been sent before: nothing new was enqueued. */
  readonly duplicate: boolean
}

/** A task as its handler receives it. */
export interface Task<P> {
  /** The task's id (its event's id). */
  readonly id: string
  readonly payload: P
  /** The same payload, as the task's event stores it (`event.data`). */
  readonly data: P
  /** When send() stored it. */
  readonly sentAt: Date
  /** Deliverable from: sentAt + delayMs. */
  readonly availableAt: Date
  readonly dedupKey: string | undefined
  readonly metadata: EventMetadata
  /** Its position in the log. */
  readonly position: bigint
}

/**
 * A task queue in SQS terms, on the consumer-group mechanism: `send` stores a task (an event
 * in the log, so the queue can be replayed), consumers compete for tasks with leases, retries
 * and dead letters.
 */
export interface TaskQueue<P = unknown> extends ConsumerGroup<Task<P>> {
  /**
   * Enqueues a task. With `dedupKey`, sending the same key again returns the first task.
   * @throws InvalidArgumentError / EventSerializationError for an invalid payload or option
   *   (nothing stored).
   */
  send(payload: P, options?: SendOptions): Promise<SentTask>
}
