import { checkOptions, optionKeys } from '../config/index.js'
import { ConfigError, InvalidArgumentError } from '../errors.js'
import {
  type AllFilter,
  type RecordedEvent,
  checkFilter,
  checkName,
  checkPosition,
  unstorableText,
  checkPositiveInt,
} from '../store/index.js'
import type { JetStreamStreamOptions, NatsConnectionOptions } from './contract.js'
import { subjectProblem } from './message.js'

/** Options of {@link startRelay}. */
export interface RelayOptions<Type extends string = string> {
  /**
   * The relay's name: its checkpoint and lease. One name, one JetStream stream; instances with
   * the same name are one relay (one publishes, the others stand by).
   */
  name: string
  /** How to reach NATS (connect() options of @nats-io/transport-node). */
  nats: NatsConnectionOptions
  /**
   * The JetStream stream to publish to. The relay must be its only publisher: every publish is
   * fenced on the stream's last sequence.
   */
  stream: string
  /** Creates the stream when it is missing (default true, with these settings); false: never. */
  createStream?: boolean | JetStreamStreamOptions
  /** Publish only part of $all (event types, category, stream-id prefix). Default: everything. */
  filter?: AllFilter<Type>
  /**
   * The first subject token of the default mapping `<prefix>.<category>.<event type>` (default:
   * the stream name). Characters NATS does not allow in a token ('.', '*', '>', whitespace)
   * become '_'.
   */
  subjectPrefix?: string
  /** The subject of an event, instead of the default mapping (must be a concrete subject). */
  subject?: (event: RecordedEvent) => string
  /**
   * Where a relay that has never published starts: 'start' (default), 'end' (events appended
   * from now on) or after a position. Ignored once the relay has a checkpoint.
   */
  from?: 'start' | 'end' | bigint
  /** Publishes in flight (sent, not yet acknowledged) at most (default 256). */
  maxInFlight?: number
  /** How long a publish waits for JetStream's acknowledgement (default 5000 ms). */
  publishTimeoutMs?: number
  /** Lease duration (default 5000 ms): a standby takes over within about this long. */
  leaseMs?: number
  /** How often the checkpoint is saved while it moves (default 200 ms). */
  checkpointIntervalMs?: number
  /** Events read per page while catching up (default 1000). */
  pageSize?: number
  /** Polling interval when caught up (a fallback for notifications) and on standby (default 500 ms). */
  pollIntervalMs?: number
  /** Stops the relay when aborted. */
  signal?: AbortSignal
  /** Errors the relay recovers from (NATS or Postgres unreachable, a lost lease). */
  onError?: (error: unknown) => void
}

export interface RelaySettings {
  readonly name: string
  readonly nats: NatsConnectionOptions
  readonly stream: string
  readonly createStream: JetStreamStreamOptions | false
  readonly filter: AllFilter | undefined
  readonly subjectPrefix: string
  readonly subject: ((event: RecordedEvent) => string) | undefined
  readonly from: 'start' | 'end' | bigint
  readonly maxInFlight: number
  readonly publishTimeoutMs: number
  readonly leaseMs: number
  readonly checkpointIntervalMs: number
  readonly pageSize: number
  readonly pollIntervalMs: number
}

// JetStream stream names: no whitespace, '.', '*', '>', path separators or control characters.
const STREAM_NAME = /^[^\s.*>/\\\p{Cc}]{1,255}$/u

/**
 * Checks a relay's options before anything runs.
 * @throws ConfigError naming the offending option and value.
 */
const RELAY_OPTIONS = optionKeys<RelayOptions>({
  name: true,
  nats: true,
  stream: true,
  createStream: true,
  filter: true,
  subjectPrefix: true,
  subject: true,
  from: true,
  maxInFlight: true,
  publishTimeoutMs: true,
  leaseMs: true,
  checkpointIntervalMs: true,
  pageSize: true,
  pollIntervalMs: true,
  signal: true,
  onError: true,
})

export function relaySettings(options: RelayOptions): RelaySettings {
  checkOptions(options, RELAY_OPTIONS, 'an option of store.relay()', { errorClass: ConfigError })
  const { name, stream } = options
  checkName('name', name, 200, ConfigError)
  if (typeof stream !== 'string' || !STREAM_NAME.test(stream))
    throw new ConfigError(
      'stream',
      stream,
      "must be a JetStream stream name (no whitespace, '.', '*', '>', '/' or '\\')",
    )
  const streamProblem = unstorableText(stream) // stored as the relay's target
  if (streamProblem !== undefined) throw new ConfigError('stream', stream, streamProblem)
  const servers: unknown = options.nats?.servers
  const serverList = Array.isArray(servers) ? servers : [servers]
  if (serverList.length === 0 || serverList.some((s) => typeof s !== 'string' || s === ''))
    throw new ConfigError('nats.servers', servers, 'must be a server URL or a list of them')
  const subjectPrefix = options.subjectPrefix ?? stream
  const problem = subjectProblem(`${subjectPrefix}.x`)
  if (problem !== undefined) throw new ConfigError('subjectPrefix', subjectPrefix, problem)
  if (options.subject !== undefined && typeof options.subject !== 'function')
    throw new ConfigError('subject', options.subject, 'must be a function of the event')
  const from = options.from ?? 'start'
  if (from !== 'start' && from !== 'end') checkPosition('from', from)
  const createStream = options.createStream ?? true
  if (
    typeof createStream !== 'boolean' &&
    (typeof createStream !== 'object' || createStream === null)
  )
    throw new ConfigError('createStream', createStream, 'must be a boolean or stream settings')
  let filter: AllFilter | undefined
  try {
    filter = checkFilter(options.filter)
  } catch (error) {
    if (error instanceof InvalidArgumentError)
      throw new ConfigError('filter', options.filter, error.message)
    throw error
  }
  const int = (option: keyof RelayOptions, fallback: number, max?: number) => {
    try {
      return checkPositiveInt(option, options[option] ?? fallback, max)
    } catch {
      throw new ConfigError(
        option,
        options[option],
        `must be an integer from 1 to ${max ?? Number.MAX_SAFE_INTEGER}`,
      )
    }
  }
  return {
    name,
    nats: options.nats,
    stream,
    createStream: createStream === true ? {} : createStream,
    filter,
    subjectPrefix,
    subject: options.subject,
    from,
    maxInFlight: int('maxInFlight', 256, 100_000),
    publishTimeoutMs: int('publishTimeoutMs', 5000),
    leaseMs: int('leaseMs', 5000),
    checkpointIntervalMs: int('checkpointIntervalMs', 200),
    pageSize: int('pageSize', 1000, 100_000),
    pollIntervalMs: int('pollIntervalMs', 500),
  }
}

/** The filter as stored with the relay (for status): only the criteria given. */
export function filterJson(filter: AllFilter | undefined): string {
  return JSON.stringify({
    ...(filter?.eventTypes === undefined ? {} : { eventTypes: [...filter.eventTypes] }),
    ...(filter?.category === undefined ? {} : { category: filter.category }),
    ...(filter?.streamIdPrefix === undefined ? {} : { streamIdPrefix: filter.streamIdPrefix }),
  })
}
