import { firstValueFrom } from 'rxjs'
import { beforeAll, describe, expect, it } from 'vitest'
import { DeliveryLeaseLostError, isStrataError, type EventStore } from '../../src/index.js'
import { waitFor } from '../support/wait-for.js'
import { useTestDatabase } from '../support/test-database.js'
import {
  aCategory,
  aGroupName,
  abortableSleep,
  appendInterleaved,
  sleep,
  takeOne,
  waitUntilDrained,
} from './helpers.js'

const db = useTestDatabase()
let store: EventStore

beforeAll(async () => {
  store = await db.store()
})

describe('leases', () => {
  it('heartbeats keep a lease alive through work longer than the lease', async () => {
    const category = aCategory('long')
    await appendInterleaved(store, category, 1, 1)
    const group = store.consumerGroup(aGroupName(), {
      source: { category },
      leaseMs: 300,
      heartbeatMs: 80,
    })
    const deliveries: number[] = []
    const handler = async (_: unknown, ctx: { attempt: number; signal: AbortSignal }) => {
      deliveries.push(ctx.attempt)
      await abortableSleep(1000, ctx.signal)
    }
    const consumers = [group.consume(handler), group.consume(handler)]
    await waitUntilDrained(group)
    expect(deliveries).toEqual([1])
    await Promise.all(consumers.map((c) => c.stop()))
  })

  it('aborts ctx.signal when the lease is lost, and refuses the late ack: the new holder keeps the message', async () => {
    const category = aCategory('lost')
    await appendInterleaved(store, category, 1, 1)
    const errors: unknown[] = []
    const group = store.consumerGroup(aGroupName(), {
      source: { category },
      heartbeatMs: 50,
      onError: (e) => errors.push(e),
    })
    let finishFirst: () => void = () => undefined
    const firstMayFinish = new Promise<void>((resolve) => (finishFirst = resolve))
    let abortReason: unknown
    const first = group.consume(async (_event, ctx) => {
      ctx.signal.addEventListener('abort', () => {
        abortReason = ctx.signal.reason
      })
      await firstMayFinish // ignores its signal: a zombie that will try to ack
    }) // concurrency 1: while the zombie runs, this consumer takes nothing else
    await waitFor(async () => (await group.status()).inFlight === 1)
    // A reset removes the in-flight message and admits it again: the first lease is gone.
    await group.reset('start')
    await waitFor(() => abortReason !== undefined, { message: 'signal aborted' })
    expect(abortReason).toBeInstanceOf(DeliveryLeaseLostError)
    expect((abortReason as DeliveryLeaseLostError).reason).toBe('lost')

    const { delivery: second, unsubscribe } = await takeOne(group.deliveries())
    expect(second.attempt).toBe(1)
    expect(errors.some((e) => isStrataError(e, 'LEASE_LOST'))).toBe(true)
    finishFirst() // the zombie returns and acks with its old lease
    await first.stop() // waits for that ack to be answered
    expect((await group.status()).inFlight).toBe(1) // refused: still leased to the second holder
    await second.ack()
    await waitUntilDrained(group)
    unsubscribe()
  })

  it('parks a message whose deliveries keep ending without a result (a consumer-killing poison)', async () => {
    const category = aCategory('crashy')
    await appendInterleaved(store, category, 1, 1)
    const group = store.consumerGroup(aGroupName(), { source: { category }, maxAttempts: 2 })
    // Each subscriber takes it and goes away without settling: like a consumer dying mid-handler.
    expect((await firstValueFrom(group.deliveries())).attempt).toBe(1)
    expect((await firstValueFrom(group.deliveries())).attempt).toBe(2)
    const sub = group.deliveries().subscribe(() => expect.fail('a third delivery'))
    await waitUntilDrained(group, { parked: 1 })
    sub.unsubscribe()
    const [dead] = await group.deadLetters.list()
    expect(dead!.reason).toMatch(/2 deliveries ended without an ack or nack/)
  })
})

describe('graceful stop', () => {
  it('waits for running handlers and acks them', async () => {
    const category = aCategory('grace')
    await appendInterleaved(store, category, 3, 1)
    const group = store.consumerGroup(aGroupName(), { source: { category } })
    let started = 0
    const consumer = group.consume(
      async () => {
        started++
        await sleep(150)
      },
      { concurrency: 3 },
    )
    await waitFor(() => started === 3)
    const result = await consumer.stop({ timeoutMs: 5000 })
    expect(result).toEqual({ completed: 3, aborted: 0, released: 0 })
    expect(consumer.running).toBe(false)
    await waitUntilDrained(group)
    expect(await consumer.stop()).toBe(result) // idempotent
  })

  it('aborts handlers at the timeout and releases their leases at once, not at expiry', async () => {
    const category = aCategory('abort')
    await appendInterleaved(store, category, 5, 1)
    const group = store.consumerGroup(aGroupName(), { source: { category }, leaseMs: 60_000 })
    const reasons: unknown[] = []
    let started = 0
    const consumer = group.consume(
      async (_event, ctx) => {
        started++
        try {
          await abortableSleep(60_000, ctx.signal)
        } catch (error) {
          reasons.push(error)
          throw error
        }
      },
      { concurrency: 2, prefetch: 5 },
    )
    await waitFor(() => started === 2)
    await waitFor(async () => (await group.status()).inFlight === 5)
    const result = await consumer.stop({ timeoutMs: 100 })
    expect(result).toEqual({ completed: 0, aborted: 2, released: 3 })
    expect(reasons).toHaveLength(2)
    expect(
      reasons.every((r) => r instanceof DeliveryLeaseLostError && r.reason === 'stopped'),
    ).toBe(true)
    // Another consumer gets all five now, well inside the 60 s lease. The two that reached a
    // handler count an attempt; the three only prefetched do not.
    const attempts: number[] = []
    const next = group.consume((_e, ctx) => void attempts.push(ctx.attempt), { concurrency: 5 })
    await waitFor(() => attempts.length === 5, { timeoutMs: 10_000 })
    expect(attempts.sort()).toEqual([1, 1, 1, 2, 2])
    await next.stop()
  })

  it('group.stop() stops every consumer of the group object', async () => {
    const group = store.consumerGroup(aGroupName(), { source: { category: aCategory() } })
    const consumers = [group.consume(() => undefined), group.consume(() => undefined)]
    await sleep(50)
    await group.stop({ timeoutMs: 100 })
    expect(consumers.map((c) => c.running)).toEqual([false, false])
  })
})

describe('load leveling', () => {
  it('caps deliveries in flight across all consumers of a group (maxConcurrency)', async () => {
    const category = aCategory('cap')
    const { total } = await appendInterleaved(store, category, 20, 2)
    const group = store.consumerGroup(aGroupName(), { source: { category }, maxConcurrency: 3 })
    let running = 0
    let peak = 0
    let done = 0
    const handler = async () => {
      running++
      peak = Math.max(peak, running)
      await sleep(5)
      running--
      done++
    }
    const consumers = [1, 2, 3].map(() => group.consume(handler, { concurrency: 4 }))
    await waitFor(() => done === total)
    expect(peak).toBeLessThanOrEqual(3)
    expect(peak).toBeGreaterThan(1)
    await Promise.all(consumers.map((c) => c.stop()))
  })

  it('caps deliveries per second across all consumers of a group (maxPerSecond)', async () => {
    const category = aCategory('rate')
    await appendInterleaved(store, category, 25, 1)
    const group = store.consumerGroup(aGroupName(), { source: { category }, maxPerSecond: 20 })
    const times: number[] = []
    const started = Date.now()
    const consumers = [1, 2].map(() =>
      group.consume(() => void times.push(Date.now()), { concurrency: 10 }),
    )
    await waitFor(() => times.length === 25)
    // A burst of one second's worth (20), then 20 per second: by t seconds after the first
    // claim, at most 20 + 20·t deliveries. The first claim comes after `started`, so the 25th
    // delivery comes 250 ms or more after it, however slow the machine (the time between the
    // first claim and the first delivery does not shorten it, unlike a span between deliveries).
    expect(Math.max(...times) - started).toBeGreaterThanOrEqual(250)
    await Promise.all(consumers.map((c) => c.stop()))
  })
})
