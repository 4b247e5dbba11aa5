import { randomUUID } from 'node:crypto'
import type { Observable } from 'rxjs'
import type { ConsumerGroup, Delivery, EventStore, RecordedEvent } from '../../src/index.js'
import { waitFor } from '../support/wait-for.js'

/** A fresh category (no '-'), so each test reads only its own streams. */
export function aCategory(prefix = 'c'): string {
  return `${prefix}${randomUUID().replaceAll('-', '').slice(0, 12)}`
}

/** A fresh group name. */
export function aGroupName(prefix = 'g'): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`
}

/**
 * Appends `perStream` events to each of `streams` streams of `category`, interleaved (stream 0
 * v1, stream 1 v1, …, stream 0 v2, …) so streams mix in the log. Returns the stream ids and
 * the events' ids in append order.
 */
export async function appendInterleaved(
  store: EventStore,
  category: string,
  streams: number,
  perStream: number | ((stream: number) => number),
  data: (stream: number, version: number) => Record<string, unknown> = (s, v) => ({ s, v }),
): Promise<{ streamIds: string[]; ids: string[]; total: number }> {
  const streamIds = Array.from({ length: streams }, (_, i) => `${category}-${i}`)
  const counts = streamIds.map((_, i) => (typeof perStream === 'number' ? perStream : perStream(i)))
  const ids: string[] = []
  const max = Math.max(0, ...counts)
  for (let v = 1; v <= max; v++) {
    const batch = streamIds
      .map((streamId, s) => ({ streamId, s }))
      .filter(({ s }) => counts[s]! >= v)
      .map(({ streamId, s }) => {
        const id = randomUUID()
        ids.push(id)
        return { streamId, events: [{ id, type: 'Counted', data: data(s, v) }] }
      })
    // Concurrent single appends (one per stream, so each stream keeps its order): the store
    // sends them together (group commit).
    await Promise.all(batch.map(({ streamId, events }) => store.appendToStream(streamId, events)))
  }
  return { streamIds, ids, total: ids.length }
}

/** Waits until the group has nothing admitted left (no pending, in-flight, retrying or delayed). */
export async function waitUntilDrained(
  group: ConsumerGroup<unknown> | ConsumerGroup<RecordedEvent>,
  { timeoutMs = 15_000, parked = 0 } = {},
): Promise<void> {
  await waitFor(
    async () => {
      const s = await group.status()
      return (
        s.behind === 0n &&
        s.pending === 0 &&
        s.inFlight === 0 &&
        s.retrying === 0 &&
        s.delayed === 0 &&
        s.parked === parked
      )
    },
    { timeoutMs, intervalMs: 25, message: `group ${group.name} drained` },
  )
}

/** Resolves after `ms`, or rejects with the signal's reason when it aborts first. */
export function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason as Error)
      return
    }
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    const onAbort = () => {
      clearTimeout(timer)
      reject(signal.reason as Error)
    }
    signal.addEventListener('abort', onAbort, { once: true })
  })
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** The first delivery of a subscription kept open (so it can still be settled). */
export function takeOne<E>(
  deliveries: Observable<Delivery<E>>,
): Promise<{ delivery: Delivery<E>; unsubscribe: () => void }> {
  return new Promise((resolve) => {
    const subscription = deliveries.subscribe((delivery) =>
      resolve({ delivery, unsubscribe: () => subscription.unsubscribe() }),
    )
  })
}
