import { StrataError } from '../errors.js'

/**
 * A subscription gave up: a database error that is not transient, or transient errors that
 * outlasted the retry policy. `position` is the last position (or stream version) delivered.
 */
export class SubscriptionError extends StrataError {
  constructor(
    readonly subscription: string,
    readonly position: bigint,
    readonly attempts: number,
    options: ErrorOptions,
  ) {
    const cause = options.cause instanceof Error ? options.cause.message : String(options.cause)
    super(
      'SUBSCRIPTION',
      `Subscription ${subscription} failed after ${attempts} attempt(s) at position ${position}: ${cause}`,
      options,
    )
  }
}
