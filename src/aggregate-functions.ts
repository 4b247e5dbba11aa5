/**
 * The aggregate operations that are not methods of the store (handling and loading are:
 * `store.handle`, `store.load`), as free functions of a store over src/aggregates/, which
 * itself works on the store's core.
 */
import {
  snapshotAggregate as snapshotOn,
  truncateAggregate as truncateOn,
  type AnyAggregate,
  type SnapshotResult,
  type TruncateOptions,
  type TruncateResult,
} from './aggregates/index.js'
import type { EventStore } from './event-store.js'

/**
 * Takes a snapshot of an aggregate's current state now, whatever its policy says.
 * @throws InvalidArgumentError when the aggregate takes no snapshots; SnapshotError;
 *   StreamDeletedError for a tombstoned stream.
 */
export async function snapshotAggregate(
  store: EventStore,
  aggregate: AnyAggregate,
  id: string,
): Promise<SnapshotResult> {
  store.core.assertOpen()
  return snapshotOn(store.core, aggregate, id)
}

/**
 * Truncates a long aggregate stream's prefix behind a snapshot (taking one when none covers the
 * point), so loads start at the snapshot; `store.scavenge()` then deletes the hidden events.
 * @throws SnapshotRequiredError, StreamDeletedError, InvalidArgumentError, SnapshotError.
 */
export async function truncateAggregate(
  store: EventStore,
  aggregate: AnyAggregate,
  id: string,
  options: TruncateOptions = {},
): Promise<TruncateResult> {
  store.core.assertOpen()
  return truncateOn(store.core, aggregate, id, options)
}
