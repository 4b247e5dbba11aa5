import { StrataError } from '../errors.js'

/**
 * A relay stopped on something it must not paper over: its JetStream stream holds a message
 * another publisher wrote, an event cannot be published (its subject is invalid, it is larger
 * than the server accepts), or where to resume cannot be told. Nothing was published out of
 * order; the relay's state is `failed` until it is fixed and started again.
 */
export class RelayError extends StrataError {
  constructor(
    readonly relay: string,
    readonly reason: string,
    /** The event concerned, when there is one. */
    readonly position: bigint | null = null,
    options?: ErrorOptions,
  ) {
    super(
      'RELAY',
      `Relay ${JSON.stringify(relay)}${position === null ? '' : ` at position ${position}`}: ${reason}`,
      options,
    )
  }
}

/** A relay instance no longer holds its lease (it expired, or another instance took it over). */
export class RelayLeaseLostError extends StrataError {
  constructor(readonly relay: string) {
    super('LEASE_LOST', `Relay ${JSON.stringify(relay)}: this instance lost its lease`)
  }
}
