import { StrataError } from '../errors.js'

/**
 * Thrown by a handler to park its message at once (dead-letter it) rather than retry it: the
 * event can never succeed (it is malformed, refers to something that will never exist, ...).
 * `message` becomes the dead letter's reason; `cause` is kept as its last error when given.
 *
 * @example
 * group.consume(async (event) => {
 *   if (!isValid(event.data)) throw new NonRetryableError('order has no lines')
 *   await ship(event.data)
 * })
 */
export class NonRetryableError extends StrataError {
  constructor(message: string, options?: ErrorOptions) {
    super('NON_RETRYABLE', message, options)
  }
}

/**
 * Why a lease ended before its delivery was settled:
 * - `'lost'`: it expired or was taken over (the consumer stalled, its heartbeat failed, another
 *   consumer now holds the message), or a reset removed the message;
 * - `'stopped'`: the consumer stopped and gave the message back (its handler overran the stop
 *   timeout, or the delivery Observable was unsubscribed).
 */
export type LeaseEndReason = 'lost' | 'stopped'

/**
 * A delivery's lease is gone: its ack, nack or park was refused (another consumer may hold the
 * message now), or the consumer is stopping. It is also the reason of `ctx.signal` when that
 * signal aborts. The message itself is not lost: whoever holds it next settles it
 * (at-least-once delivery).
 */
export class DeliveryLeaseLostError extends StrataError {
  constructor(
    /** The consumer group. */
    readonly group: string,
    /** Global position of the event whose lease ended. */
    readonly position: bigint,
    readonly reason: LeaseEndReason,
  ) {
    super(
      'LEASE_LOST',
      reason === 'stopped'
        ? `Consumer of group ${JSON.stringify(group)} stopped: the lease on position ${position} was released`
        : `Lease on position ${position} of consumer group ${JSON.stringify(group)} was lost (expired, taken over by another consumer, or removed by a reset)`,
    )
  }
}
