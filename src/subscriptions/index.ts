/** Live subscriptions, checkpoints and wake-ups (issue 3). Owned by src/subscriptions/. */
export { CheckpointStore, type Checkpoint } from './checkpoint-store.js'
export { SubscriptionError } from './errors.js'
export { EventSubscription, handleEach } from './event-subscription.js'
export type {
  LiveOptions,
  RetryPolicy,
  SubscribeToAllOptions,
  SubscribeToCategoryOptions,
  SubscribeToStreamOptions,
  SubscriptionStart,
} from './types.js'
