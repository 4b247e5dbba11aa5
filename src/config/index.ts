/** Checks of options objects shared by every capability: known keys, numeric ranges. */
export { checkKnownKeys, checkOptions, optionKeys } from './known-keys.js'
export { intOption, numberOption } from './numbers.js'
export { A_TIMESTAMP, isTimestamp, TIMESTAMP_RULE } from './timestamps.js'
export {
  backoffDelay,
  checkBackoff,
  checkRetry,
  MAX_TIMER_MS,
  pause,
  RECONNECT_BACKOFF,
  type Backoff,
  type BackoffOptions,
  type Retry,
  type RetryOptions,
} from './backoff.js'
