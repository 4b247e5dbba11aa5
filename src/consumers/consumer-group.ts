import type { StoreCore, RecordedEvent } from '../store/index.js'
import { ConsumerGroupHandle } from './consumer-group-handle.js'
import { GroupRuntime } from './group-runtime.js'
import { checkGroupName, checkGroupOptions } from './group-options.js'
import type { ConsumerGroup, ConsumerGroupOptions } from './types.js'

export type { ConsumerGroup, ConsumerGroupOptions } from './types.js'
export type { TaskQueue, TaskQueueOptions } from './task-types.js'
export { createTaskQueue } from './task-queue.js'

/**
 * Opens a consumer group of a store (what `store.consumerGroup(name, options)` calls). Checks
 * everything before any SQL; the group is created in the database on first use.
 *
 * @throws InvalidArgumentError for an invalid name; ConfigError for invalid options.
 */
export function createConsumerGroup<E extends RecordedEvent, T extends string>(
  store: StoreCore,
  name: string,
  options: ConsumerGroupOptions<E, T>,
): ConsumerGroup<E> {
  const groupName = checkGroupName(name)
  // Without an onError of the group's own, its recoverable errors go to the store's logger and
  // onError.
  const settings = checkGroupOptions(
    options !== null && typeof options === 'object' && options.onError === undefined
      ? { ...options, onError: (error: unknown) => store.reportError(error) }
      : options,
  )
  return new ConsumerGroupHandle<E>(
    new GroupRuntime<E>({
      store,
      name: groupName,
      settings,
      decode: (row) => store.toRecordedEvent(row) as E,
    }),
  )
}
