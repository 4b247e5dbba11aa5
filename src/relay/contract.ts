/**
 * What a relay's users see of NATS, without NATS: the connection and stream options and the
 * message headers. Kept apart from the client (nats-client.ts), so that the public declarations
 * never import the optional @nats-io packages and an app without them still type-checks.
 */

/**
 * How to reach NATS: the options of `connect()` from @nats-io/transport-node (servers, user and
 * password, token, tls, name, …), passed through as given. The relay adds its own defaults
 * unless you set them: reconnect forever, wait for the first connection, `noAsyncTraces`.
 */
export interface NatsConnectionOptions {
  /** `'nats://127.0.0.1:4222'`, `'127.0.0.1:4222'` or several. */
  servers: string | string[]
  [option: string]: unknown
}

/** The JetStream stream a relay creates when it is missing (ignored when it exists). */
export interface JetStreamStreamOptions {
  /** Subjects it captures (default `['<subjectPrefix>.>']`). */
  subjects?: string[]
  /** 'file' (default) or 'memory'. */
  storage?: 'file' | 'memory'
  /** Replicas in a cluster (default 1). */
  replicas?: number
  /** JetStream's duplicate window for `Nats-Msg-Id` (default 2 minutes). */
  duplicateWindowMs?: number
  /** Retention by age (default: none, keep everything). */
  maxAgeMs?: number
  /** Retention by size (default: none). */
  maxBytes?: number
}

/**
 * The headers of a relayed message (docs/relay.md). Besides these, `Nats-Msg-Id` is the event
 * id, so JetStream's duplicate window drops a re-send.
 */
export const RelayHeaders = {
  /** The relay that published the message: a relay only resumes after its own messages. */
  relay: 'Strata-Relay',
  streamId: 'Strata-Stream-Id',
  /** The event's version in its stream (from 1). */
  streamVersion: 'Strata-Stream-Version',
  /** The event's position in $all. */
  position: 'Strata-Position',
  eventType: 'Strata-Event-Type',
  /** When the event was appended (ISO 8601). */
  createdAt: 'Strata-Created-At',
  /** The schema version of the payload (registered types only; see upcasting). */
  schemaVersion: 'Strata-Schema-Version',
  correlationId: 'Strata-Correlation-Id',
  causationId: 'Strata-Causation-Id',
  /** The event's whole metadata as JSON (absent when empty): what the decoder reads. */
  metadata: 'Strata-Metadata',
  /** W3C trace context, copied from the event's metadata keys of the same names. */
  traceparent: 'traceparent',
  tracestate: 'tracestate',
  messageId: 'Nats-Msg-Id',
} as const
