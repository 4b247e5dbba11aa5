import { beforeAll, describe, expect, it } from 'vitest'
import { DeliveryLeaseLostError, type EventStore, type StopResult } from '../../src/index.js'
import { useTestDatabase } from '../support/test-database.js'
import { waitFor } from '../support/wait-for.js'
import {
  aCategory,
  aGroupName,
  abortableSleep,
  appendInterleaved,
  waitUntilDrained,
} from './helpers.js'

const db = useTestDatabase()
let observer: EventStore

beforeAll(async () => {
  observer = await db.store()
})

/** A promise and the function that resolves it. */
function gate(): { opened: Promise<void>; open: () => void } {
  let open = () => undefined as void
  const opened = new Promise<void>((resolve) => {
    open = resolve
  })
  return { opened, open }
}

describe('store.close() with running consumers', () => {
  it('acks what finishes during the close, releases prefetched deliveries uncounted, unregisters', async () => {
    const closing = await db.store()
    const category = aCategory('close')
    const { ids } = await appendInterleaved(closing, category, 12, 1)
    const name = aGroupName()
    const source = { category }
    const group = closing.consumerGroup(name, { source, leaseMs: 60_000 })
    const finished = gate()
    const started: string[] = []
    const consumer = group.consume(
      async (event) => {
        started.push(event.id)
        await finished.opened
      },
      { concurrency: 2, prefetch: 8 },
    )
    await waitFor(() => started.length === 2)
    await waitFor(async () => (await group.status()).inFlight === 8)

    const closed = closing.close()
    finished.open() // the two running handlers finish while the store closes
    await closed
    const result = await consumer.done
    expect(result).toEqual({ completed: 2, aborted: 0, released: 6 })

    const after = observer.consumerGroup(name, { source })
    const status = await after.status()
    expect(status.inFlight).toBe(0)
    expect(status.consumers).toBe(0)
    expect(status.members).toEqual([])

    // Nothing acked during the close comes again; the released ones come at their first attempt.
    const redelivered: Array<{ id: string; attempt: number }> = []
    const next = after.consume((event, ctx) => {
      redelivered.push({ id: event.id, attempt: ctx.attempt })
    })
    await waitUntilDrained(after)
    await next.stop()
    expect(redelivered.map((d) => d.id).sort()).toEqual(
      ids.filter((id) => !started.includes(id)).sort(),
    )
    expect(redelivered.every((d) => d.attempt === 1)).toBe(true)
  })

  it('aborts handlers still running after stopTimeoutMs and releases them at once, not at expiry', async () => {
    const closing = await db.store()
    const category = aCategory('abort')
    await appendInterleaved(closing, category, 2, 1)
    const name = aGroupName()
    const source = { category }
    // A lease longer than the test's wait: redelivery proves the release, not an expiry.
    const group = closing.consumerGroup(name, { source, leaseMs: 120_000 })
    const reasons: unknown[] = []
    const consumer = group.consume(
      async (_event, ctx) => {
        try {
          await abortableSleep(120_000, ctx.signal)
        } catch (error) {
          reasons.push(error)
          throw error
        }
      },
      { concurrency: 2, stopTimeoutMs: 50 },
    )
    await waitFor(async () => (await group.status()).inFlight === 2)
    await closing.close()
    expect(await consumer.done).toEqual({ completed: 0, aborted: 2, released: 0 })
    expect(
      reasons.every((r) => r instanceof DeliveryLeaseLostError && r.reason === 'stopped'),
    ).toBe(true)

    const after = observer.consumerGroup(name, { source, leaseMs: 120_000 })
    const attempts: number[] = []
    const next = after.consume((_event, ctx) => {
      attempts.push(ctx.attempt)
    })
    await waitFor(() => attempts.length === 2, { timeoutMs: 30_000 })
    await next.stop()
    expect(attempts).toEqual([2, 2])
    expect((await after.status()).consumers).toBe(0)
  })

  it('stops subscriptions too, and refuses new work afterwards', async () => {
    const closing = await db.store()
    const category = aCategory('sub')
    await appendInterleaved(closing, category, 3, 1)
    const seen: string[] = []
    let completed = false
    closing.subscribeToCategory(category).subscribe({
      next: (event) => void seen.push(event.id),
      complete: () => {
        completed = true
      },
    })
    await waitFor(() => seen.length === 3)
    const group = closing.consumerGroup(aGroupName(), { source: { category } })
    const consumer = group.consume(() => undefined)
    await closing.close()
    expect(completed).toBe(true)
    expect(consumer.running).toBe(false)
    expect(() => closing.consumerGroup(aGroupName(), { source: { category } })).toThrow(/closed/)
    await expect(
      closing.appendToStream(`${category}-x`, [{ type: 'T', data: {} }]),
    ).rejects.toThrow(/closed/)
  })
})

describe('stop results', () => {
  it('count a settlement that did not take effect as failed, never as completed', async () => {
    const store = await db.store()
    const category = aCategory('lost')
    await appendInterleaved(store, category, 1, 1)
    const name = aGroupName()
    const group = store.consumerGroup(name, { source: { category }, leaseMs: 60_000 })
    const finished = gate()
    let started = 0
    const consumer = group.consume(
      async () => {
        started++
        await finished.opened
      },
      { stopTimeoutMs: 30_000 },
    )
    await waitFor(() => started === 1)
    const stopping = consumer.stop()
    // While it stops, a reset empties the window: the handler's ack is refused.
    await observer.consumerGroup(name, { source: { category } }).reset('end')
    finished.open()
    const result: StopResult = await stopping
    expect(result.completed).toBe(0)
    expect(result.failures).toHaveLength(1)
    expect(result.failures![0]).toMatchObject({
      action: 'ack',
      reason: expect.stringMatching(/no longer held/),
    })
    await store.close()
  })
})
