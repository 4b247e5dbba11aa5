import { randomUUID } from 'node:crypto'
import { beforeAll, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { type EventStore, type Task } from '../../src/index.js'
import { waitFor } from '../support/wait-for.js'
import { useTestDatabase } from '../support/test-database.js'
import { sleep, waitUntilDrained } from './helpers.js'

const db = useTestDatabase()
// A store with a strict registry: task payloads are not events of the domain and pass anyway.
let store: EventStore<{ OrderPlaced: z.ZodObject<{ id: z.ZodString }> }>

beforeAll(async () => {
  store = await db.store({ events: { OrderPlaced: z.object({ id: z.string() }) } })
})

const aQueueName = () => `emails-${randomUUID().slice(0, 8)}`

describe('task queue', () => {
  it('delivers sent tasks to competing consumers, payload intact', async () => {
    const queue = store.queue<{ to: string; n: number }>(aQueueName())
    await Promise.all(
      Array.from({ length: 50 }, (_, n) => queue.send({ to: `user${n}@example.com`, n })),
    )
    const got: Array<Task<{ to: string; n: number }>> = []
    const consumers = [1, 2, 3].map(() =>
      queue.consume((task) => void got.push(task), { concurrency: 2 }),
    )
    await waitFor(() => got.length === 50)
    expect(got.map((t) => t.payload.n).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 50 }, (_, n) => n),
    )
    expect(got[0]!.payload.to).toMatch(/@example.com$/)
    expect(got[0]!.sentAt).toBeInstanceOf(Date)
    await waitUntilDrained(queue)
    await Promise.all(consumers.map((c) => c.stop()))
  })

  it('does not deliver a delayed task early', async () => {
    const queue = store.queue<{ delay: number }>(aQueueName())
    const delivered: Array<{ delay: number; sentBefore: number; at: number; task: Task<unknown> }> =
      []
    const sentBefore = new Map<number, number>()
    const consumer = queue.consume(
      (task) => {
        delivered.push({
          delay: task.payload.delay,
          sentBefore: sentBefore.get(task.payload.delay)!,
          at: Date.now(),
          task,
        })
      },
      { concurrency: 3 },
    )
    for (const delay of [600, 0, 300]) {
      sentBefore.set(delay, Date.now())
      await queue.send({ delay }, { delayMs: delay })
    }
    await waitFor(async () => (await queue.status()).delayed > 0, { message: 'delayed shown' })
    await waitFor(() => delivered.length === 3, { timeoutMs: 10_000 })
    for (const d of delivered) {
      expect(d.at - d.sentBefore).toBeGreaterThanOrEqual(d.delay)
      expect(d.at).toBeGreaterThanOrEqual(d.task.availableAt.getTime())
    }
    expect(delivered.map((d) => d.delay)).toEqual([0, 300, 600])
    await consumer.stop()
  })

  it('deduplicates by dedupKey: the same key is enqueued once, whatever the payload', async () => {
    const queue = store.queue<{ v: number }>(aQueueName())
    const first = await queue.send({ v: 1 }, { dedupKey: 'order-42-confirmation' })
    const concurrent = await Promise.all([
      queue.send({ v: 1 }, { dedupKey: 'order-42-confirmation' }),
      queue.send({ v: 2 }, { dedupKey: 'order-42-confirmation' }),
    ])
    expect(first.duplicate).toBe(false)
    for (const again of concurrent) {
      expect(again).toEqual({ id: first.id, position: first.position, duplicate: true })
    }
    // Another queue with the same key is another task.
    const elsewhere = await store
      .queue(aQueueName())
      .send({ v: 1 }, { dedupKey: 'order-42-confirmation' })
    expect(elsewhere.id).not.toBe(first.id)
    const got: Array<Task<{ v: number }>> = []
    const consumer = queue.consume((task) => void got.push(task))
    await waitUntilDrained(queue)
    expect(got).toHaveLength(1)
    expect(got[0]).toMatchObject({
      id: first.id,
      payload: { v: 1 },
      dedupKey: 'order-42-confirmation',
    })
    await consumer.stop()
  })

  it('retries failed tasks with backoff and dead-letters them after maxAttempts', async () => {
    const queue = store.queue<{ to: string }>(aQueueName(), {
      maxAttempts: 3,
      backoff: { initialMs: 10 },
    })
    await queue.send({ to: 'bounces@example.com' }, { metadata: { correlationId: 'c-1' } })
    await queue.send({ to: 'ok@example.com' })
    const attempts: string[] = []
    const consumer = queue.consume((task, ctx) => {
      attempts.push(`${task.payload.to}#${ctx.attempt}`)
      if (task.payload.to.startsWith('bounces')) throw new Error('mailbox unavailable')
    })
    await waitUntilDrained(queue, { parked: 1 })
    expect(attempts.filter((a) => a.startsWith('bounces'))).toEqual([
      'bounces@example.com#1',
      'bounces@example.com#2',
      'bounces@example.com#3',
    ])
    const [dead] = await queue.deadLetters.list()
    expect(dead!.event!.payload).toEqual({ to: 'bounces@example.com' })
    expect(dead!.event!.metadata).toEqual({ correlationId: 'c-1' })
    expect(dead!.lastError!.message).toBe('mailbox unavailable')
    expect(await queue.deadLetters.discard('all')).toBe(1)
    await consumer.stop()
  })

  it('keeps tasks in the log: a queue can be replayed, and tasks sent before any consumer are delivered', async () => {
    const name = aQueueName()
    const queue = store.queue<number>(name)
    for (let n = 0; n < 3; n++) await queue.send(n)
    const got: number[] = []
    const consumer = queue.consume((task) => void got.push(task.payload))
    await waitFor(() => got.length === 3)
    await queue.reset('start')
    await waitFor(() => got.length === 6)
    expect(got.slice(3).sort()).toEqual([0, 1, 2])
    await consumer.stop()
    // A queue name with '-' and '%' still names one queue only.
    const odd = store.queue<number>(`${name}-%2D`)
    await odd.send(7)
    const oddGot: number[] = []
    const c2 = odd.consume((task) => void oddGot.push(task.payload))
    await waitUntilDrained(odd)
    await sleep(20)
    expect(oddGot).toEqual([7])
    await c2.stop()
  })
})
