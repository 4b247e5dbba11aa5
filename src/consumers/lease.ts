import type { LeaseRef } from './group-db.js'
import type { DeliveryError } from './types.js'

/**
 * Where a lease is:
 * - `held`: leased to this consumer, not settled (heartbeats renew it);
 * - `settling`: an ack, nack or park is on its way;
 * - `settled`: the database has the outcome;
 * - `lost`: it expired or was taken over (the signal aborted);
 * - `released`: the consumer stopped and gave it back.
 */
export type LeaseState = 'held' | 'settling' | 'settled' | 'lost' | 'released'

/** One delivery leased to a consumer of this process. */
export class Lease<E> {
  state: LeaseState = 'held'
  /** Handed to user code (a handler started, or the delivery emitted). */
  started = false
  /**
   * Local time (Date.now()) until which the lease is known to hold: the time its claim or last
   * renewal was sent plus the lease duration. The database computed the real expiry from a
   * later clock reading, so this is never after it; past it the consumer gives the delivery up.
   */
  confirmedUntil: number
  readonly controller = new AbortController()

  constructor(
    readonly position: bigint,
    readonly token: string,
    readonly attempt: number,
    readonly lastError: DeliveryError | undefined,
    readonly streamId: string,
    /** The decoded event, or undefined when it could not be decoded or was scavenged. */
    readonly event: E | undefined,
    confirmedUntil: number,
  ) {
    this.confirmedUntil = confirmedUntil
  }

  get ref(): LeaseRef {
    return { position: this.position, token: this.token }
  }
}
