import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import type { Consumer, DeliveryContext, EventStore, RecordedEvent } from '../../src/index.js'
import { waitFor } from '../support/wait-for.js'
import { useTestDatabase } from '../support/test-database.js'
import {
  aCategory,
  aGroupName,
  abortableSleep,
  appendInterleaved,
  sleep,
  waitUntilDrained,
} from './helpers.js'

const db = useTestDatabase()
let store: EventStore

beforeAll(async () => {
  store = await db.store()
})

/**
 * Watches a per-stream group's handlers: two handlers of one stream running at once, or a
 * version acked out of order, are violations. A handler records its version as acked only
 * when it returns normally with its lease intact, i.e. when its ack is on its way.
 */
class OrderWatch {
  readonly acked = new Map<string, bigint[]>()
  readonly running = new Set<string>()
  readonly violations: string[] = []
  deliveries = 0

  async handle(
    event: RecordedEvent,
    ctx: DeliveryContext,
    work: () => Promise<void>,
  ): Promise<void> {
    this.deliveries++
    if (this.running.has(event.streamId)) {
      this.violations.push(`two handlers at once on ${event.streamId} (v${event.version})`)
    }
    this.running.add(event.streamId)
    try {
      await work()
      if (ctx.signal.aborted) throw ctx.signal.reason as Error
      const list = this.acked.get(event.streamId) ?? []
      const expected = BigInt(list.length + 1)
      if (event.version !== expected) {
        this.violations.push(`${event.streamId}: v${event.version} acked, expected v${expected}`)
      }
      list.push(event.version)
      this.acked.set(event.streamId, list)
    } finally {
      this.running.delete(event.streamId)
    }
  }

  total(): number {
    let n = 0
    for (const list of this.acked.values()) n += list.length
    return n
  }
}

describe('per-stream strategy', () => {
  it('acks each stream in version order, one at a time, under 8 consumers with random delays and failures', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 1, max: 12 }), { minLength: 3, maxLength: 10 }),
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        async (streamSizes, seed) => {
          const random = mulberry32(seed)
          const category = aCategory('ps')
          const { total } = await appendInterleaved(
            store,
            category,
            streamSizes.length,
            (s) => streamSizes[s]!,
          )
          const group = store.consumerGroup(aGroupName(), {
            source: { category },
            strategy: 'per-stream',
            maxAttempts: Infinity,
            backoff: { initialMs: 1, maxMs: 20 },
          })
          const watch = new OrderWatch()
          const consumers = Array.from({ length: 8 }, (_, i) =>
            group.consume(
              (event, ctx) =>
                watch.handle(event, ctx, async () => {
                  await abortableSleep(Math.floor(random() * 8), ctx.signal)
                  if (random() < 0.2) throw new Error('random failure')
                }),
              { concurrency: 1 + (i % 3), prefetch: 1 + (i % 3) + (i % 2) },
            ),
          )
          await waitFor(() => watch.total() === total, { timeoutMs: 20_000, message: 'all acked' })
          await waitUntilDrained(group)
          await Promise.all(consumers.map((c) => c.stop()))
          expect(watch.violations).toEqual([])
          streamSizes.forEach((size, s) => {
            expect(watch.acked.get(`${category}-${s}`)).toEqual(
              Array.from({ length: size }, (_, i) => BigInt(i + 1)),
            )
          })
        },
      ),
      { numRuns: 4 },
    )
  })

  it('keeps order and loses nothing while consumers join and leave (and are cut off mid-handler)', async () => {
    const category = aCategory('jl')
    const streams = 12
    const perStream = 15
    const { total } = await appendInterleaved(store, category, streams, perStream)
    const group = store.consumerGroup(aGroupName(), {
      source: { category },
      strategy: 'per-stream',
      maxAttempts: Infinity,
      backoff: { initialMs: 1, maxMs: 10 },
    })
    const watch = new OrderWatch()
    const random = mulberry32(7)
    const start = () =>
      group.consume(
        (event, ctx) =>
          watch.handle(event, ctx, () => abortableSleep(2 + Math.floor(random() * 15), ctx.signal)),
        { concurrency: 2, prefetch: 3 },
      )
    const live: Consumer[] = [start(), start()]
    let stops = 0
    // Churn: every few ms one consumer leaves (cut off after 0-10 ms) and one or two join.
    while (watch.total() < total * 0.8) {
      await sleep(25)
      const leaving = live.splice(Math.floor(random() * live.length), 1)[0]
      if (leaving !== undefined) {
        void leaving.stop({ timeoutMs: Math.floor(random() * 10) })
        stops++
      }
      live.push(start())
      if (live.length < 4 && random() < 0.5) live.push(start())
    }
    await waitFor(() => watch.total() === total, { timeoutMs: 20_000, message: 'all acked' })
    await waitUntilDrained(group)
    await Promise.all(live.map((c) => c.stop()))
    expect(stops).toBeGreaterThan(3)
    expect(watch.violations).toEqual([])
    for (let s = 0; s < streams; s++) {
      expect(watch.acked.get(`${category}-${s}`)).toEqual(
        Array.from({ length: perStream }, (_, i) => BigInt(i + 1)),
      )
    }
  })
})

describe('per-stream wake-ups', () => {
  it("an ack wakes the process's other consumers: one that found only blocked events gets the stream's next one at once, not at its poll", async () => {
    const category = aCategory('wake')
    const streamId = `${category}-0`
    await store.appendToStream(streamId, [
      { type: 'Counted', data: { v: 1 } },
      { type: 'Counted', data: { v: 2 } },
    ])
    // Polls so rare that only wake-ups can deliver v2 within the test.
    const group = store.consumerGroup(aGroupName(), {
      source: { category },
      strategy: 'per-stream',
      pollIntervalMs: 600_000,
    })
    const got: Array<{ consumer: string; version: bigint }> = []
    let release: () => void = () => undefined
    const gate = new Promise<void>((resolve) => (release = resolve))
    const first = group.consume(async (event) => {
      got.push({ consumer: 'first', version: event.version })
      await gate
    })
    await waitFor(() => got.length === 1, { message: 'v1 with the first consumer' })
    const second = group.consume((event) => {
      got.push({ consumer: 'second', version: event.version })
    })
    await waitFor(async () => (await group.status()).consumers === 2, {
      message: 'second consumer registered',
    })
    // No signal tells that the second consumer claimed (v2 is blocked behind v1) and went to
    // sleep until its poll; registration is followed by that claim within milliseconds.
    await sleep(300)
    const stopping = first.stop() // the first takes nothing more: v2 is the second's to take
    release()
    await stopping
    await waitFor(() => got.length === 2, { timeoutMs: 5_000, message: 'v2 delivered' })
    expect(got).toEqual([
      { consumer: 'first', version: 1n },
      { consumer: 'second', version: 2n },
    ])
    await second.stop()
  })
})

describe('per-stream parking', () => {
  it('a parked event holds back only its own stream; replayed, the stream goes on in order', async () => {
    const category = aCategory('park')
    await appendInterleaved(store, category, 3, 5)
    const poisoned = `${category}-1`
    let healed = false
    const group = store.consumerGroup(aGroupName(), {
      source: { category },
      strategy: 'per-stream',
      maxAttempts: 2,
      backoff: { initialMs: 1 },
    })
    const watch = new OrderWatch()
    const consumer = group.consume(
      (event, ctx) =>
        watch.handle(event, ctx, () => {
          if (event.streamId === poisoned && event.version === 2n && !healed) {
            return Promise.reject(new Error('poison'))
          }
          return Promise.resolve()
        }),
      { concurrency: 4 },
    )
    // Every other stream flows to the end; the poisoned one stops before v2.
    await waitFor(() => watch.total() === 11, { message: 'others flowed' })
    await waitUntilDrained(group, { parked: 1 })
    // New events: the other streams take theirs, the parked stream holds its v6 back.
    for (let s = 0; s < 3; s++) {
      await store.appendToStream(`${category}-${s}`, [{ type: 'Counted', data: { s, v: 6 } }])
    }
    await waitFor(() => watch.total() === 13, { message: 'others flowed again' })
    await waitUntilDrained(group, { parked: 1 })
    expect(watch.acked.get(poisoned)).toEqual([1n])
    const [dead] = await group.deadLetters.list()
    expect(dead).toMatchObject({ streamId: poisoned, attempts: 2 })
    expect(dead!.event!.version).toBe(2n)
    expect(dead!.lastError?.message).toBe('poison')
    // While parked, later events of that stream wait outside the window, not in it.
    const status = await group.status()
    expect(status.pending + status.inFlight + status.retrying).toBe(0)

    healed = true
    expect(await group.deadLetters.replay('all')).toBe(1)
    await waitFor(() => watch.acked.get(poisoned)?.length === 6, { message: 'stream resumed' })
    await waitUntilDrained(group)
    expect(watch.acked.get(poisoned)).toEqual([1n, 2n, 3n, 4n, 5n, 6n])
    expect(watch.violations).toEqual([])
    await consumer.stop()
  })

  it("with parkedStream 'continue' the stream goes on past its parked event", async () => {
    const category = aCategory('cont')
    await appendInterleaved(store, category, 2, 4)
    const group = store.consumerGroup(aGroupName(), {
      source: { category },
      strategy: 'per-stream',
      parkedStream: 'continue',
      maxAttempts: 1,
    })
    const handled: string[] = []
    const consumer = group.consume(
      (event) => {
        if (event.streamId === `${category}-0` && event.version === 2n) {
          throw new Error('poison')
        }
        handled.push(`${event.streamId}:${event.version}`)
      },
      { concurrency: 2 },
    )
    await waitFor(() => handled.length === 7)
    await waitUntilDrained(group, { parked: 1 })
    expect(handled.filter((h) => h.startsWith(`${category}-0:`))).toEqual([
      `${category}-0:1`,
      `${category}-0:3`,
      `${category}-0:4`,
    ])
    expect(await group.deadLetters.discard('all')).toBe(1)
    await waitUntilDrained(group)
    await consumer.stop()
  })

  it('discarding a parked event lets its held-back stream go on', async () => {
    const category = aCategory('disc')
    await appendInterleaved(store, category, 1, 4)
    const group = store.consumerGroup(aGroupName(), {
      source: { category },
      strategy: 'per-stream',
      maxAttempts: 1,
    })
    const handled: bigint[] = []
    const consumer = group.consume((event) => {
      if (event.version === 2n) throw new Error('poison')
      handled.push(event.version)
    })
    await waitUntilDrained(group, { parked: 1 })
    expect(handled).toEqual([1n])
    const [dead] = await group.deadLetters.list()
    expect(await group.deadLetters.discard(dead!.event!.id)).toBe(1)
    await waitFor(() => handled.length === 3)
    expect(handled).toEqual([1n, 3n, 4n])
    await waitUntilDrained(group)
    await consumer.stop()
  })
})

/** A small deterministic PRNG, so a failing seed reproduces. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
