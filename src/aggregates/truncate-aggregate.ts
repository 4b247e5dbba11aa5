import { InvalidArgumentError } from '../errors.js'
import { truncateBehindSnapshot, writeSnapshot, type SnapshotSettings } from '../snapshots/index.js'
import type { StoreCore } from '../store/index.js'
import { untyped, type AnyAggregate } from './define-aggregate.js'
import { loadStream, NO_BOUNDS, streamIdFor } from './load-aggregate.js'

/** What {@link snapshotAggregate} did. */
export interface SnapshotResult {
  readonly streamId: string
  /** The stream version the snapshot covers (0n: the stream has no events, nothing written). */
  readonly version: bigint
  /** False when nothing was written (no events, or a snapshot at that version already existed). */
  readonly written: boolean
}

/**
 * Takes a snapshot of an aggregate's current state now, whatever its policy says (before a
 * truncation, say, or to warm up long streams after bumping the snapshot version).
 * @throws InvalidArgumentError when the aggregate takes no snapshots (no `snapshots` option).
 * @throws SnapshotError when the state cannot be encoded or written.
 * @throws as loadAggregate.
 */
export async function snapshotAggregate(
  store: StoreCore,
  aggregate: AnyAggregate,
  id: string,
): Promise<SnapshotResult> {
  const streamId = streamIdFor(aggregate, id)
  const settings = snapshotSettings(aggregate)
  const loaded = await loadStream(store, untyped(aggregate), streamId, NO_BOUNDS, {
    writeSnapshot: false,
  })
  if (loaded.version === 0n) return { streamId, version: 0n, written: false }
  const written = await writeSnapshot(
    store,
    settings,
    { aggregate: aggregate.name, streamId, streamVersion: loaded.version },
    loaded.state,
    true,
  )
  return { streamId, version: loaded.version, written }
}

/** Options of {@link truncateAggregate}. */
export interface TruncateOptions {
  /**
   * Hide the events before this version (default: the current version, so the stream keeps its
   * last event and the snapshot taken of it). Must be covered by a snapshot at or after it.
   */
  readonly before?: bigint
}

/** What {@link truncateAggregate} did. */
export interface TruncateResult {
  readonly streamId: string
  /** The stream's truncateBefore now: events below it are hidden, and scavenge removes them. */
  readonly truncateBefore: bigint
}

/**
 * Truncates a long aggregate stream's prefix behind a snapshot. The rule: events may be hidden
 * (truncateBefore) only when a snapshot of the aggregate's current snapshot version covers
 * them, i.e. ends at a visible event at or after the truncation point. This takes a snapshot of
 * the current state when none covers the point yet, then, under the stream's lock, checks the
 * rule again, pins that snapshot (it is never pruned) and sets truncateBefore. Reads of the
 * stream then start at truncateBefore; `store.scavenge()` deletes the hidden events for good.
 *
 * Once truncated, the state can only be rebuilt from that snapshot: bumping the snapshot version
 * makes loads fail with SnapshotRequiredError rather than fold a partial history.
 *
 * @throws SnapshotRequiredError when no snapshot covers the point (e.g. `before` is past the
 *   last event); StreamDeletedError for a tombstoned stream.
 * @throws InvalidArgumentError when the aggregate takes no snapshots, the stream has no events,
 *   or `before` is not a bigint >= 1n.
 * @throws SnapshotError when the snapshot cannot be written.
 */
export async function truncateAggregate(
  store: StoreCore,
  aggregate: AnyAggregate,
  id: string,
  options: TruncateOptions = {},
): Promise<TruncateResult> {
  const streamId = streamIdFor(aggregate, id)
  const settings = snapshotSettings(aggregate)
  const { before } = options
  if (before !== undefined && (typeof before !== 'bigint' || before < 1n)) {
    throw new InvalidArgumentError('before', before, 'must be a bigint >= 1n')
  }
  const loaded = await loadStream(store, untyped(aggregate), streamId, NO_BOUNDS, {
    writeSnapshot: false,
  })
  if (loaded.version === 0n) {
    throw new InvalidArgumentError(
      'aggregate id',
      id,
      `stream ${streamId} has no events to truncate`,
    )
  }
  const point = before ?? loaded.version
  if (
    point <= loaded.version &&
    (loaded.fromSnapshotAt === null || loaded.fromSnapshotAt < point)
  ) {
    await writeSnapshot(
      store,
      settings,
      { aggregate: aggregate.name, streamId, streamVersion: loaded.version },
      loaded.state,
    )
  }
  const truncateBefore = await truncateBehindSnapshot(
    store,
    aggregate.name,
    settings.version,
    streamId,
    point,
  )
  return { streamId, truncateBefore }
}

function snapshotSettings(aggregate: AnyAggregate): SnapshotSettings<unknown> {
  const settings = untyped(aggregate).snapshots
  if (settings === undefined) {
    throw new InvalidArgumentError(
      'aggregate',
      aggregate.name,
      'takes no snapshots; give it a `snapshots` option first',
    )
  }
  return settings
}
