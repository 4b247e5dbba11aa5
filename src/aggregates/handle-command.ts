import {
  backoffDelay,
  checkOptions as checkKnownOptions,
  optionKeys,
  pause,
  type Backoff,
} from '../config/index.js'
import { InvalidArgumentError, StoreClosedError, WrongExpectedVersionError } from '../errors.js'
import type { StoreCore, AppendResult, EventMetadata } from '../store/index.js'
import { decidedEvents, fold, parseCommand, prepareDecision } from './decision.js'
import {
  untyped,
  type AnyAggregate,
  type AppendedEventOf,
  type CommandOf,
  type StateOf,
  type UntypedAggregate,
} from './define-aggregate.js'
import { ConcurrencyRetriesExhaustedError } from './errors.js'
import { loadStream, NO_BOUNDS, snapshotIfDue, streamIdFor } from './load-aggregate.js'

/** Options of `store.handle`. */
export interface HandleOptions {
  /**
   * How often to reload and decide again when a concurrent write moved the stream on (default:
   * the aggregate's maxRetries, 10 unless defined otherwise). 0: fail on the first conflict.
   */
  readonly maxRetries?: number
  /**
   * Decide only if the aggregate is at exactly this version (the version a user saw, say);
   * otherwise throw WrongExpectedVersionError without retrying.
   */
  readonly expectedVersion?: bigint
  /** Merged into the metadata of every event appended (correlationId, causationId, …). */
  readonly metadata?: EventMetadata
}

/** What `store.handle` returns. */
export interface HandleResult<A> {
  readonly streamId: string
  /** The state after the command (the loaded state when it decided no events). */
  readonly state: StateOf<A>
  /** The stream's version after the command. */
  readonly version: bigint
  /** The events appended, in order ([] when decide returned none). */
  readonly events: ReadonlyArray<AppendedEventOf<A>>
  /** Global position of the last event appended (null when none was). */
  readonly position: bigint | null
}

/**
 * Handles a command: validates it, loads the aggregate (snapshot + tail), decides, folds the new
 * events (so an evolve that throws writes nothing), and appends them with the loaded version as
 * expectedVersion. When a concurrent write got there first it reloads and decides again, up to
 * maxRetries times. Afterwards it writes a snapshot if the policy says so; a failing snapshot
 * never fails the command.
 *
 * @throws CommandValidationError for an unknown command type or invalid data (nothing read or written).
 * @throws ConcurrencyRetriesExhaustedError when every attempt lost to a concurrent write (nothing written).
 * @throws WrongExpectedVersionError when `expectedVersion` was given and the aggregate is elsewhere.
 * @throws whatever decide throws (a domain error), unchanged, with nothing written.
 * @throws StreamDeletedError for a tombstoned stream, before decide runs (nothing written).
 * @throws UndeclaredEventTypeError when decide returns an event of a type the aggregate does not
 *   declare; EventValidationError, UnknownEventTypeError, EventSerializationError when it returns
 *   an invalid event (nothing written); SnapshotRequiredError and
 *   UpcastError as loadAggregate; InvalidArgumentError for invalid arguments; StoreClosedError
 *   when the store closes between retries.
 */
export async function handleCommand<A extends AnyAggregate>(
  store: StoreCore,
  aggregate: A,
  id: string,
  command: CommandOf<A>,
  options: HandleOptions = {},
): Promise<HandleResult<A>> {
  const streamId = streamIdFor(aggregate, id)
  return handle(store, untyped(aggregate), streamId, command, options) as Promise<HandleResult<A>>
}

async function handle(
  store: StoreCore,
  aggregate: UntypedAggregate,
  streamId: string,
  command: unknown,
  options: HandleOptions,
): Promise<HandleResult<UntypedAggregate>> {
  const { maxRetries, expectedVersion, metadata } = checkOptions(aggregate, options)
  const parsed = parseCommand(aggregate, command)
  for (let attempt = 1; ; attempt++) {
    const loaded = await loadStream(store, aggregate, streamId, NO_BOUNDS, { writeSnapshot: false })
    if (expectedVersion !== undefined && loaded.version !== expectedVersion) {
      throw new WrongExpectedVersionError(streamId, expectedVersion, loaded.version)
    }
    const decided = decidedEvents(aggregate, await aggregate.decide(parsed, loaded.state))
    if (decided.length === 0) {
      if (aggregate.snapshots?.writeOnLoad === true) {
        await snapshotIfDue(store, aggregate, streamId, loaded)
      }
      return {
        streamId,
        state: loaded.state,
        version: loaded.version,
        events: [],
        position: null,
      }
    }
    const { appendable, normalised } = prepareDecision(decided, store.eventTypes, metadata)
    const { state } = fold(aggregate, loaded.state, normalised)
    let appended: AppendResult
    try {
      // Ids decide gave may be retries of an earlier command: only ours skip the lookup.
      const generated = !decided.some((event) => event.id !== undefined)
      appended = await store.appendToStream(
        streamId,
        appendable,
        { expectedVersion: loaded.version },
        generated,
      )
    } catch (error) {
      if (!(error instanceof WrongExpectedVersionError) || expectedVersion !== undefined)
        throw error
      if (attempt > maxRetries) {
        throw new ConcurrencyRetriesExhaustedError(aggregate.name, streamId, attempt, error)
      }
      await backoff(attempt)
      if (store.closing) throw new StoreClosedError()
      continue
    }
    // Versions come from the append: after a soft delete the stream restarts above its old ones.
    const first = appended.nextExpectedVersion - BigInt(normalised.length) + 1n
    const events = normalised.map((event, i) => ({
      id: event.id,
      streamId,
      version: first + BigInt(i),
      type: event.type,
      data: event.data,
      metadata: event.metadata,
    }))
    await snapshotIfDue(store, aggregate, streamId, {
      state,
      version: appended.nextExpectedVersion,
      position: appended.position,
      fromSnapshotAt: loaded.fromSnapshotAt,
      eventsReplayed: loaded.eventsReplayed + events.length,
    })
    return {
      streamId,
      state,
      version: appended.nextExpectedVersion,
      events: events,
      position: appended.position,
    }
  }
}

const HANDLE_OPTIONS = optionKeys<HandleOptions>({
  maxRetries: true,
  expectedVersion: true,
  metadata: true,
})

function checkOptions(aggregate: UntypedAggregate, options: HandleOptions) {
  checkKnownOptions(options, HANDLE_OPTIONS, 'an option of handle()', {
    argument: 'handle options',
  })
  const maxRetries = options.maxRetries ?? aggregate.maxRetries
  if (!Number.isInteger(maxRetries) || maxRetries < 0 || maxRetries > 1000) {
    throw new InvalidArgumentError('maxRetries', maxRetries, 'must be an integer from 0 to 1000')
  }
  const { expectedVersion, metadata } = options
  if (
    expectedVersion !== undefined &&
    (typeof expectedVersion !== 'bigint' || expectedVersion < 0n)
  ) {
    throw new InvalidArgumentError('expectedVersion', expectedVersion, 'must be a bigint >= 0n')
  }
  if (
    metadata !== undefined &&
    (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata))
  ) {
    throw new InvalidArgumentError('metadata', metadata, 'must be an object')
  }
  return { maxRetries, expectedVersion, metadata }
}

/**
 * Waits before retrying, with full jitter under a ceiling that doubles from 5 ms to 500 ms: the
 * callers that lost one race must not all come back together and collide again (measured: 50
 * callers on one aggregate all get through within 10 retries this way; with a 100 ms ceiling a
 * few in five rounds did not).
 */
function backoff(attempt: number): Promise<void> {
  return pause(backoffDelay(attempt, CONFLICT_BACKOFF))
}

const CONFLICT_BACKOFF: Backoff = { initialMs: 5, maxMs: 500, multiplier: 2, jitter: 1 }
