import { randomUUID } from 'node:crypto'
import {
  EventSerializationError,
  InvalidArgumentError,
  InvalidExpectedVersionError,
  InvalidStreamIdError,
} from '../errors.js'
import { JsonShapeError, toJsonText } from '../events/json.js'
import type { EventTypes } from '../events/registry.js'
import type { AllFilter, NewEvent } from './types.js'

export const MAX_STREAM_ID_LENGTH = 512
export const MAX_EVENT_TYPE_LENGTH = 256
// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

export function checkStreamId(streamId: unknown): string {
  if (typeof streamId !== 'string') throw new InvalidStreamIdError(streamId, 'must be a string')
  if (streamId.length === 0) throw new InvalidStreamIdError(streamId, 'must not be empty')
  if (streamId.length > MAX_STREAM_ID_LENGTH) {
    throw new InvalidStreamIdError(streamId, `is longer than ${MAX_STREAM_ID_LENGTH} characters`)
  }
  if (CONTROL_CHARS.test(streamId)) {
    throw new InvalidStreamIdError(streamId, 'contains a control character')
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
  if (typeof expected === 'bigint' && expected >= 0n && expected <= 9223372036854775807n) {
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

export function checkPosition(argument: string, value: unknown): bigint {
  if (typeof value !== 'bigint' || value < 0n) {
    throw new InvalidArgumentError(argument, value, 'must be a bigint >= 0n')
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
  if (!Array.isArray(events)) throw new InvalidArgumentError('events', events, 'must be an array')
  if (events.length === 0) throw new InvalidArgumentError('events', events, 'must not be empty')
  if (events.length > limits.maxEventsPerAppend) {
    throw new InvalidArgumentError(
      'events',
      events,
      `holds ${events.length} events; one append takes at most ${limits.maxEventsPerAppend}`,
    )
  }
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
  events.forEach((raw: unknown, index) => {
    if (typeof raw !== 'object' || raw === null) {
      throw new InvalidArgumentError(`events[${index}]`, raw, 'must be an object { type, data }')
    }
    const event = raw as Partial<NewEvent>
    const type = checkEventType(event.type, index)
    let id: string
    if (event.id === undefined) {
      id = randomUUID()
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
    bytes += dataText.length + metadataText.length
    prepared.ids.push(id)
    prepared.types.push(type)
    prepared.data.push(dataText)
    prepared.metadata.push(metadataText)
    prepared.dataVersions.push(registry.versionOf(type))
  })
  if (bytes > limits.maxAppendBytes) {
    throw new InvalidArgumentError(
      'events',
      events,
      `serialise to ${bytes} bytes; one append takes at most ${limits.maxAppendBytes}`,
    )
  }
  return { ...prepared, idsSupplied, bytes }
}

function checkEventType(type: unknown, index: number): string {
  if (typeof type !== 'string' || type.length === 0) {
    throw new InvalidArgumentError(`events[${index}].type`, type, 'must be a non-empty string')
  }
  if (type.length > MAX_EVENT_TYPE_LENGTH) {
    throw new InvalidArgumentError(
      `events[${index}].type`,
      type,
      `is longer than ${MAX_EVENT_TYPE_LENGTH} characters`,
    )
  }
  if (CONTROL_CHARS.test(type)) {
    throw new InvalidArgumentError(`events[${index}].type`, type, 'contains a control character')
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
export function checkFilter(filter: AllFilter | undefined): AllFilter | undefined {
  if (filter === undefined) return undefined
  if (typeof filter !== 'object' || filter === null) {
    throw new InvalidArgumentError('filter', filter, 'must be an object')
  }
  if (filter.eventTypes !== undefined) {
    if (!Array.isArray(filter.eventTypes) || filter.eventTypes.some((t) => typeof t !== 'string')) {
      throw new InvalidArgumentError(
        'filter.eventTypes',
        filter.eventTypes,
        'must be an array of strings',
      )
    }
  }
  for (const key of ['category', 'streamIdPrefix'] as const) {
    const value = filter[key]
    if (value !== undefined && (typeof value !== 'string' || value.length === 0)) {
      throw new InvalidArgumentError(`filter.${key}`, value, 'must be a non-empty string')
    }
  }
  return filter
}
