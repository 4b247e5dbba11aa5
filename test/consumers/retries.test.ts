import { firstValueFrom } from 'rxjs'
import { beforeAll, describe, expect, it } from 'vitest'
import { NonRetryableError, type EventStore } from '../../src/index.js'
import { waitFor } from '../support/wait-for.js'
import { useTestDatabase } from '../support/test-database.js'
import {
  aCategory,
  aGroupName,
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

describe('retries and dead letters', () => {
  it('parks a poison event after maxAttempts while the rest flows; replayed, it is delivered again', async () => {
    const category = aCategory('poison')
    const { ids } = await appendInterleaved(store, category, 6, 5)
    const poison = ids[13]!
    let healed = false
    const attempts: Array<{ attempt: number; at: number }> = []
    const acked = new Set<string>()
    const group = store.consumerGroup(aGroupName(), {
      source: { category },
      maxAttempts: 3,
      backoff: { initialMs: 40, multiplier: 2, jitter: 0 },
    })
    const consumers = [1, 2].map(() =>
      group.consume(
        (event, ctx) => {
          if (event.id === poison) {
            attempts.push({ attempt: ctx.attempt, at: Date.now() })
            expect(ctx.maxAttempts).toBe(3)
            if (!healed) throw new Error(`cannot handle ${event.id}`)
          }
          acked.add(event.id)
        },
        { concurrency: 3 },
      ),
    )
    await waitFor(() => acked.size === ids.length - 1, { message: 'the rest flowed' })
    await waitUntilDrained(group, { parked: 1 })
    expect(attempts.map((a) => a.attempt)).toEqual([1, 2, 3])
    // Exponential backoff: 40 ms after the first failure, 80 ms after the second (lower bounds).
    expect(attempts[1]!.at - attempts[0]!.at).toBeGreaterThanOrEqual(35)
    expect(attempts[2]!.at - attempts[1]!.at).toBeGreaterThanOrEqual(75)

    const [dead, ...more] = await group.deadLetters.list()
    expect(more).toEqual([])
    expect(dead!.event!.id).toBe(poison)
    expect(dead!.attempts).toBe(3)
    expect(dead!.reason).toMatch(/attempt 3 of 3 failed: cannot handle/)
    expect(dead!.lastError).toMatchObject({ name: 'Error', message: `cannot handle ${poison}` })
    expect(dead!.lastError!.stack).toContain('retries.test.ts')
    expect(dead!.parkedAt).toBeInstanceOf(Date)
    expect(await group.deadLetters.inspect(poison)).toEqual(dead)
    expect(await group.deadLetters.inspect(dead!.position)).toEqual(dead)
    expect(await group.deadLetters.count()).toBe(1)
    expect((await group.status()).parked).toBe(1)

    healed = true
    expect(await group.deadLetters.replay(dead!)).toBe(1)
    await waitFor(() => acked.has(poison), { message: 'replayed and acked' })
    await waitUntilDrained(group)
    expect(attempts.at(-1)!.attempt).toBe(1) // a replay starts a fresh count
    expect(await group.deadLetters.count()).toBe(0)
    await Promise.all(consumers.map((c) => c.stop()))
  })

  it('parks at once on NonRetryableError, keeping its cause as the last error', async () => {
    const category = aCategory('nonretry')
    await appendInterleaved(store, category, 1, 1)
    const group = store.consumerGroup(aGroupName(), { source: { category }, maxAttempts: 10 })
    let calls = 0
    const consumer = group.consume(() => {
      calls++
      throw new NonRetryableError('order has no lines', { cause: new TypeError('lines missing') })
    })
    await waitUntilDrained(group, { parked: 1 })
    const [dead] = await group.deadLetters.list()
    expect(calls).toBe(1)
    expect(dead).toMatchObject({ attempts: 1, reason: 'order has no lines' })
    expect(dead!.lastError).toMatchObject({ name: 'TypeError', message: 'lines missing' })
    await consumer.stop()
  })

  it('honours retryAfterMs on a thrown error and a nack, and parks a nack on the last attempt', async () => {
    const category = aCategory('after')
    await appendInterleaved(store, category, 1, 1)
    const group = store.consumerGroup(aGroupName(), { source: { category }, maxAttempts: 2 })
    const times: number[] = []
    const consumer = group.consume(() => {
      times.push(Date.now())
      throw Object.assign(new Error('rate limited'), { retryAfterMs: 150 })
    })
    await waitUntilDrained(group, { parked: 1 })
    expect(times).toHaveLength(2)
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(140)
    await consumer.stop()

    expect(await group.deadLetters.replay('all')).toBe(1)
    // Taken and dropped (unsubscribed) unsettled: released at once; it reached user code, so the
    // attempt counts, and the next delivery is the last one.
    const first = await firstValueFrom(group.deliveries())
    expect(first.attempt).toBe(1)
    const { delivery: again, unsubscribe } = await takeOne(group.deliveries())
    expect(again.attempt).toBe(2)
    await again.nack({ error: new Error('still failing') })
    await waitUntilDrained(group, { parked: 1 })
    const [dead] = await group.deadLetters.list()
    expect(dead!.reason).toMatch(/attempt 2 of 2 failed: still failing/)
    unsubscribe()
  })

  it('replays and discards dead letters one by one, by list, by id, or all', async () => {
    const category = aCategory('many')
    await appendInterleaved(store, category, 5, 1)
    const group = store.consumerGroup(aGroupName(), { source: { category }, maxAttempts: 1 })
    let healed = false
    const handled: string[] = []
    const consumer = group.consume((event) => {
      if (!healed) throw new Error('down')
      handled.push(event.id)
    })
    await waitUntilDrained(group, { parked: 5 })
    const dead = await group.deadLetters.list({ limit: 2 })
    expect(dead).toHaveLength(2)
    const page2 = await group.deadLetters.list({ after: dead[1]!.position, limit: 10 })
    expect(page2).toHaveLength(3)
    expect(await group.deadLetters.list({ streamId: `${category}-3` })).toHaveLength(1)
    healed = true
    expect(await group.deadLetters.discard(dead[0]!.position)).toBe(1)
    const replayed = [dead[1]!.event!.id, page2[0]!.event!.id]
    expect(await group.deadLetters.replay([replayed[0]!, { position: page2[0]!.position }])).toBe(2)
    await waitFor(() => handled.length === 2)
    expect(await group.deadLetters.replay([])).toBe(0)
    expect(await group.deadLetters.replay(999_999_999n)).toBe(0)
    expect(await group.deadLetters.discard('all')).toBe(2)
    await waitUntilDrained(group)
    await sleep(50)
    expect(handled.sort()).toEqual(replayed.sort())
    await consumer.stop()
  })
})
