import { ConfigError } from '../errors.js'
import {
  EventTypes,
  type EventDataOf,
  type EventRegistry,
  type EventTypeOf,
} from '../events/index.js'
import type { RecordedEvent } from '../store/index.js'
import { RelayError } from './errors.js'
import { decodeMessage } from './message.js'
import {
  connectNats,
  loadNats,
  type Consumer,
  type JsMsg,
  type NatsModules,
} from './nats-client.js'
import type { NatsConnectionOptions } from './contract.js'

/** Options of {@link consumeRelay}. */
export interface ConsumeRelayOptions<R extends EventRegistry = EventRegistry> {
  /** How to reach NATS (connect() options of @nats-io/transport-node). */
  nats: NatsConnectionOptions
  /** The JetStream stream a relay publishes to. */
  stream: string
  /**
   * The event registry (the one the store is created with): payloads are upcast to the current
   * version of their type and validated with its zod schema; the events are typed by it.
   */
  events?: R
  /** Accept types missing from `events` (unvalidated). Default: only when `events` is absent. */
  allowUnregisteredTypes?: boolean
  /**
   * A durable consumer's name: created when missing (explicit acks), it resumes where its acks
   * left off, and call `event.ack()` after handling each event. Without it, an ordered consumer
   * (no state on the server, no acks) reads from `startSequence`.
   */
  consumer?: string
  /** Only messages of this subject (wildcards allowed), e.g. `'ORDERS.order.>'`. */
  subject?: string
  /** The first stream sequence an ordered consumer reads (default 1). */
  startSequence?: number
  /**
   * Skip events at or below this position (your own checkpoint): with it, handling that
   * commits the position with its effects is exactly once.
   */
  afterPosition?: bigint
  /** Messages fetched ahead (default 256). */
  prefetch?: number
  /** Ends the iteration when aborted. */
  signal?: AbortSignal
}

/** An event read back from JetStream. */
export interface RelayedEvent<Type extends string = string, Data = unknown> extends RecordedEvent<
  Type,
  Data
> {
  /** Its JetStream stream sequence. */
  readonly sequence: number
  readonly subject: string
  /** JetStream delivered it before (a durable consumer that did not ack in time, or a nak). */
  readonly redelivered: boolean
  /** Durable consumers: acknowledge it (no-op for ordered consumers). */
  ack(): void
  /** Durable consumers: ask for redelivery, after `delayMs` if given (no-op for ordered ones). */
  nak(delayMs?: number): void
}

/** Relayed events typed by a registry: a union discriminated by `type`. */
export type TypedRelayedEvent<R extends EventRegistry> = [EventTypeOf<R>] extends [never]
  ? RelayedEvent
  : { [K in EventTypeOf<R>]: RelayedEvent<K, EventDataOf<R, K>> }[EventTypeOf<R>]

/**
 * Reads what a relay published, without Postgres: a small layer over the NATS client that
 * yields typed events (ids, stream, version, position, metadata from the headers; the payload
 * upcast and validated with the zod registry). In stream order, which is position order.
 *
 * @example
 * for await (const event of consumeRelay({ nats, stream: 'ORDERS', events, consumer: 'billing' })) {
 *   if (event.type === 'OrderPlaced') await bill(event.data.total)
 *   event.ack()
 * }
 *
 * The iteration throws (and a durable consumer's message stays unacknowledged):
 * MissingDependencyError without the NATS client; UnknownEventTypeError, EventValidationError or
 * UpcastError for a payload the registry refuses; RelayError for a message no relay published.
 * @throws ConfigError for bad options (on the first next()).
 */
export function consumeRelay<const R extends EventRegistry = Record<never, never>>(
  options: ConsumeRelayOptions<R>,
): AsyncIterable<TypedRelayedEvent<R>> {
  return { [Symbol.asyncIterator]: () => iterate(options) as AsyncIterator<TypedRelayedEvent<R>> }
}

async function* iterate(options: ConsumeRelayOptions): AsyncGenerator<RelayedEvent> {
  const { stream, consumer: durable } = options
  if (typeof stream !== 'string' || stream === '')
    throw new ConfigError('stream', stream, 'must be a JetStream stream name')
  const types = new EventTypes(options.events, options.allowUnregisteredTypes)
  const acks = durable !== undefined
  const after = options.afterPosition ?? 0n
  const signal = options.signal
  const aborted = () => signal?.aborted === true
  const modules = await loadNats('consumeRelay')
  const nc = await connectNats(modules, options.nats, 'strata relay consumer')
  let batch: Awaited<ReturnType<Consumer['fetch']>> | undefined
  const abort = () => batch?.stop()
  signal?.addEventListener('abort', abort, { once: true })
  try {
    const consumer = await openConsumer(modules, nc, options)
    while (!aborted()) {
      // Batches, not consume(): on an early exit the messages received and not handled are
      // handed back (nak), so the next reader gets them first, in order, instead of after the
      // ack wait.
      batch = await consumer.fetch({ max_messages: options.prefetch ?? 256, expires: 5000 })
      const messages = batch[Symbol.asyncIterator]()
      let unsettled: JsMsg | undefined
      let finished = false
      try {
        for (let next = await messages.next(); !next.done; next = await messages.next()) {
          const message = next.value
          unsettled = message
          const event = decode(message, types, stream, acks, () => (unsettled = undefined))
          if (event.position <= after) {
            event.ack()
            continue
          }
          yield event
          if (aborted()) break
        }
        finished = !aborted()
      } finally {
        if (!finished && acks) {
          batch.stop()
          unsettled?.nak()
          for (let next = await messages.next(); !next.done; next = await messages.next())
            next.value.nak()
        }
      }
    }
  } finally {
    signal?.removeEventListener('abort', abort)
    await nc.close().catch(() => undefined)
  }
}

async function openConsumer(
  modules: NatsModules,
  nc: Awaited<ReturnType<typeof connectNats>>,
  options: ConsumeRelayOptions,
) {
  const {
    jetstream,
    jetstreamManager,
    AckPolicy,
    DeliverPolicy,
    JetStreamApiError,
    JetStreamApiCodes,
  } = modules.jetstream
  const js = jetstream(nc)
  const { stream, consumer: durable, subject } = options
  if (durable === undefined) {
    return js.consumers.get(stream, {
      ...(subject === undefined ? {} : { filter_subjects: subject }),
      ...(options.startSequence === undefined
        ? {}
        : { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: options.startSequence }),
    })
  }
  const jsm = await jetstreamManager(nc)
  try {
    await jsm.consumers.info(stream, durable)
  } catch (error) {
    if (!(error instanceof JetStreamApiError && error.code === JetStreamApiCodes.ConsumerNotFound))
      throw error
    await jsm.consumers.add(stream, {
      durable_name: durable,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ...(subject === undefined ? {} : { filter_subject: subject }),
    })
  }
  return js.consumers.get(stream, durable)
}

function decode(
  message: JsMsg,
  types: EventTypes,
  stream: string,
  acks: boolean,
  settled: () => void,
): RelayedEvent {
  const decoded = decodeMessage(message.headers, message.data)
  if (typeof decoded === 'string')
    throw new RelayError(
      '(consumer)',
      `message ${message.seq} of JetStream stream ${stream} is not a relayed event: ${decoded}`,
    )
  const { type } = decoded
  const current = decoded.schemaVersion ?? types.versionOf(type)
  const data = types.parse(type, types.upcast(type, decoded.data, current), 0)
  return {
    id: decoded.id,
    streamId: decoded.streamId,
    version: decoded.version,
    position: decoded.position,
    type,
    data,
    metadata: decoded.metadata,
    createdAt: decoded.createdAt,
    sequence: message.seq,
    subject: message.subject,
    redelivered: message.redelivered,
    ack: () => {
      settled()
      if (acks) message.ack()
    },
    nak: (delayMs) => {
      settled()
      if (acks) message.nak(delayMs)
    },
  }
}
