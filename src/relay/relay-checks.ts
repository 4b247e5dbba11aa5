import type { EventTypes } from '../events/index.js'
import type { RecordedEvent, StoreCore } from '../store/index.js'
import { RelayError } from './errors.js'
import { defaultSubject, encodeEvent, subjectProblem, type OutgoingMessage } from './message.js'
import type { NatsModules } from './nats-client.js'
import type { RelaySettings } from './options.js'
import { relaySql } from './sql.js'

/**
 * The message of an event, checked before it is sent: the relay cannot skip an event, so one it
 * cannot publish stops it rather than being retried forever.
 * @throws RelayError for a subject NATS refuses (or a subject function that throws), or an event
 * larger than the server's max_payload.
 */
export function relayMessage(
  modules: NatsModules,
  types: EventTypes,
  settings: RelaySettings,
  event: RecordedEvent,
  maxPayload: number,
): OutgoingMessage {
  const { subject: mapping, subjectPrefix, name } = settings
  let subject: string
  try {
    subject = mapping === undefined ? defaultSubject(subjectPrefix, event) : mapping(event)
  } catch (error) {
    throw new RelayError(name, 'the subject function threw', event.position, { cause: error })
  }
  const problem = subjectProblem(subject)
  if (problem !== undefined)
    throw new RelayError(name, `subject ${JSON.stringify(subject)} ${problem}`, event.position)
  const message = encodeEvent(
    modules,
    name,
    subject,
    event,
    types.has(event.type) ? types.versionOf(event.type) : undefined,
  )
  // The server refuses messages above max_payload; measure headers only when it may matter.
  if (
    message.body.length + 8192 > maxPayload &&
    message.body.length + headerBytes(message) > maxPayload
  )
    throw new RelayError(
      name,
      `event ${event.id} is larger than the NATS server's max_payload (${maxPayload} bytes)`,
      event.position,
    )
  return message
}

/** About the size of a message's headers on the wire ("Name: value\r\n" each). */
function headerBytes(message: OutgoingMessage): number {
  let bytes = 12 // NATS/1.0\r\n … \r\n
  for (const key of message.headers.keys())
    for (const value of message.headers.values(key))
      bytes += Buffer.byteLength(key) + Buffer.byteLength(value) + 4
  return bytes
}

/**
 * The stream's last message must be an event of this store's log: after a point-in-time
 * restore (or with another database's relay of the same name) positions are handed out again
 * to other events, which resuming after it would skip. A missing event below the head was
 * scavenged, which is fine.
 * @throws RelayError when the message is not this log's event.
 */
export async function checkTimeline(
  store: StoreCore,
  relay: string,
  stream: string,
  position: bigint,
  eventId: string,
): Promise<void> {
  const { rows } = await store.pool.query<{ id: string | null; head: string }>(
    relaySql(store.schema).eventAt,
    [position.toString()],
  )
  const row = rows[0]
  const head = BigInt(row?.head ?? '0')
  const id = row?.id ?? null
  if (position > head || (id !== null && id !== eventId))
    throw new RelayError(
      relay,
      `JetStream stream ${stream} ends with event ${eventId} at position ${position}, which this store ${
        position > head ? `has not reached (its head is ${head})` : `holds as event ${id}`
      }: the database was restored or belongs to another deployment; relay into a new stream (a new relay name)`,
      position,
    )
}
