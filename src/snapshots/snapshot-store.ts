import { perSchema, toBigInt, isDatabaseError, STRATA_SQLSTATE } from '../db/index.js'
import { StreamDeletedError } from '../errors.js'
import { toJsonText } from '../events/index.js'
import type { StoreCore } from '../store/index.js'
import { SnapshotError, SnapshotRequiredError } from './errors.js'
import type { SnapshotSettings } from './snapshot-policy.js'
import { SNAPSHOT_NOT_COVERING, snapshotSql, type SnapshotSql } from './sql.js'

const statementsFor = perSchema(snapshotSql)
const sqlFor = (store: StoreCore): SnapshotSql => statementsFor(store.schema)

/** Which snapshot to write. */
export interface SnapshotTarget {
  readonly aggregate: string
  readonly streamId: string
  /** The version of the last event folded into the state. */
  readonly streamVersion: bigint
}

/**
 * Encodes a state with the aggregate's codec and stores it as the snapshot of `streamVersion`.
 * Returns whether a row was written (false when one of this snapshot version at or after
 * `streamVersion` exists, unless `replace`).
 * @throws SnapshotError when the state cannot be encoded or the write fails.
 */
export async function writeSnapshot<State>(
  store: StoreCore,
  settings: SnapshotSettings<State>,
  target: SnapshotTarget,
  state: State,
  replace = false,
): Promise<boolean> {
  const fail = (operation: 'encode' | 'write', reason: string, cause: unknown) =>
    new SnapshotError(operation, target.aggregate, target.streamId, target.streamVersion, reason, {
      cause,
    })
  let text: string
  try {
    text = toJsonText(settings.codec.encode(state), 'state')
  } catch (error) {
    throw fail('encode', error instanceof Error ? error.message : String(error), error)
  }
  try {
    const { rows } = await store.pool.query<{ written: number }>(sqlFor(store).writeSnapshot, [
      target.streamId,
      target.aggregate,
      target.streamVersion.toString(),
      settings.version,
      text,
      settings.keep,
      replace,
    ])
    return (rows[0]?.written ?? 0) > 0
  } catch (error) {
    throw fail('write', error instanceof Error ? error.message : String(error), error)
  }
}

/**
 * Reports a snapshot failure: to the store's `onError` (where strata reports all background
 * failures) and to the aggregate's `snapshots.onError` (default: a process warning).
 */
export function reportSnapshotError<State>(
  store: StoreCore,
  settings: SnapshotSettings<State>,
  error: SnapshotError,
): void {
  try {
    store.reportError(error)
  } catch {
    // A failing error hook must not turn a snapshot problem into a failed command.
  }
  settings.report(error)
}

/**
 * {@link writeSnapshot} for callers that must not fail because of a snapshot: the error is
 * reported ({@link reportSnapshotError}) and false is returned.
 */
export async function trySnapshot<State>(
  store: StoreCore,
  settings: SnapshotSettings<State>,
  target: SnapshotTarget,
  state: State,
  replace = false,
): Promise<boolean> {
  try {
    return await writeSnapshot(store, settings, target, state, replace)
  } catch (error) {
    reportSnapshotError(
      store,
      settings,
      error instanceof SnapshotError
        ? error
        : new SnapshotError(
            'write',
            target.aggregate,
            target.streamId,
            target.streamVersion,
            String(error),
            {
              cause: error,
            },
          ),
    )
    return false
  }
}

/**
 * Hides a stream's events before `before`, under the stream's lock, provided a usable snapshot
 * (this snapshot version, ending at a visible event at or after `before`) covers them; pins it.
 * Returns the stream's truncateBefore afterwards (it never moves back).
 * @throws SnapshotRequiredError when no snapshot covers the prefix; StreamDeletedError (tombstoned).
 */
export async function truncateBehindSnapshot(
  store: StoreCore,
  aggregate: string,
  snapshotVersion: number,
  streamId: string,
  before: bigint,
): Promise<bigint> {
  try {
    const { rows } = await store.pool.query<{ truncate_before: string }>(
      sqlFor(store).truncateBehindSnapshot,
      [streamId, aggregate, snapshotVersion, before.toString()],
    )
    return toBigInt(rows[0]!.truncate_before)
  } catch (error) {
    if (isDatabaseError(error) && error.code === SNAPSHOT_NOT_COVERING) {
      const newest = toBigInt(error.detail ?? '0')
      throw new SnapshotRequiredError(
        aggregate,
        streamId,
        before,
        `cannot truncate before version ${before}: ` +
          (newest === 0n
            ? `no usable snapshot (snapshot version ${snapshotVersion}) exists`
            : `the newest usable snapshot covers version ${newest} only`) +
          '; a snapshot at or after the truncation point must cover the hidden events',
      )
    }
    if (isDatabaseError(error) && error.code === STRATA_SQLSTATE.streamTombstoned) {
      throw new StreamDeletedError(streamId)
    }
    throw error
  }
}
