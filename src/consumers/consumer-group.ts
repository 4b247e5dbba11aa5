import type { EventStore } from '../store/event-store.js'
import type { RecordedEvent } from '../store/types.js'

/** Placeholder until consumer groups land: the names below are the contract with EventStore. */
export interface ConsumerGroupOptions<
  E extends RecordedEvent = RecordedEvent,
  T extends string = string,
> {
  readonly source?: { readonly eventTypes?: readonly T[] }
  readonly __event?: E
}

export interface ConsumerGroup<E extends RecordedEvent = RecordedEvent> {
  readonly name: string
  readonly __event?: E
}

export interface TaskQueueOptions {
  readonly maxAttempts?: number
}

export interface TaskQueue<P = unknown> {
  readonly name: string
  readonly __payload?: P
}

export function createConsumerGroup<E extends RecordedEvent, T extends string>(
  _store: EventStore,
  _name: string,
  _options: ConsumerGroupOptions<E, T>,
): ConsumerGroup<E> {
  throw new Error('consumer groups are not implemented yet')
}

export function createTaskQueue<P>(
  _store: EventStore,
  _name: string,
  _options: TaskQueueOptions = {},
): TaskQueue<P> {
  throw new Error('task queues are not implemented yet')
}
