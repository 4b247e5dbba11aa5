import { decodeMessage, type DecodedEvent } from './message.js'
import { RelayError } from './errors.js'
import type { JetStreamManager, NatsModules, StoredMsg } from './nats-client.js'
import type { JetStreamStreamOptions } from './contract.js'
import type { Confirmed } from './publish-window.js'

/** Where publishing resumes after a takeover or a failure. */
export interface ResumePoint {
  /** Publish the events after this position. */
  readonly after: bigint
  /** The stream's last sequence: what the first publish expects. */
  readonly lastSequence: number
  /**
   * How many events after `after` are already in the stream although their messages are gone
   * (deleted, expired): they are skipped, not published again. Usually 0.
   */
  readonly skip: number
  /** Set when this point is not simply the stream's last message (logged as a warning). */
  readonly note?: string
  /** The event id of the message the point was read from, to check it against the store. */
  readonly eventId?: string
}

const ms = (value: number) => value * 1_000_000 // JetStream durations are nanoseconds

/** Creates the stream when it does not exist. */
export async function ensureStream(
  modules: NatsModules,
  jsm: JetStreamManager,
  relay: string,
  name: string,
  defaultSubjects: string[],
  options: JetStreamStreamOptions | false,
): Promise<void> {
  try {
    await jsm.streams.info(name)
    return
  } catch (error) {
    const { JetStreamApiError, JetStreamApiCodes } = modules.jetstream
    const missing =
      error instanceof JetStreamApiError && error.code === JetStreamApiCodes.StreamNotFound
    if (!missing || options === false) throw error
  }
  const { StorageType, JetStreamApiError } = modules.jetstream
  const config = {
    name,
    subjects: options.subjects ?? defaultSubjects,
    storage: options.storage === 'memory' ? StorageType.Memory : StorageType.File,
    num_replicas: options.replicas ?? 1,
    duplicate_window: ms(options.duplicateWindowMs ?? 120_000),
    ...(options.maxAgeMs === undefined ? {} : { max_age: ms(options.maxAgeMs) }),
    ...(options.maxBytes === undefined ? {} : { max_bytes: options.maxBytes }),
  }
  try {
    await jsm.streams.add(config)
  } catch (error) {
    // Another instance may have created it meanwhile.
    if (
      await jsm.streams.info(name).then(
        () => true,
        () => false,
      )
    )
      return
    // JetStream refused the settings (not a transport failure): retrying cannot help.
    if (error instanceof JetStreamApiError)
      throw new RelayError(
        relay,
        `JetStream refused to create stream ${name}: ${error.message}`,
        null,
        {
          cause: error,
        },
      )
    throw error
  }
}

/**
 * Where to resume, from what the stream holds (docs/relay.md, "Exactly once"). The stream is the
 * truth, the checkpoint only trails it:
 * - the stream's last message is the relay's: resume after its position (the acknowledged
 *   publishes a killed instance never checkpointed are not sent again, however long ago);
 * - the stream is empty and never had a message (new or recreated): resume after the checkpoint;
 * - the last message is gone (deleted, expired by age): every message is the successor of the one
 *   before it (the publishes are fenced on the sequence), so the sequence numbers say how many
 *   events after the latest message still known (or after the checkpoint) were published.
 * @throws RelayError when the last message was written by another publisher.
 */
export async function reconcile(
  jsm: JetStreamManager,
  stream: string,
  relay: string,
  checkpoint: Confirmed,
): Promise<ResumePoint> {
  const info = await jsm.streams.info(stream)
  const last = info.state.last_seq
  if (last === 0) {
    return {
      after: checkpoint.position,
      lastSequence: 0,
      skip: 0,
      ...(checkpoint.sequence > 0 ? { note: 'the stream is new or was recreated' } : {}),
    }
  }
  const message = await jsm.streams.getMessage(stream, { seq: last })
  if (message !== null) {
    const event = ours(message, stream, relay)
    return {
      after: event.position,
      lastSequence: last,
      skip: 0,
      eventId: event.id,
      ...(event.position < checkpoint.position
        ? { note: `the stream lost acknowledged messages: republishing after ${event.position}` }
        : {}),
    }
  }
  if (last === checkpoint.sequence)
    return { after: checkpoint.position, lastSequence: last, skip: 0 }
  // The last message is gone: count from the latest message still there, or the checkpoint.
  let base: Confirmed | undefined
  for (const subject of info.config.subjects ?? []) {
    const found = await jsm.streams.getMessage(stream, { last_by_subj: subject })
    if (found !== null && (base === undefined || found.seq > base.sequence))
      base = { position: ours(found, stream, relay).position, sequence: found.seq }
  }
  if (base === undefined || base.sequence < checkpoint.sequence) base = checkpoint
  if (last < base.sequence) {
    return {
      after: checkpoint.position,
      lastSequence: last,
      skip: 0,
      note: `the stream's last sequence ${last} is below the checkpoint's ${checkpoint.sequence} and its messages are gone: resuming after the checkpoint`,
    }
  }
  return {
    after: base.position,
    lastSequence: last,
    skip: last - base.sequence,
    note: `the stream's last ${last - base.sequence} message(s) are gone: skipping as many events after ${base.position}`,
  }
}

function ours(message: StoredMsg, stream: string, relay: string): DecodedEvent {
  const event = decodeMessage(message.header, message.data)
  if (typeof event === 'string' || event.relay !== relay) {
    throw new RelayError(
      relay,
      `JetStream stream ${stream} holds message ${message.seq} (subject ${message.subject}) that this relay did not publish (${
        typeof event === 'string' ? event : `published by relay ${JSON.stringify(event.relay)}`
      }): a relay must be its stream's only publisher`,
    )
  }
  return event
}
