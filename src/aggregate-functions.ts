/**
 * The aggregate operations as free functions of a store (the public names of src/aggregates/,
 * which itself works on the store's core). `store.handle` and `store.load` are the same.
 */
import {
  handleCommand as handleOn,
  loadAggregate as loadOn,
  snapshotAggregate as snapshotOn,
  truncateAggregate as truncateOn,
  type AnyAggregate,
  type CommandOf,
  type HandleOptions,
  type HandleResult,
  type LoadOptions,
  type LoadResult,
  type SnapshotResult,
  type TruncateOptions,
  type TruncateResult,
} from './aggregates/index.js'
import type { EventStore } from './event-store.js'

/**
 * Handles a command: load, decide, append with the loaded version as expectedVersion, retrying
 * on conflicts. The same as `store.handle`; see docs/aggregates.md for what it throws.
 */
export async function handleCommand<A extends AnyAggregate>(
  store: EventStore,
  aggregate: A,
  id: string,
  command: CommandOf<A>,
  options: HandleOptions = {},
): Promise<HandleResult<A>> {
  store.core.assertOpen()
  return handleOn(store.core, aggregate, id, command, options)
}

/** Loads an aggregate's state, now or as of a version, position or time (as `store.load`). */
export async function loadAggregate<A extends AnyAggregate>(
  store: EventStore,
  aggregate: A,
  id: string,
  options: LoadOptions = {},
): Promise<LoadResult<A>> {
  store.core.assertOpen()
  return loadOn(store.core, aggregate, id, options)
}

/**
 * Takes a snapshot of an aggregate's current state now, whatever its policy says.
 * @throws InvalidArgumentError when the aggregate takes no snapshots; SnapshotError.
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
