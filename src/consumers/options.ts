import { hostname } from 'node:os'
import { ConfigError, InvalidArgumentError } from '../errors.js'
import { checkStreamId } from '../store/validate.js'
import type {
  BackoffOptions,
  ConsumeOptions,
  ConsumerGroupOptions,
  ConsumerStrategy,
  DeliveriesOptions,
  DeliveryOptions,
  ResetTarget,
} from './types.js'

/** The part of a group fixed at creation, as stored in consumer_groups. */
export interface GroupDefinition {
  readonly category: string | null
  readonly eventTypes: readonly string[] | null
  readonly streamIds: readonly string[] | null
  readonly streamPrefix: string | null
  readonly strategy: ConsumerStrategy
  /** Per-stream groups: a parked message holds back its stream. Always true for round-robin. */
  readonly holdParkedStreams: boolean
}

/** A cursor to start from, as consumer_group_start_cursor takes it. */
export interface StartPoint {
  readonly kind: 'start' | 'end' | 'position' | 'time'
  readonly position: bigint | null
  readonly time: Date | null
}

/** Delivery options with their defaults applied. */
export interface DeliverySettings {
  readonly maxAttempts: number
  readonly backoff: Required<BackoffOptions>
  readonly leaseMs: number
  readonly heartbeatMs: number
  readonly windowSize: number
  readonly maxConcurrency: number | null
  readonly maxPerSecond: number | null
  readonly pollIntervalMs: number
  readonly maxWaitMs: number
  readonly vacuumEvery: number
  readonly onError: (error: unknown) => void
}

export interface GroupSettings {
  readonly definition: GroupDefinition
  readonly start: StartPoint
  readonly delivery: DeliverySettings
}

export interface ConsumeSettings {
  readonly concurrency: number
  /** Deliveries leased ahead, with the concurrency; with autoPrefetch, the least of it. */
  readonly prefetch: number
  /**
   * prefetch was left to its default: lease ahead what the handlers get through in about 100 ms
   * (up to 200 more than the concurrency), measured as they run (see ConsumerCore.prefetch).
   */
  readonly autoPrefetch: boolean
  readonly label: string
  readonly stopTimeoutMs: number
}

const MAX_NAME_LENGTH = 200
// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/
const SOURCE_KEYS = new Set(['category', 'streams', 'streamIdPrefix', 'eventTypes'])
const DELIVERY_KEYS = [
  'maxAttempts',
  'backoff',
  'leaseMs',
  'heartbeatMs',
  'windowSize',
  'maxConcurrency',
  'maxPerSecond',
  'pollIntervalMs',
  'maxWaitMs',
  'vacuumEvery',
  'onError',
] as const
const GROUP_KEYS = ['source', 'strategy', 'startFrom', 'parkedStream', ...DELIVERY_KEYS] as const
const BACKOFF_KEYS = ['initialMs', 'maxMs', 'multiplier', 'jitter'] as const
const CONSUME_KEYS = ['concurrency', 'prefetch', 'label', 'stopTimeoutMs'] as const
const DELIVERIES_KEYS = ['concurrency', 'label'] as const
/**
 * Other names users reach for (SQS's visibility timeout, the issue's "maximum concurrency" and
 * "deliveries per second"): accepted for the option they mean. `concurrency` on a group or
 * queue is the cap across all its consumers (maxConcurrency); per consumer it is consume()'s.
 */
const ALIASES: Readonly<Record<string, (typeof DELIVERY_KEYS)[number]>> = {
  concurrency: 'maxConcurrency',
  visibilityTimeoutMs: 'leaseMs',
  maxDeliveriesPerSecond: 'maxPerSecond',
}

/**
 * Checks options given possibly under aliases: `check` sees the canonical names, and an error
 * about an option given under an alias names the alias.
 */
function checkWithAliases<T extends object, R>(given: T, check: (options: T) => R): R {
  const options = withoutAliases(given)
  try {
    return check(options)
  } catch (error) {
    if (error instanceof ConfigError) {
      const alias = Object.keys(ALIASES).find(
        (a) => ALIASES[a] === error.option && (given as Record<string, unknown>)[a] !== undefined,
      )
      if (alias !== undefined) {
        const note =
          alias === 'concurrency'
            ? `concurrency on a group or queue is ${error.option}, the cap across all its consumers; per consumer, give it to consume()`
            : `${alias} is another name for ${error.option}`
        throw new ConfigError(alias, error.value, `${error.reason} (${note})`)
      }
    }
    throw error
  }
}

/** The options with aliases replaced by the option they stand for. */
function withoutAliases<T extends object>(options: T): T {
  let resolved: Record<string, unknown> | undefined
  for (const [alias, canonical] of Object.entries(ALIASES)) {
    if (!Object.hasOwn(options, alias)) continue
    resolved ??= { ...(options as Record<string, unknown>) }
    const value = resolved[alias]
    delete resolved[alias]
    if (value === undefined) continue // left undefined (a spread config): says nothing
    if (resolved[canonical] !== undefined && resolved[canonical] !== value) {
      throw new ConfigError(alias, value, `is another name for ${canonical}; give one of them`)
    }
    resolved[canonical] = value
  }
  return (resolved ?? options) as T
}

/** What a key that is not an option of one call is, when it is an option of another. */
const ELSEWHERE: Readonly<Record<string, string>> = {
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
  return checkWithAliases(given, checkCanonicalGroupOptions)
}

function checkCanonicalGroupOptions(options: ConsumerGroupOptions): GroupSettings {
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
  })
  // Sorted and without duplicates: the stored definition compares equal however it is written.
  return [...new Set(value as string[])].sort()
}

/**
 * Checks where a group starts (or is reset to). `errorClass` is ConfigError for options and
 * InvalidArgumentError for arguments.
 */
export function checkStartFrom(
  option: string,
  value: unknown,
  errorClass: typeof ConfigError | typeof InvalidArgumentError,
): StartPoint {
  if (value === 'start') return { kind: 'start', position: null, time: null }
  if (value === 'end') return { kind: 'end', position: null, time: null }
  if (typeof value === 'bigint' || typeof value === 'number') {
    const position = toPosition(value)
    if (position === undefined) {
      throw new errorClass(option, value, POSITION_RULE)
    }
    return position === 0n
      ? { kind: 'start', position: null, time: null }
      : { kind: 'position', position, time: null }
  }
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw new errorClass(option, value, 'is an invalid Date')
    return { kind: 'time', position: null, time: value }
  }
  throw new errorClass(option, value, "must be 'start', 'end', a position (bigint) or a Date")
}

/** What a position may be: see {@link toPosition}. */
export const POSITION_RULE = 'a position must be a bigint >= 0n or a non-negative safe integer'

/**
 * A position as a bigint: a bigint from 0n to the int8 maximum, or a number that is a
 * non-negative safe integer. Undefined for anything else.
 */
export function toPosition(value: unknown): bigint | undefined {
  if (typeof value === 'bigint') {
    return value >= 0n && value <= 9223372036854775807n ? value : undefined
  }
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return BigInt(value)
  return undefined
}

/**
 * Checks the target of a reset.
 * @throws InvalidArgumentError naming the value.
 */
export function checkResetTarget(target: ResetTarget): StartPoint {
  if (typeof target === 'object' && target !== null && !(target instanceof Date)) {
    for (const key of Object.keys(target)) {
      if (key !== 'position' && key !== 'time') {
        throw new InvalidArgumentError(
          `to.${key}`,
          (target as Record<string, unknown>)[key],
          'is not a reset target: give { position } or { time }',
        )
      }
    }
    if ('position' in target && 'time' in target) {
      throw new InvalidArgumentError('to', target, 'give { position } or { time }, not both')
    }
    if ('position' in target)
      return checkStartFrom('to.position', target.position, InvalidArgumentError)
    if ('time' in target) {
      if (!(target.time instanceof Date)) {
        throw new InvalidArgumentError('to.time', target.time, 'must be a Date')
      }
      return checkStartFrom('to.time', target.time, InvalidArgumentError)
    }
  }
  return checkStartFrom('to', target, InvalidArgumentError)
}

/**
 * Checks the delivery options shared by groups and queues, and applies defaults.
 * @throws ConfigError naming the option and the value.
 */
export function checkDeliveryOptions(options: DeliveryOptions): DeliverySettings {
  if (typeof options !== 'object' || options === null) {
    throw new ConfigError('options', options, 'must be an object')
  }
  const maxAttempts = options.maxAttempts ?? 5
  if (
    maxAttempts !== Infinity &&
    (typeof maxAttempts !== 'number' || !Number.isInteger(maxAttempts) || maxAttempts < 1)
  ) {
    throw new ConfigError('maxAttempts', maxAttempts, 'must be an integer >= 1 (or Infinity)')
  }
  const leaseMs = intOption('leaseMs', options.leaseMs, 30_000, 100, 24 * 3600_000)
  const heartbeatMs = intOption(
    'heartbeatMs',
    options.heartbeatMs,
    Math.max(10, Math.floor(leaseMs / 3)),
    10,
    leaseMs - 1,
  )
  if (
    options.backoff !== undefined &&
    (typeof options.backoff !== 'object' || options.backoff === null)
  ) {
    throw new ConfigError('backoff', options.backoff, 'must be an object')
  }
  const backoff = options.backoff ?? {}
  checkKnownKeys(backoff, BACKOFF_KEYS, 'a backoff option', {}, 'backoff.')
  const initialMs = numberOption('backoff.initialMs', backoff.initialMs, 1000, 0, 24 * 3600_000)
  const maxMs = numberOption(
    'backoff.maxMs',
    backoff.maxMs,
    Math.max(60_000, initialMs),
    initialMs,
    7 * 24 * 3600_000,
  )
  const multiplier = numberOption('backoff.multiplier', backoff.multiplier, 2, 1, 1000)
  const jitter = numberOption('backoff.jitter', backoff.jitter, 0.5, 0, 1)
  const onError = options.onError ?? (() => undefined)
  if (typeof onError !== 'function') {
    throw new ConfigError('onError', onError, 'must be a function')
  }
  return {
    maxAttempts,
    backoff: { initialMs, maxMs, multiplier, jitter },
    leaseMs,
    heartbeatMs,
    windowSize: intOption('windowSize', options.windowSize, 4000, 1, 100_000),
    maxConcurrency:
      options.maxConcurrency === undefined
        ? null
        : intOption('maxConcurrency', options.maxConcurrency, 1, 1, 1_000_000),
    maxPerSecond:
      options.maxPerSecond === undefined
        ? null
        : numberOption('maxPerSecond', options.maxPerSecond, 1, 0.001, 1_000_000),
    pollIntervalMs: intOption('pollIntervalMs', options.pollIntervalMs, 1000, 10, 3600_000),
    maxWaitMs: intOption('maxWaitMs', options.maxWaitMs, 100, 0, 10_000),
    vacuumEvery: intOption('vacuumEvery', options.vacuumEvery, 10_000, 0, 1_000_000_000),
    onError: (error) => {
      try {
        onError(error)
      } catch {
        // an onError hook that throws must not break the consumer
      }
    },
  }
}

/**
 * Checks the options of consume(handler, options).
 * @throws ConfigError naming the option and the value.
 */
export function checkConsumeOptions(options: ConsumeOptions | undefined): ConsumeSettings {
  if (options !== undefined && (typeof options !== 'object' || options === null)) {
    throw new ConfigError('options', options, 'must be an object')
  }
  if (options !== undefined) {
    checkKnownKeys(options, CONSUME_KEYS, 'an option of consume()', groupOptionElsewhere)
  }
  const concurrency = intOption('concurrency', options?.concurrency, 1, 1, 10_000)
  const prefetch = intOption('prefetch', options?.prefetch, concurrency, concurrency, 10_000)
  return {
    concurrency,
    prefetch,
    autoPrefetch: options?.prefetch === undefined,
    label: checkLabel(options?.label),
    stopTimeoutMs: intOption('stopTimeoutMs', options?.stopTimeoutMs, 10_000, 0, 24 * 3600_000),
  }
}

/**
 * Checks the options of the Observable form.
 * @throws ConfigError naming the option and the value.
 */
export function checkDeliveriesOptions(options: DeliveriesOptions | undefined): ConsumeSettings {
  if (options !== undefined && (typeof options !== 'object' || options === null)) {
    throw new ConfigError('options', options, 'must be an object')
  }
  if (options !== undefined) {
    checkKnownKeys(options, DELIVERIES_KEYS, 'an option of the Observable form', {
      ...groupOptionElsewhere,
      prefetch: 'applies to the handler form only: consume(handler, { prefetch })',
      stopTimeoutMs:
        'applies to the handler form only: consume(handler, { stopTimeoutMs }); unsubscribing stops at once',
    })
  }
  const concurrency = intOption('concurrency', options?.concurrency, 1, 1, 10_000)
  return {
    concurrency,
    prefetch: concurrency,
    autoPrefetch: false,
    label: checkLabel(options?.label),
    stopTimeoutMs: 0,
  }
}

/** Group options passed to consume() or deliveries() by mistake. */
const groupOptionElsewhere: Readonly<Record<string, string>> = Object.fromEntries(
  GROUP_KEYS.map((key) => [
    key,
    `is an option of the group: store.consumerGroup(name, { ${key} }) or store.queue(name, { ${key} })`,
  ]),
)

/** Task queue options are the delivery options: what a group has beyond them is fixed. */
export function checkTaskQueueOptions(given: unknown): DeliverySettings {
  if (typeof given !== 'object' || given === null) {
    throw new ConfigError('options', given, 'must be an object')
  }
  return checkWithAliases(given, checkCanonicalTaskQueueOptions)
}

function checkCanonicalTaskQueueOptions(options: object): DeliverySettings {
  const fixed =
    'cannot be set on a task queue: a queue is a round-robin group over its own tasks, from the first task sent'
  checkKnownKeys(options, DELIVERY_KEYS, 'an option of a task queue', {
    ...ELSEWHERE,
    source: fixed,
    strategy: fixed,
    startFrom: fixed,
    parkedStream: fixed,
  })
  return checkDeliveryOptions(options)
}

/**
 * Refuses keys that are not options: a typo (`maxAttempt`) or an option of another call
 * (`concurrency` given to a group) would otherwise be ignored silently.
 * @throws ConfigError (or `errorClass`, for arguments) naming the key, with a hint where it
 *   belongs or what was meant.
 */
export function checkKnownKeys(
  options: object,
  known: readonly string[],
  what: string,
  elsewhere: Readonly<Record<string, string>> = {},
  prefix = '',
  errorClass: typeof ConfigError | typeof InvalidArgumentError = ConfigError,
): void {
  for (const key of Object.keys(options)) {
    if (known.includes(key)) continue
    const value = (options as Record<string, unknown>)[key]
    const hint = Object.hasOwn(elsewhere, key) ? elsewhere[key] : undefined
    if (hint !== undefined) throw new errorClass(`${prefix}${key}`, value, hint)
    const near = closest(key, known)
    throw new errorClass(
      `${prefix}${key}`,
      value,
      `is not ${what}${near === undefined ? '' : ` (did you mean ${near}?)`}; known: ${known.join(', ')}`,
    )
  }
}

/** The known key closest to a misspelt one (case-insensitive, at most 2 edits), if any. */
function closest(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined
  let bestDistance = 3
  for (const candidate of known) {
    const d = editDistance(key.toLowerCase(), candidate.toLowerCase())
    if (d < bestDistance) {
      best = candidate
      bestDistance = d
    }
  }
  return best
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(
        previous[j]! + 1,
        current[j - 1]! + 1,
        previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      )
    }
    previous = current
  }
  return previous[b.length]!
}

function checkLabel(label: unknown): string {
  if (label === undefined) return `${hostname()}:${process.pid}`
  if (typeof label !== 'string' || label.length === 0 || label.length > MAX_NAME_LENGTH) {
    throw new ConfigError('label', label, `must be a string of 1 to ${MAX_NAME_LENGTH} characters`)
  }
  return label
}

function intOption(option: string, value: unknown, fallback: number, min: number, max: number) {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(option, value, `must be an integer from ${min} to ${max}`)
  }
  return value
}

function numberOption(option: string, value: unknown, fallback: number, min: number, max: number) {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw new ConfigError(option, value, `must be a number from ${min} to ${max}`)
  }
  return value
}
