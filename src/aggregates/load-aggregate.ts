import { checkOptions, isTimestamp, optionKeys, TIMESTAMP_RULE } from '../config/index.js'
import { perSchema, toBigInt } from '../db/index.js'
import { InvalidArgumentError, StreamDeletedError, describeText } from '../errors.js'
import {
  reportSnapshotError,
  SnapshotError,
  SnapshotRequiredError,
  trySnapshot,
} from '../snapshots/index.js'
import {
  type StoreCore,
  type EventRow,
  type ReadFrom,
  type ReadRouting,
  checkStreamId,
} from '../store/index.js'
import { fold } from './decision.js'
import {
  isAggregate,
  untyped,
  type AnyAggregate,
  type StateOf,
  type UntypedAggregate,
} from './define-aggregate.js'
import { aggregateSql, type AggregateSql } from './sql.js'

/**
 * Which state to load: the current one, or the state as of a point in the stream's history. A
 * point before the stream's current life (before its first event, or in a life a soft delete
 * ended) is the initial state at version 0n.
 */
export interface LoadOptions {
  /** The state after the event with this version (0n: the initial state; past the end: now). */
  readonly asOfVersion?: bigint
  /** The state after the stream's last event at or before this global position. */
  readonly asOfPosition?: bigint
  /**
   * The state after the stream's events written at or before this time, to the millisecond: an
   * event counts when its `createdAt` (which reads back in milliseconds) is at or before `asOf`,
   * so loading as of an event's own `createdAt` includes it. Precisely: the events before the
   * first one written at or after `asOf` + 1 ms.
   */
  readonly asOf?: Date
  /**
   * Load from the primary or from one of the store's replicas (default: the store's
   * `replicas.readStreamFrom`, the primary unless configured). Snapshots are written on the
   * primary. See docs/guarantees.md, "Reading from replicas".
   */
  readonly readFrom?: ReadFrom
  /** On a replica: wait until it has replayed this LSN (an append's `commitLsn`) first. */
  readonly minLsn?: string
}

/** A loaded aggregate. */
export interface LoadResult<A> {
  readonly streamId: string
  readonly state: StateOf<A>
  /**
   * Version of the last event read, folded or not (events of types the aggregate does not
   * declare are read and skipped), or of the snapshot when no event follows it; 0n for none.
   * This is the stream's version at that point, what `expectedVersion` needs.
   */
  readonly version: bigint
  /** Global position of that event (null: none). */
  readonly position: bigint | null
  /** Stream version of the snapshot the state was rebuilt from (null: replayed from the start). */
  readonly fromSnapshotAt: bigint | null
  /** Events read after the snapshot (or from the start), skipped types included. */
  readonly eventsReplayed: number
}

/** A load's bounds, checked. */
export interface LoadBounds {
  readonly version: bigint | null
  readonly position: bigint | null
  readonly time: Date | null
}

/** No bounds: the current state. */
export const NO_BOUNDS: LoadBounds = { version: null, position: null, time: null }

/** The state of a stream as {@link loadStream} rebuilt it. */
export interface LoadedStream {
  readonly state: unknown
  readonly version: bigint
  readonly position: bigint | null
  readonly fromSnapshotAt: bigint | null
  readonly eventsReplayed: number
}

/** The header row's data (see load_aggregate in migrations/0010). */
interface HeaderData {
  readonly tombstoned: boolean
  /** Stream version of the newest pinned snapshot whose event is visible (any snapshot version). */
  readonly pinned: string | null
  /** The highest version the bounds keep (null: no bound, or not computed). */
  readonly point: string | null
}

interface LoadRow extends Omit<EventRow, 'version' | 'data_version'> {
  kind: number
  version: string | null
  data_version: number | null
}

const statementsFor = perSchema(aggregateSql)
const sqlFor = (store: StoreCore): AggregateSql => statementsFor(store.schema)

/**
 * Loads an aggregate's state: the newest usable snapshot plus the events after it, or, with
 * `asOfVersion` / `asOfPosition` / `asOf`, the state at that point (a snapshot newer than the
 * point is never used). All given bounds apply. A load of the current state writes a snapshot
 * when the policy says one is due (failures only reach `snapshots.onError`).
 *
 * @throws InvalidArgumentError for an invalid aggregate, id or bound.
 * @throws StreamDeletedError when the stream is tombstoned (at any point: its history is gone).
 * @throws SnapshotRequiredError when the history needed is truncated and no usable snapshot
 *   covers it (for example after bumping the snapshot version of a truncated stream).
 * @throws UpcastError when a stored event cannot be upcast; errors thrown by evolve pass through.
 */
export async function loadAggregate<A extends AnyAggregate>(
  store: StoreCore,
  aggregate: A,
  id: string,
  options: LoadOptions = {},
): Promise<LoadResult<A>> {
  const streamId = streamIdFor(aggregate, id)
  const bounds = checkBounds(options)
  store.readTarget(options.readFrom, 'stream') // checked before any SQL
  const loaded = await loadStream(store, untyped(aggregate), streamId, bounds, { routing: options })
  return { streamId, ...loaded, state: loaded.state as StateOf<A> }
}

/**
 * The stream id of aggregate `id`, checked.
 * @throws InvalidArgumentError for a value that is not an aggregate, InvalidStreamIdError.
 */
export function streamIdFor(aggregate: AnyAggregate, id: string): string {
  if (!isAggregate(aggregate)) {
    throw new InvalidArgumentError('aggregate', aggregate, 'must be made by defineAggregate()')
  }
  if (typeof id !== 'string' || id.length === 0) {
    throw new InvalidArgumentError('aggregate id', id, 'must be a non-empty string')
  }
  return checkStreamId(aggregate.streamId(id))
}

const LOAD_OPTIONS = optionKeys<LoadOptions>({
  asOfVersion: true,
  asOfPosition: true,
  asOf: true,
  readFrom: true,
  minLsn: true,
})

function checkBounds(options: LoadOptions): LoadBounds {
  checkOptions(options, LOAD_OPTIONS, 'an option of load()', { argument: 'load options' })
  const { asOfVersion, asOfPosition, asOf } = options
  const nonNegative = (name: string, value: unknown): bigint | null => {
    if (value === undefined) return null
    if (typeof value !== 'bigint' || value < 0n || value > 9223372036854775807n) {
      throw new InvalidArgumentError(name, value, 'must be a bigint >= 0n')
    }
    return value
  }
  if (asOf !== undefined && !isTimestamp(asOf)) {
    throw new InvalidArgumentError('asOf', asOf, TIMESTAMP_RULE)
  }
  return {
    version: nonNegative('asOfVersion', asOfVersion),
    position: nonNegative('asOfPosition', asOfPosition),
    time: asOf ?? null,
  }
}

/**
 * Rebuilds a stream's state (see {@link loadAggregate}). `useSnapshots: false` replays from the
 * start even when a snapshot exists.
 */
export async function loadStream(
  store: StoreCore,
  aggregate: UntypedAggregate,
  streamId: string,
  bounds: LoadBounds,
  {
    writeSnapshot = true,
    useSnapshots = true,
    routing = { readFrom: 'primary' },
  }: { writeSnapshot?: boolean; useSnapshots?: boolean; routing?: ReadRouting } = {},
): Promise<LoadedStream> {
  const settings = aggregate.snapshots
  const bounded = bounds.version !== null || bounds.position !== null || bounds.time !== null
  const { rows } = await store.readOn(routing, 'stream', (db) =>
    db.query<LoadRow>(sqlFor(store).load, [
      streamId,
      aggregate.name,
      settings !== undefined && useSnapshots ? settings.version : null,
      bounds.version?.toString() ?? null,
      bounds.position?.toString() ?? null,
      bounds.time,
    ]),
  )
  const header = rows[0]!
  const info = header.data as HeaderData
  if (info.tombstoned) {
    throw new StreamDeletedError(
      streamId,
      `aggregate ${describeText(aggregate.name)} cannot be loaded from it (nor handle commands)`,
    )
  }
  const firstVisible = header.version === null ? null : toBigInt(header.version)
  // The stream's version floor: history at or below it was hidden by a delete.
  const floor = toBigInt(header.position)
  const snapshot = rows[1]?.kind === 1 ? rows[1] : undefined
  const eventRows = rows.slice(snapshot === undefined ? 1 : 2) as unknown as EventRow[]

  let state: unknown
  let version = 0n
  let position: bigint | null = null
  if (snapshot !== undefined && settings !== undefined) {
    version = toBigInt(snapshot.version!)
    try {
      state = settings.codec.decode(snapshot.data)
    } catch (error) {
      // A snapshot that cannot be read is a cache miss: rebuild from events and replace it.
      reportSnapshotError(
        store,
        settings,
        new SnapshotError('decode', aggregate.name, streamId, version, describe(error), {
          cause: error,
        }),
      )
      const rebuilt = await loadStream(store, aggregate, streamId, bounds, {
        writeSnapshot: false,
        useSnapshots: false,
        routing,
      })
      if (writeSnapshot && !bounded && rebuilt.version > 0n) {
        await trySnapshot(
          store,
          settings,
          target(aggregate, streamId, rebuilt.version),
          rebuilt.state,
          true,
        )
      }
      return rebuilt
    }
    position = toBigInt(snapshot.position)
  } else {
    state = aggregate.initialState()
    if (firstVisible !== null && firstVisible > floor + 1n) {
      checkHiddenHistory(aggregate, streamId, bounded, {
        firstVisible,
        floor,
        pinnedAt: info.pinned === null ? null : BigInt(info.pinned),
        point: info.point === null ? null : BigInt(info.point),
      })
    }
  }
  const fromSnapshotAt = snapshot === undefined ? null : version
  const events = eventRows.map((row) => store.toRecordedEvent(row))
  state = fold(aggregate, state, events).state
  const last = events[events.length - 1]
  if (last !== undefined) {
    version = last.version
    position = last.position
  }
  const loaded = { state, version, position, fromSnapshotAt, eventsReplayed: events.length }
  if (writeSnapshot && !bounded && settings?.writeOnLoad === true) {
    await snapshotIfDue(store, aggregate, streamId, loaded)
  }
  return loaded
}

/**
 * Writes a snapshot of a freshly computed state when the aggregate's policy says one is due.
 * Never throws: failures (a throwing policy included) go to `snapshots.onError`.
 */
export async function snapshotIfDue(
  store: StoreCore,
  aggregate: UntypedAggregate,
  streamId: string,
  loaded: LoadedStream,
): Promise<void> {
  const settings = aggregate.snapshots
  if (settings === undefined || loaded.version === 0n) return
  let due: boolean
  try {
    due = settings.isDue(loaded.state, loaded.version, {
      lastSnapshotVersion: loaded.fromSnapshotAt ?? 0n,
      eventsSinceSnapshot: loaded.eventsReplayed,
    })
  } catch (error) {
    reportSnapshotError(
      store,
      settings,
      new SnapshotError(
        'encode',
        aggregate.name,
        streamId,
        loaded.version,
        `the snapshot policy threw: ${describe(error)}`,
        {
          cause: error,
        },
      ),
    )
    return
  }
  if (due)
    await trySnapshot(store, settings, target(aggregate, streamId, loaded.version), loaded.state)
}

function target(aggregate: UntypedAggregate, streamId: string, streamVersion: bigint) {
  return { aggregate: aggregate.name, streamId, streamVersion }
}

/**
 * The current life of the stream (what follows its last soft delete, if any) begins before
 * `firstVisible`, hidden by truncateBefore or retention, and no usable snapshot stands in for
 * it: folding the rest would give a state the aggregate never had. A time-travel point before
 * the current life (in a deleted life, or before the first event) needs none of it: the state
 * there is the initial state.
 */
function checkHiddenHistory(
  aggregate: UntypedAggregate,
  streamId: string,
  bounded: boolean,
  hidden: {
    readonly firstVisible: bigint
    readonly floor: bigint
    readonly pinnedAt: bigint | null
    /** The highest version the bounds keep (null: unbounded). */
    readonly point: bigint | null
  },
): void {
  const { firstVisible, floor, pinnedAt, point } = hidden
  if (bounded) {
    if (point !== null && point <= floor) return
    throw new SnapshotRequiredError(
      aggregate.name,
      streamId,
      firstVisible,
      `its history before version ${firstVisible} is hidden (truncated or expired) and no usable snapshot at or before the requested point covers it, so the state at that point cannot be rebuilt`,
    )
  }
  if (pinnedAt !== null) {
    const settings = aggregate.snapshots
    throw new SnapshotRequiredError(
      aggregate.name,
      streamId,
      firstVisible,
      `the stream is truncated before version ${firstVisible} behind the snapshot at version ${pinnedAt}, which this aggregate cannot use (` +
        (settings === undefined
          ? 'it takes no snapshots'
          : `it only uses snapshot version ${settings.version}`) +
        '), so its state cannot be rebuilt. Restore the prefix (setStreamMetadata with truncateBefore: null) if it was not scavenged, or load with the snapshot version that made it',
    )
  }
  throw new SnapshotRequiredError(
    aggregate.name,
    streamId,
    firstVisible,
    `its history before version ${firstVisible} is hidden by truncateBefore or retention (maxCount, maxAgeSeconds) and no snapshot covers it, so folding the rest would give a state the aggregate never had. Truncate aggregate streams with truncateAggregate (it snapshots first), or restore the prefix (setStreamMetadata with truncateBefore: null) if it was not scavenged`,
  )
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
