import { checkOptions, optionKeys } from '../config/index.js'
import { ConfigError } from '../errors.js'
import type { SnapshotError } from './errors.js'
import { richJsonCodec, type SnapshotCodec } from './snapshot-codec.js'

/** What a snapshot policy is told besides the state and its version. */
export interface SnapshotPolicyInfo {
  /** The stream version of the snapshot the state was rebuilt from (0n when there was none). */
  readonly lastSnapshotVersion: bigint
  /** Events applied on top of that snapshot (the stream version minus lastSnapshotVersion). */
  readonly eventsSinceSnapshot: number
}

/**
 * When and how an aggregate's state is snapshotted. Give `every`, `when`, or both (a snapshot is
 * taken when either says so).
 *
 * @example
 * snapshots: { every: 100, version: 2 } // bump `version` whenever evolve or the state changes
 */
export interface SnapshotOptions<State> {
  /** Take a snapshot once at least this many events were applied since the last one. */
  every?: number
  /** Take a snapshot when this returns true for the state after a command (or a load). */
  when?: (state: State, version: bigint, info: SnapshotPolicyInfo) => boolean
  /**
   * The snapshot version (default 1): bump it whenever evolve or the state's shape changes.
   * Snapshots of any other version are ignored (the state is rebuilt from events) and replaced.
   */
  version?: number
  /**
   * How the state is stored (default {@link richJsonCodec}: JSON keeping Date, bigint, Map, Set,
   * undefined and non-finite numbers). Needed for states holding class instances.
   */
  codec?: SnapshotCodec<State>
  /** Snapshots kept per stream, newest first (default 1). More speed up loads far in the past. */
  keep?: number
  /**
   * Whether a load of the current state writes a snapshot when the policy says one is due, e.g.
   * after the snapshot version was bumped (default true). Time-travel loads never write.
   */
  writeOnLoad?: boolean
  /**
   * Called when a snapshot cannot be encoded, decoded or written. Such failures never fail a
   * command or a load (the state is rebuilt from events). They also go to the store's `onError`.
   * Default: a process warning.
   */
  onError?: (error: SnapshotError) => void
}

/**
 * An aggregate's `snapshots` option: the full options, or a policy alone: a number of events
 * (`{ every: n }`) or a function of the state and its version (`{ when: fn }`).
 */
export type SnapshotPolicy<State> =
  | SnapshotOptions<State>
  | number
  | ((state: State, version: bigint, info: SnapshotPolicyInfo) => boolean)

/** Snapshot options with their defaults applied. */
export interface SnapshotSettings<State> {
  readonly version: number
  readonly keep: number
  readonly writeOnLoad: boolean
  readonly codec: SnapshotCodec<State>
  /** Whether the policy asks for a snapshot of this state (false when nothing changed since). */
  isDue(state: State, version: bigint, info: SnapshotPolicyInfo): boolean
  report(error: SnapshotError): void
}

/**
 * Checks snapshot options and applies the defaults.
 * @throws ConfigError for an invalid option (no policy, a version or count that is not a positive integer).
 */
const SNAPSHOT_OPTIONS = optionKeys<SnapshotOptions<unknown>>({
  every: true,
  when: true,
  version: true,
  codec: true,
  keep: true,
  writeOnLoad: true,
  onError: true,
})

export function resolveSnapshotOptions<State>(
  policy: SnapshotPolicy<State>,
  aggregate: string,
): SnapshotSettings<State> {
  const options: SnapshotOptions<State> =
    typeof policy === 'number'
      ? { every: policy }
      : typeof policy === 'function'
        ? { when: policy }
        : policy
  if (typeof options !== 'object' || options === null) {
    throw new ConfigError('snapshots', options, 'must be an object { every?, when?, version? }')
  }
  checkOptions(options, SNAPSHOT_OPTIONS, 'a snapshot option', {
    errorClass: ConfigError,
    argument: 'snapshots',
  })
  const { every, when } = options
  if (every === undefined && when === undefined) {
    throw new ConfigError(
      'snapshots',
      options,
      'give a policy: every (a number of events), when (a function), or both',
    )
  }
  if (every !== undefined) positiveInteger('snapshots.every', every)
  if (when !== undefined && typeof when !== 'function') {
    throw new ConfigError(
      'snapshots.when',
      when,
      'must be a function (state, version, info) => boolean',
    )
  }
  const version = positiveInteger('snapshots.version', options.version ?? 1, 2_147_483_647)
  const keep = positiveInteger('snapshots.keep', options.keep ?? 1, 1000)
  const codec = options.codec ?? (richJsonCodec as SnapshotCodec<State>)
  if (typeof codec?.encode !== 'function' || typeof codec.decode !== 'function') {
    throw new ConfigError(
      'snapshots.codec',
      codec,
      'must have encode(state) and decode(stored) functions',
    )
  }
  const onError =
    options.onError ??
    ((error: SnapshotError) => {
      process.emitWarning(error.message, {
        code: 'STRATA_SNAPSHOT',
        detail: `aggregate ${aggregate}`,
      })
    })
  return {
    version,
    keep,
    writeOnLoad: options.writeOnLoad ?? true,
    codec,
    isDue(state, streamVersion, info) {
      if (info.eventsSinceSnapshot <= 0) return false
      if (every !== undefined && info.eventsSinceSnapshot >= every) return true
      return when !== undefined && when(state, streamVersion, info) === true
    },
    report(error) {
      try {
        onError(error)
      } catch {
        // A failing error hook must not turn a snapshot problem into a failed command.
      }
    },
  }
}

function positiveInteger(option: string, value: unknown, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max) {
    throw new ConfigError(option, value, `must be an integer from 1 to ${max}`)
  }
  return value
}
