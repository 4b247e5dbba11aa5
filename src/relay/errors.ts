import { StrataError } from '../errors.js'

/**
 * An optional package a feature needs is not installed (the relay needs the NATS client, which a
 * store that does not relay never loads).
 */
export class MissingDependencyError extends StrataError {
  constructor(
    /** The packages to install. */
    readonly packages: readonly string[],
    readonly feature: string,
    options?: ErrorOptions,
  ) {
    super(
      'MISSING_DEPENDENCY',
      `${feature} needs ${packages.join(' and ')}, an optional peer dependency of strata: npm install ${packages.join(' ')}`,
      options,
    )
  }
}

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
