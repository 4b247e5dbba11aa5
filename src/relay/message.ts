import type { EventMetadata, RecordedEvent } from '../store/index.js'
import type { MsgHdrs, NatsModules } from './nats-client.js'
import { RelayHeaders } from './contract.js'

/** How an event is published: its subject, headers and JSON body. */
export interface OutgoingMessage {
  readonly subject: string
  readonly headers: MsgHdrs
  readonly body: Uint8Array
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()
// Header values cannot hold line breaks; such values still travel in Strata-Metadata.
const HEADER_SAFE = /^[^\r\n]*$/

/** One token of a default subject: NATS tokens cannot hold '.', '*', '>' or whitespace. */
export function subjectToken(text: string): string {
  const token = text.replace(/[\s.*>]/g, '_')
  return token === '' ? '_' : token
}

/** The default subject: `<prefix>.<category>.<event type>` (category: the stream id up to '-'). */
export function defaultSubject(prefix: string, event: RecordedEvent): string {
  const dash = event.streamId.indexOf('-')
  const category = dash < 0 ? event.streamId : event.streamId.slice(0, dash)
  return `${prefix}.${subjectToken(category)}.${subjectToken(event.type)}`
}

/** Why a subject cannot be published to, or undefined when it can. */
export function subjectProblem(subject: unknown): string | undefined {
  if (typeof subject !== 'string' || subject === '') return 'is not a non-empty string'
  if (/\s/.test(subject)) return 'contains whitespace'
  const tokens = subject.split('.')
  if (tokens.some((t) => t === '')) return 'has an empty token'
  if (tokens.some((t) => t === '*' || t === '>'))
    return 'has a wildcard (publish to a concrete subject)'
  return undefined
}

/** The message of one event (headers as in {@link RelayHeaders}). */
export function encodeEvent(
  modules: NatsModules,
  relay: string,
  subject: string,
  event: RecordedEvent,
  schemaVersion: number | undefined,
): OutgoingMessage {
  const headers = modules.transport.headers()
  headers.set(RelayHeaders.relay, relay)
  headers.set(RelayHeaders.streamId, event.streamId)
  headers.set(RelayHeaders.streamVersion, event.version.toString())
  headers.set(RelayHeaders.position, event.position.toString())
  headers.set(RelayHeaders.eventType, event.type)
  headers.set(RelayHeaders.createdAt, event.createdAt.toISOString())
  if (schemaVersion !== undefined) headers.set(RelayHeaders.schemaVersion, String(schemaVersion))
  const metadata = event.metadata
  const optional = [
    [RelayHeaders.correlationId, metadata.correlationId],
    [RelayHeaders.causationId, metadata.causationId],
    [RelayHeaders.traceparent, metadata.traceparent],
    [RelayHeaders.tracestate, metadata.tracestate],
  ] as const
  for (const [name, value] of optional) {
    if (typeof value === 'string' && value !== '' && HEADER_SAFE.test(value))
      headers.set(name, value)
  }
  if (Object.keys(metadata).length > 0) headers.set(RelayHeaders.metadata, JSON.stringify(metadata))
  return { subject, headers, body: encoder.encode(JSON.stringify(event.data) ?? 'null') }
}

/** What a relayed message carries, read back from its headers and body (not yet validated). */
export interface DecodedEvent {
  readonly id: string
  readonly streamId: string
  readonly version: bigint
  readonly position: bigint
  readonly type: string
  readonly data: unknown
  readonly metadata: EventMetadata
  readonly createdAt: Date
  /** The payload's schema version when the relay knew the type, else undefined. */
  readonly schemaVersion: number | undefined
  /** The relay that published it. */
  readonly relay: string
}

/** The header lookup of a received message (nats.js `MsgHdrs`), structurally. */
export interface HeaderReader {
  get(name: string): string
}

/**
 * Reads a relayed message back. Returns the reason instead when it is not one (a message some
 * other publisher wrote to the stream).
 */
export function decodeMessage(
  headers: HeaderReader | undefined,
  body: Uint8Array,
): DecodedEvent | string {
  if (headers === undefined) return 'it has no headers'
  const relay = headers.get(RelayHeaders.relay)
  if (relay === '') return `it has no ${RelayHeaders.relay} header`
  const id = headers.get(RelayHeaders.messageId)
  const streamId = headers.get(RelayHeaders.streamId)
  const type = headers.get(RelayHeaders.eventType)
  const position = integer(headers.get(RelayHeaders.position))
  const version = integer(headers.get(RelayHeaders.streamVersion))
  const createdAt = new Date(headers.get(RelayHeaders.createdAt))
  if (
    id === '' ||
    streamId === '' ||
    type === '' ||
    position === undefined ||
    version === undefined
  )
    return 'a strata header is missing or malformed'
  const schema = headers.get(RelayHeaders.schemaVersion)
  let data: unknown
  let metadata: EventMetadata = {}
  try {
    data = JSON.parse(decoder.decode(body))
    const raw = headers.get(RelayHeaders.metadata)
    if (raw !== '') metadata = JSON.parse(raw) as EventMetadata
  } catch {
    return 'its body or metadata is not JSON'
  }
  return {
    id,
    streamId,
    version,
    position,
    type,
    data,
    metadata,
    createdAt,
    schemaVersion: schema === '' ? undefined : Number(schema),
    relay,
  }
}

function integer(text: string): bigint | undefined {
  return /^\d+$/.test(text) ? BigInt(text) : undefined
}
