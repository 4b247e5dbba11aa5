import { ConfigError, InvalidArgumentError } from '../errors.js'
import { checkKnownKeys } from '../config/index.js'
import { checkStreamId, unstorableText } from '../store/index.js'
import {
  checkDeliveryOptions,
  DELIVERY_KEYS,
  GROUP_KEYS,
  MAX_NAME_LENGTH,
  type DeliverySettings,
  type GroupDefinition,
  type GroupSettings,
} from './options.js'
import { checkStartFrom } from './positions.js'
import type { ConsumerGroupOptions } from './types.js'

// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/
const SOURCE_KEYS = new Set(['category', 'streams', 'streamIdPrefix', 'eventTypes'])
/** What a key that is not an option of one call is, when it is an option of another. */
const ELSEWHERE: Readonly<Record<string, string>> = {
  // Names users reach for from other systems: one name per option, so these say which it is.
  concurrency:
    'is not an option of a group or queue: the cap across all its consumers is maxConcurrency; per consumer, give concurrency to consume()',
  visibilityTimeoutMs: 'is not an option: the visibility timeout is leaseMs',
  maxDeliveriesPerSecond: 'is not an option: the rate limit across all consumers is maxPerSecond',
  prefetch: 'belongs to consume(handler, { prefetch }), not to the group',
  label: 'belongs to consume(handler, { label }) or deliveries({ label }), not to the group',
  stopTimeoutMs: 'belongs to consume(handler, { stopTimeoutMs }), not to the group',
}

/**
 * Checks a group or queue name. Names starting with `$` are reserved for strata's own groups
 * (task queues), unless `reserved` is set by strata itself.
 * @throws InvalidArgumentError naming the value.
 */
export function checkGroupName(name: unknown, what = 'consumer group name', reserved = false) {
  if (typeof name !== 'string' || name.length === 0) {
    throw new InvalidArgumentError(what, name, 'must be a non-empty string')
  }
  if (name.length > MAX_NAME_LENGTH) {
    throw new InvalidArgumentError(what, name, `is longer than ${MAX_NAME_LENGTH} characters`)
  }
  if (CONTROL_CHARS.test(name)) {
    throw new InvalidArgumentError(what, name, 'contains a control character')
  }
  const problem = unstorableText(name)
  if (problem !== undefined) throw new InvalidArgumentError(what, name, problem)
  if (!reserved && name.startsWith('$')) {
    throw new InvalidArgumentError(what, name, "names starting with '$' are reserved")
  }
  return name
}

/**
 * Checks a group's options and applies defaults, before any SQL.
 * @throws ConfigError naming the option and the value.
 */
export function checkGroupOptions(given: ConsumerGroupOptions | undefined): GroupSettings {
  if (typeof given !== 'object' || given === null) {
    throw new ConfigError('options', given, 'must be an object with at least { source }')
  }
  const options = given
  checkKnownKeys(options, GROUP_KEYS, 'an option of a consumer group', ELSEWHERE)
  const strategy = options.strategy ?? 'round-robin'
  if (strategy !== 'round-robin' && strategy !== 'per-stream') {
    throw new ConfigError('strategy', strategy, "must be 'round-robin' or 'per-stream'")
  }
  const parkedStream = options.parkedStream ?? 'hold'
  if (parkedStream !== 'hold' && parkedStream !== 'continue') {
    throw new ConfigError('parkedStream', parkedStream, "must be 'hold' or 'continue'")
  }
  return {
    definition: {
      ...checkSource(options.source),
      strategy,
      holdParkedStreams: strategy === 'round-robin' || parkedStream === 'hold',
    },
    start: checkStartFrom('startFrom', options.startFrom ?? 'start', ConfigError),
    delivery: checkDeliveryOptions(options),
  }
}

function checkSource(
  source: unknown,
): Pick<GroupDefinition, 'category' | 'eventTypes' | 'streamIds' | 'streamPrefix'> {
  if (source === 'all')
    return { category: null, eventTypes: null, streamIds: null, streamPrefix: null }
  if (typeof source !== 'object' || source === null || Array.isArray(source)) {
    throw new ConfigError(
      'source',
      source,
      "must be 'all' or { category?, streams?, streamIdPrefix?, eventTypes? }",
    )
  }
  for (const key of Object.keys(source)) {
    if (!SOURCE_KEYS.has(key)) {
      throw new ConfigError(
        `source.${key}`,
        (source as Record<string, unknown>)[key],
        'is not a source criterion (category, streams, streamIdPrefix, eventTypes)',
      )
    }
  }
  const { category, streams, streamIdPrefix, eventTypes } = source as Record<string, unknown>
  if (
    category === undefined &&
    streams === undefined &&
    streamIdPrefix === undefined &&
    eventTypes === undefined
  ) {
    throw new ConfigError('source', source, "names no criterion; use 'all' for every event")
  }
  if (category !== undefined) {
    if (typeof category !== 'string' || category.length === 0) {
      throw new ConfigError('source.category', category, 'must be a non-empty string')
    }
    checkSourceText('source.category', category)
    if (category.includes('-')) {
      throw new ConfigError(
        'source.category',
        category,
        "a category is the stream id up to its first '-', so it cannot contain '-'",
      )
    }
  }
  if (
    streamIdPrefix !== undefined &&
    (typeof streamIdPrefix !== 'string' || streamIdPrefix === '')
  ) {
    throw new ConfigError('source.streamIdPrefix', streamIdPrefix, 'must be a non-empty string')
  }
  if (streamIdPrefix !== undefined) checkSourceText('source.streamIdPrefix', streamIdPrefix)
  return {
    category: category ?? null,
    eventTypes: eventTypes === undefined ? null : checkStringList('source.eventTypes', eventTypes),
    streamIds:
      streams === undefined
        ? null
        : checkStringList('source.streams', streams).map((id, i) => {
            try {
              return checkStreamId(id)
            } catch (error) {
              throw new ConfigError(
                `source.streams[${i}]`,
                id,
                (error as InvalidArgumentError).reason,
              )
            }
          }),
    streamPrefix: streamIdPrefix ?? null,
  }
}

function checkStringList(option: string, value: unknown): string[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw new ConfigError(option, value, 'must be a non-empty array of strings')
  }
  value.forEach((item: unknown, i) => {
    if (typeof item !== 'string' || item.length === 0) {
      throw new ConfigError(`${option}[${i}]`, item, 'must be a non-empty string')
    }
    checkSourceText(`${option}[${i}]`, item)
  })
  // Sorted and without duplicates: the stored definition compares equal however it is written.
  return [...new Set(value as string[])].sort()
}

/** Task queue options are the delivery options: what a group has beyond them is fixed. */
export function checkTaskQueueOptions(given: unknown): DeliverySettings {
  if (typeof given !== 'object' || given === null) {
    throw new ConfigError('options', given, 'must be an object')
  }
  const fixed =
    'cannot be set on a task queue: a queue is a round-robin group over its own tasks, from the first task sent'
  checkKnownKeys(given, DELIVERY_KEYS, 'an option of a task queue', {
    ...ELSEWHERE,
    source: fixed,
    strategy: fixed,
    startFrom: fixed,
    parkedStream: fixed,
  })
  return checkDeliveryOptions(given)
}

/** Longer than any stream id (512 characters of at most 2 code units) or event type. */
const MAX_SOURCE_TEXT = 1024

/** A criterion Postgres could not compare as given (\u0000, a lone surrogate) matches nothing. */
function checkSourceText(option: string, value: string): void {
  if (value.length > MAX_SOURCE_TEXT) {
    throw new ConfigError(option, value, `is longer than ${MAX_SOURCE_TEXT} characters`)
  }
  const problem = unstorableText(value)
  if (problem !== undefined) throw new ConfigError(option, value, problem)
}
