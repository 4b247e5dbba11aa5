import { StrataError, describeText } from '../errors.js'

/** What was being done with a snapshot when it failed. */
export type SnapshotOperation = 'encode' | 'decode' | 'write'

/**
 * A snapshot could not be encoded, decoded or written. Snapshots only change speed, so strata
 * never fails a command or a load for this: the error goes to the store's `onError` and to the
 * aggregate's `snapshots.onError` (default: a process warning), and the state is rebuilt from
 * events.
 * Only {@link snapshotAggregate}, which is asked for a snapshot explicitly, throws it.
 */
export class SnapshotError extends StrataError {
  constructor(
    readonly operation: SnapshotOperation,
    /** The aggregate's name (its category unless named otherwise). */
    readonly aggregate: string,
    readonly streamId: string,
    /** The stream version the snapshot covers (or was to cover). */
    readonly streamVersion: bigint,
    reason: string,
    options?: ErrorOptions,
  ) {
    super(
      'SNAPSHOT',
      `Snapshot ${operation} failed for aggregate ${describeText(aggregate)}, stream ${describeText(streamId)} at version ${streamVersion}: ${reason}`,
      options,
    )
  }
}

/**
 * Part of a stream's history is hidden (truncated, or before a requested point in time) and no
 * snapshot this aggregate can use covers it, so its state cannot be rebuilt. Raised by loads
 * (for example after the snapshot version was bumped on a truncated stream) and by
 * `truncateAggregate` when asked to truncate a prefix no snapshot covers. Nothing was changed.
 */
export class SnapshotRequiredError extends StrataError {
  constructor(
    readonly aggregate: string,
    readonly streamId: string,
    /** The first version still visible in the stream (or the truncation asked for). */
    readonly version: bigint,
    reason: string,
  ) {
    super(
      'SNAPSHOT',
      `Aggregate ${describeText(aggregate)}, stream ${describeText(streamId)}: ${reason}`,
    )
  }
}
