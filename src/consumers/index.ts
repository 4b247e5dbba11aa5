/** Competing-consumer queues over the log (issue 4). Owned by src/consumers/. */
export { DeliveryLeaseLostError, NonRetryableError, type LeaseEndReason } from './errors.js'
export type {
  BackoffOptions,
  ConsumeOptions,
  Consumer,
  ConsumerGroup,
  ConsumerGroupOptions,
  ConsumerGroupSource,
  ConsumerGroupStatus,
  SourceChange,
  ConsumerHandler,
  ConsumerInfo,
  ConsumerStrategy,
  DeadLetter,
  DeadLetters,
  DeadLetterTarget,
  DeliveriesOptions,
  Delivery,
  DeliveryContext,
  DeliveryError,
  DeliveryOptions,
  ListDeadLettersOptions,
  NackOptions,
  PositionInput,
  ResetResult,
  ResetTarget,
  StartFrom,
  StopOptions,
  SettlementFailure,
  StopResult,
} from './types.js'
export type { SendOptions, SentTask, Task, TaskQueue, TaskQueueOptions } from './task-types.js'

// For the facade and the layers above (not re-exported to users).
export { createConsumerGroup, createTaskQueue } from './consumer-group.js'
export { openStoredGroups, QUEUE_PREFIX, type StoredGroup } from './stored-groups.js'
