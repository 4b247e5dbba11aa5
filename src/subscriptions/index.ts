/** Live subscriptions, checkpoints and wake-ups (issue 3). Owned by src/subscriptions/. */
export { CheckpointStore, type Checkpoint } from './checkpoint-store.js'
export { SubscriptionError } from './errors.js'
export { EventSubscription, handleEach } from './event-subscription.js'
export type {
  LiveOptions,
  RetryPolicy,
  SubscriptionRetry,
  SubscribeToAllOptions,
  SubscribeToCategoryOptions,
  SubscribeToStreamOptions,
  SubscriptionStart,
} from './types.js'

// For the facade and the layers above (not re-exported to users).
export { checkpointsOf } from './checkpoint-store.js'
export { subscribeToAll, subscribeToCategory, subscribeToStream } from './subscribe.js'
export { subscriptionSql } from './sql.js'
export { WakeUp } from './wake-up.js'
export { NotificationChase } from './event-feed.js'
export { delay } from './delay.js'
