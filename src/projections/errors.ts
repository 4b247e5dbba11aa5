import { StrataError } from '../errors.js'

/** A projection runner no longer holds its lease (another runner took over); it stands by. */
export class ProjectionLeaseLostError extends StrataError {
  constructor(
    readonly projection: string,
    readonly version: number,
  ) {
    super('LEASE_LOST', `Projection ${projection} v${version}: this runner lost its lease`)
  }
}

/**
 * A projection stopped: a handler failed on an event and the error policy says stop (the
 * position and error are recorded in its status), or its setup failed.
 */
export class ProjectionFailedError extends StrataError {
  constructor(
    readonly projection: string,
    readonly version: number,
    /** The position of the event it stopped on (null when setup failed). */
    readonly position: bigint | null,
    readonly eventId: string | null,
    options: ErrorOptions,
  ) {
    const cause = options.cause instanceof Error ? options.cause.message : String(options.cause)
    super(
      'PROJECTION',
      position === null
        ? `Projection ${projection} v${version} failed: ${cause}`
        : `Projection ${projection} v${version} stopped at position ${position} (event ${eventId}): ${cause}`,
      options,
    )
  }
}
