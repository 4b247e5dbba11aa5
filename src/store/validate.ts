import { checkOptions, optionKeys } from '../config/index.js'
import {
  EventSerializationError,
  InvalidArgumentError,
  InvalidExpectedVersionError,
  InvalidStreamIdError,
} from '../errors.js'
import { JsonShapeError, loneSurrogate, toJsonText, type EventTypes } from '../events/index.js'
import type { AllFilter, NewEvent } from './types.js'
import { uuidV7 } from './uuid-v7.js'

/** Longest stream id, in characters (Unicode code points): at most 2,048 bytes of UTF-8. */
export const MAX_STREAM_ID_LENGTH = 512
/** Longest event type, in characters (Unicode code points). */
export const MAX_EVENT_TYPE_LENGTH = 256
/** Largest version or global position Postgres stores (int8). */
export const MAX_INT8 = 9223372036854775807n
// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/**
 * Characters (Unicode code points) in `text`, counting at most up to `max + 1`: a surrogate pair
 * (an emoji, say) is one character, as Postgres counts it.
 */
function characterCount(text: string, max: number): number {
  if (text.length <= max) return text.length // every character takes one or two code units
  let count = 0
  for (let i = 0; i < text.length && count <= max; i++, count++) {
    const unit = text.charCodeAt(i)
    if (unit >= 0xd800 && unit <= 0xdbff) {
      const next = text.charCodeAt(i + 1)
      if (next >= 0xdc00 && next <= 0xdfff) i++
    }
  }
  return count
}

/**
 * What keeps `text` from being stored verbatim in a Postgres text column, or undefined: \u0000
 * (refused by Postgres) or a lone UTF-16 surrogate (turned into U+FFFD by the driver, so two
 * different names would share one row).
 */
export function unstorableText(text: string): string | undefined {
  if (text.includes('\u0000')) return 'contains \\u0000, which Postgres text cannot hold'
  const surrogate = loneSurrogate(text)
  return surrogate === undefined ? undefined : `contains ${surrogate}`
}

/**
 * Checks a name stored in a text column (a checkpoint, a group, a projection, a relay): a
 * non-empty string of at most `max` characters that Postgres stores as given.
 * @throws InvalidArgumentError, or `errorClass` (ConfigError for names given as options).
 */
export function checkName(
  argument: string,
  name: unknown,
  max: number,
  errorClass: new (
    argument: string,
    value: unknown,
    reason: string,
  ) => Error = InvalidArgumentError,
): string {
  if (typeof name !== 'string' || name.length === 0 || characterCount(name, max) > max) {
    throw new errorClass(argument, name, `must be a string of 1 to ${max} characters`)
  }
  const problem = unstorableText(name)
  if (problem !== undefined) throw new errorClass(argument, name, problem)
  return name
}

export function checkStreamId(streamId: unknown): string {
  if (typeof streamId !== 'string') throw new InvalidStreamIdError(streamId, 'must be a string')
  if (streamId.length === 0) throw new InvalidStreamIdError(streamId, 'must not be empty')
  if (characterCount(streamId, MAX_STREAM_ID_LENGTH) > MAX_STREAM_ID_LENGTH) {
    throw new InvalidStreamIdError(streamId, `is longer than ${MAX_STREAM_ID_LENGTH} characters`)
  }
  if (CONTROL_CHARS.test(streamId)) {
    throw new InvalidStreamIdError(streamId, 'contains a control character')
  }
  const surrogate = loneSurrogate(streamId)
  if (surrogate !== undefined) {
    // Sent to Postgres it would become U+FFFD: the id would not be stored verbatim.
    throw new InvalidStreamIdError(streamId, `contains ${surrogate}`)
  }
  if (streamId.trim() !== streamId) {
    throw new InvalidStreamIdError(streamId, 'has leading or trailing whitespace')
  }
  return streamId
}

/** The expected version as the append function takes it: a kind and, for 'exact', a number. */
export interface ExpectedVersionParam {
  readonly kind: 'any' | 'no_stream' | 'stream_exists' | 'exact'
  readonly version: bigint | null
}

export function checkExpectedVersion(expected: unknown): ExpectedVersionParam {
  if (expected === undefined || expected === 'any') return { kind: 'any', version: null }
  if (expected === 'no_stream' || expected === 'stream_exists')
    return { kind: expected, version: null }
  if (typeof expected === 'bigint' && expected >= 0n && expected <= MAX_INT8) {
    return { kind: 'exact', version: expected }
  }
  throw new InvalidExpectedVersionError(expected)
}

export function checkPositiveInt(argument: string, value: unknown, max = Number.MAX_SAFE_INTEGER) {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max) {
    throw new InvalidArgumentError(argument, value, `must be an integer from 1 to ${max}`)
  }
  return value
}

/** A global position or a stream version: a bigint that Postgres int8 holds, >= 0n. */
export function checkPosition(argument: string, value: unknown): bigint {
  if (typeof value !== 'bigint' || value < 0n || value > MAX_INT8) {
    throw new InvalidArgumentError(argument, value, `must be a bigint from 0n to ${MAX_INT8}n`)
  }
  return value
}

/** Events ready for the append function's array parameters. */
export interface PreparedEvents {
  readonly ids: string[]
  readonly types: string[]
  readonly data: string[]
  readonly metadata: string[]
  readonly dataVersions: number[]
  /** Whether the caller supplied any id (only then can the append be a retry). */
  readonly idsSupplied: boolean
  readonly bytes: number
}

export interface EventLimits {
  readonly maxEventsPerAppend: number
  readonly maxAppendBytes: number
}

/**
 * Checks and serialises the events of one append before any SQL runs: every failure names the
 * event index and the offending value, and nothing is written.
 */
export function prepareEvents(
  events: unknown,
  registry: EventTypes,
  limits: EventLimits,
): PreparedEvents {
  checkEventsArray(events, 'events', limits)
  const prepared: PreparedEvents = {
    ids: [],
    types: [],
    data: [],
    metadata: [],
    dataVersions: [],
    idsSupplied: false,
    bytes: 0,
  }
  let bytes = 0
  let idsSupplied = false
  const seenIds = new Set<string>()
  // A plain loop, not forEach: holes of a sparse array must be refused, not skipped.
  for (let index = 0; index < events.length; index++) {
    if (!(index in events)) {
      throw new InvalidArgumentError(
        `events[${index}]`,
        undefined,
        'is a hole in a sparse array; every element must be an event { type, data }',
      )
    }
    const raw: unknown = events[index]
    if (typeof raw !== 'object' || raw === null) {
      throw new InvalidArgumentError(`events[${index}]`, raw, 'must be an object { type, data }')
    }
    const event = raw as Partial<NewEvent>
    // A misspelt key (`metdata`) would drop what it holds without a word.
    checkOptions(event, EVENT_KEYS, 'a key of an event', { argument: `events[${index}]` })
    const type = checkEventType(event.type, index)
    let id: string
    if (event.id === undefined) {
      id = uuidV7()
    } else {
      if (typeof event.id !== 'string' || !UUID.test(event.id)) {
        throw new InvalidArgumentError(`events[${index}].id`, event.id, 'must be a uuid')
      }
      id = event.id.toLowerCase()
      idsSupplied = true
    }
    if (seenIds.has(id)) {
      throw new InvalidArgumentError(`events[${index}].id`, id, 'appears twice in one append')
    }
    seenIds.add(id)
    const data = registry.parse(type, event.data, index)
    const dataText = serialise(type, data, 'data')
    const metadataText = serialise(type, checkMetadata(event.metadata, type), 'metadata')
    // Bytes as sent and stored (UTF-8), not UTF-16 code units.
    bytes += Buffer.byteLength(dataText, 'utf8') + Buffer.byteLength(metadataText, 'utf8')
    prepared.ids.push(id)
    prepared.types.push(type)
    prepared.data.push(dataText)
    prepared.metadata.push(metadataText)
    prepared.dataVersions.push(registry.versionOf(type))
  }
  checkAppendBytes(bytes, 'events', events, limits)
  return { ...prepared, idsSupplied, bytes }
}

function checkEventsArray(
  events: unknown,
  argument: string,
  limits: EventLimits,
): asserts events is readonly unknown[] {
  if (!Array.isArray(events)) throw new InvalidArgumentError(argument, events, 'must be an array')
  if (events.length === 0) throw new InvalidArgumentError(argument, events, 'must not be empty')
  if (events.length > limits.maxEventsPerAppend) {
    throw new InvalidArgumentError(
      argument,
      events,
      `holds ${events.length} events; one append takes at most ${limits.maxEventsPerAppend}`,
    )
  }
}

function checkAppendBytes(bytes: number, argument: string, value: unknown, limits: EventLimits) {
  if (bytes > limits.maxAppendBytes) {
    throw new InvalidArgumentError(
      argument,
      value,
      `serialise to ${bytes} bytes of JSON (UTF-8); one append takes at most ${limits.maxAppendBytes}`,
    )
  }
}

/** One entry of appendToStreams, as the caller passed it (checked to be an object). */
export interface AppendEntry {
  readonly streamId: unknown
  readonly events: unknown
  readonly expectedVersion: unknown
}

const EVENT_KEYS = optionKeys<NewEvent>({ type: true, data: true, metadata: true, id: true })

const APPEND_ENTRY_KEYS = optionKeys<AppendEntry>({
  streamId: true,
  events: true,
  expectedVersion: true,
})

/**
 * Checks the entries of one appendToStreams call before any SQL runs, and prepares each with
 * `prepare` (which checks its stream id, expected version and events, e.g. with
 * {@link prepareEvents}). The limits apply to the whole call, as to one appendToStream:
 * `maxEventsPerAppend` events and `maxAppendBytes` bytes across all entries. Holes of a sparse
 * array and entries that are not objects are refused, naming their index.
 */
export function prepareAppends<T extends { readonly events: PreparedEvents }>(
  appends: unknown,
  limits: EventLimits,
  prepare: (entry: AppendEntry, index: number) => T,
): T[] {
  if (!Array.isArray(appends) || appends.length === 0) {
    throw new InvalidArgumentError(
      'appends',
      appends,
      'must be a non-empty array of { streamId, events }',
    )
  }
  const entries: AppendEntry[] = []
  let eventCount = 0
  for (let index = 0; index < appends.length; index++) {
    const entry: unknown = index in appends ? appends[index] : undefined
    if (typeof entry !== 'object' || entry === null) {
      throw new InvalidArgumentError(
        `appends[${index}]`,
        entry,
        index in appends
          ? 'must be { streamId, events, expectedVersion? }'
          : 'is a hole in a sparse array; every element must be { streamId, events }',
      )
    }
    checkOptions(entry as AppendEntry, APPEND_ENTRY_KEYS, 'a key of an appendToStreams entry', {
      argument: `appends[${index}]`,
    })
    const { streamId, events, expectedVersion } = entry as Partial<AppendEntry>
    entries.push({ streamId, events, expectedVersion })
    if (Array.isArray(events)) eventCount += events.length
  }
  // Counted before any event is serialised: a call far over the limit fails at once.
  if (eventCount > limits.maxEventsPerAppend) {
    throw new InvalidArgumentError(
      'appends',
      appends,
      `hold ${eventCount} events in all; one call takes at most ${limits.maxEventsPerAppend}`,
    )
  }
  const prepared = entries.map(prepare)
  const bytes = prepared.reduce((sum, p) => sum + p.events.bytes, 0)
  checkAppendBytes(bytes, 'appends', appends, limits)
  return prepared
}

function checkEventType(type: unknown, index: number): string {
  const argument = `events[${index}].type`
  if (typeof type !== 'string' || type.length === 0) {
    throw new InvalidArgumentError(argument, type, 'must be a non-empty string')
  }
  if (characterCount(type, MAX_EVENT_TYPE_LENGTH) > MAX_EVENT_TYPE_LENGTH) {
    throw new InvalidArgumentError(
      argument,
      type,
      `is longer than ${MAX_EVENT_TYPE_LENGTH} characters`,
    )
  }
  if (CONTROL_CHARS.test(type)) {
    throw new InvalidArgumentError(argument, type, 'contains a control character')
  }
  const surrogate = loneSurrogate(type)
  if (surrogate !== undefined) {
    throw new InvalidArgumentError(argument, type, `contains ${surrogate}`)
  }
  return type
}

function checkMetadata(metadata: unknown, type: string): Record<string, unknown> {
  if (metadata === undefined || metadata === null) return {}
  if (typeof metadata !== 'object' || Array.isArray(metadata)) {
    throw new EventSerializationError(type, 'metadata', 'must be a plain object', metadata)
  }
  const record = metadata as Record<string, unknown>
  for (const key of ['correlationId', 'causationId'] as const) {
    const value = record[key]
    if (value !== undefined && (typeof value !== 'string' || value.length === 0)) {
      throw new EventSerializationError(
        type,
        `metadata.${key}`,
        'must be a non-empty string',
        value,
      )
    }
  }
  return record
}

function serialise(type: string, value: unknown, path: string): string {
  try {
    return toJsonText(value, path)
  } catch (error) {
    if (error instanceof JsonShapeError) {
      throw new EventSerializationError(type, error.path, error.reason, error.value)
    }
    throw error
  }
}

/** Checks a $all filter before any SQL. */
const FILTER_KEYS = optionKeys<AllFilter>({
  eventTypes: true,
  category: true,
  streamIdPrefix: true,
})

export function checkFilter(filter: AllFilter | undefined): AllFilter | undefined {
  if (filter === undefined) return undefined
  checkOptions(filter, FILTER_KEYS, 'a filter criterion', { argument: 'filter' })
  const eventTypes: unknown = filter.eventTypes
  if (eventTypes !== undefined) {
    if (!Array.isArray(eventTypes)) {
      throw new InvalidArgumentError('filter.eventTypes', eventTypes, 'must be an array of strings')
    }
    for (let i = 0; i < eventTypes.length; i++) {
      const type: unknown = i in eventTypes ? eventTypes[i] : undefined
      if (typeof type !== 'string') {
        throw new InvalidArgumentError(`filter.eventTypes[${i}]`, type, 'must be a string')
      }
      checkFilterText(`filter.eventTypes[${i}]`, type, MAX_EVENT_TYPE_LENGTH)
    }
  }
  for (const key of ['category', 'streamIdPrefix'] as const) {
    const value: unknown = filter[key]
    if (value === undefined) continue
    if (typeof value !== 'string' || value.length === 0) {
      throw new InvalidArgumentError(`filter.${key}`, value, 'must be a non-empty string')
    }
    checkFilterText(`filter.${key}`, value, MAX_STREAM_ID_LENGTH)
  }
  return filter
}

/** Text Postgres cannot take as given (\u0000, lone surrogates), or too long, matches nothing. */
function checkFilterText(argument: string, value: string, max: number): void {
  // Longer than any stored type or stream id: it could match nothing.
  if (characterCount(value, max) > max) {
    throw new InvalidArgumentError(argument, value, `is longer than ${max} characters`)
  }
  const problem = unstorableText(value)
  if (problem !== undefined) throw new InvalidArgumentError(argument, value, problem)
}
