import { hostname } from 'node:os'
import {
  type Backoff,
  checkBackoff,
  checkKnownKeys,
  intOption,
  numberOption,
} from '../config/index.js'
import { ConfigError } from '../errors.js'
import { unstorableText } from '../store/index.js'
import type { StartPoint } from './positions.js'
import type {
  ConsumeOptions,
  ConsumerStrategy,
  DeliveriesOptions,
  DeliveryOptions,
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

/** Delivery options with their defaults applied. */
export interface DeliverySettings {
  readonly maxAttempts: number
  readonly backoff: Backoff
  readonly leaseMs: number
  readonly heartbeatMs: number
  readonly windowSize: number
  readonly maxConcurrency: number | null
  readonly maxPerSecond: number | null
  readonly pollIntervalMs: number
  readonly maxWaitMs: number
  readonly vacuumEvery: number
  readonly onError: (error: unknown) => void
  readonly readFrom: 'primary' | 'replica'
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

export const MAX_NAME_LENGTH = 200
export const DELIVERY_KEYS = [
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
  'readFrom',
] as const
export const GROUP_KEYS = [
  'source',
  'strategy',
  'startFrom',
  'parkedStream',
  ...DELIVERY_KEYS,
] as const
const CONSUMER_BACKOFF: Backoff = { initialMs: 1000, maxMs: 60_000, multiplier: 2, jitter: 0.5 }
const CONSUME_KEYS = ['concurrency', 'prefetch', 'label', 'stopTimeoutMs'] as const
const DELIVERIES_KEYS = ['concurrency', 'label'] as const
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
  const backoff = checkBackoff(options.backoff, CONSUMER_BACKOFF, 'backoff.')
  const onError = options.onError ?? (() => undefined)
  if (typeof onError !== 'function') {
    throw new ConfigError('onError', onError, 'must be a function')
  }
  return {
    maxAttempts,
    backoff,
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
    readFrom: readFromOption(options.readFrom),
    onError: (error) => {
      try {
        onError(error)
      } catch {
        // an onError hook that throws must not break the consumer
      }
    },
  }
}

function readFromOption(value: unknown): 'primary' | 'replica' {
  if (value === undefined || value === 'primary' || value === 'replica') return value ?? 'primary'
  throw new ConfigError('readFrom', value, "expected 'primary' or 'replica'")
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

function checkLabel(label: unknown): string {
  if (label === undefined) return `${hostname()}:${process.pid}`
  if (typeof label !== 'string' || label.length === 0 || label.length > MAX_NAME_LENGTH) {
    throw new ConfigError('label', label, `must be a string of 1 to ${MAX_NAME_LENGTH} characters`)
  }
  const problem = unstorableText(label)
  if (problem !== undefined) throw new ConfigError('label', label, problem)
  return label
}
