import { randomUUID } from 'node:crypto'
import { firstValueFrom, take, toArray } from 'rxjs'
import { beforeAll, describe, expect, it } from 'vitest'
import {
  ConfigError,
  DeliveryLeaseLostError,
  InvalidArgumentError,
  type Delivery,
  type EventStore,
  type RecordedEvent,
} from '../../src/index.js'
import { waitFor } from '../support/wait-for.js'
import { useTestDatabase } from '../support/test-database.js'
import { aCategory, aGroupName, appendInterleaved, sleep, waitUntilDrained } from './helpers.js'

const db = useTestDatabase()
let store: EventStore

beforeAll(async () => {
  store = await db.store()
})

describe('round-robin consumer group', () => {
  it('delivers every event of its source once across competing consumers, then shows an empty window', async () => {
    const category = aCategory()
    const { ids } = await appendInterleaved(store, category, 10, 20)
    await appendInterleaved(store, aCategory('other'), 3, 5) // not in the source
    const group = store.consumerGroup(aGroupName(), { source: { category } })
    const seen = new Map<string, number>()
    const handler = (event: RecordedEvent) => {
      seen.set(event.id, (seen.get(event.id) ?? 0) + 1)
    }
    const consumers = [
      group.consume(handler, { concurrency: 3 }),
      group.consume(handler, { concurrency: 2, prefetch: 10 }),
      group.consume(handler),
    ]
    await waitFor(() => seen.size === ids.length, { message: 'every event handled' })
    await waitUntilDrained(group)
    expect([...seen.keys()].sort()).toEqual([...ids].sort())
    expect([...seen.values()].every((n) => n === 1)).toBe(true)
    const rows = await db.query<{ count: string }>(
      'SELECT count(*) FROM strata.consumer_group_messages m JOIN strata.consumer_groups g ON g.id = m.group_id WHERE g.name = $1',
      [group.name],
    )
    expect(rows[0]!.count).toBe('0') // acked messages are deleted
    await Promise.all(consumers.map((c) => c.stop()))
  })

  it('fans out: three groups on one source each get every event', async () => {
    const category = aCategory()
    const groups = [1, 2, 3].map(() => store.consumerGroup(aGroupName(), { source: { category } }))
    const received = groups.map(() => [] as string[])
    const consumers = groups.flatMap((group, i) => [
      group.consume((event) => void received[i]!.push(event.id), { concurrency: 2 }),
      group.consume((event) => void received[i]!.push(event.id)),
    ])
    const { ids } = await appendInterleaved(store, category, 5, 8)
    await waitFor(() => received.every((r) => r.length >= ids.length), { message: 'fan-out' })
    for (const r of received) expect([...r].sort()).toEqual([...ids].sort())
    await Promise.all(consumers.map((c) => c.stop()))
  })

  it('reads sources by category, stream set, stream-id prefix and event types', async () => {
    const category = aCategory()
    const a = `${category}-a`
    const b = `${category}-b`
    const c = `${category}-c`
    await store.appendToStream(a, [
      { type: 'Placed', data: { n: 1 } },
      { type: 'Shipped', data: { n: 2 } },
    ])
    await store.appendToStream(b, [{ type: 'Placed', data: { n: 3 } }])
    await store.appendToStream(c, [{ type: 'Cancelled', data: { n: 4 } }])
    const collect = async (source: Parameters<EventStore['consumerGroup']>[1]['source']) => {
      const group = store.consumerGroup(aGroupName(), { source })
      const got: string[] = []
      const consumer = group.consume((e) => void got.push(`${e.streamId}:${e.type}`))
      await waitUntilDrained(group)
      await consumer.stop()
      return got.filter((g) => g.startsWith(category)).sort()
    }
    expect(await collect({ streams: [a, c] })).toEqual([
      `${a}:Placed`,
      `${a}:Shipped`,
      `${c}:Cancelled`,
    ])
    expect(await collect({ category, eventTypes: ['Placed'] })).toEqual([
      `${a}:Placed`,
      `${b}:Placed`,
    ])
    expect(await collect({ streamIdPrefix: `${category}-b` })).toEqual([`${b}:Placed`])
    expect(await collect({ eventTypes: ['Cancelled'] })).toEqual([`${c}:Cancelled`])
    expect(await collect('all')).toHaveLength(4)
  })

  it("starts from 'end', from a position (inclusive) and from a time", async () => {
    const category = aCategory()
    const first = await store.appendToStream(`${category}-1`, [
      { type: 'A', data: {} },
      { type: 'B', data: {} },
      { type: 'C', data: {} },
    ])
    const fromEnd = store.consumerGroup(aGroupName(), { source: { category }, startFrom: 'end' })
    await fromEnd.ensure() // 'end' counts from creation
    const fromPosition = store.consumerGroup(aGroupName(), {
      source: { category },
      startFrom: first.position - 1n, // the second event
    })
    await sleep(20)
    const time = new Date()
    await sleep(20)
    await store.appendToStream(`${category}-1`, [{ type: 'D', data: {} }])
    const fromTime = store.consumerGroup(aGroupName(), { source: { category }, startFrom: time })
    const types = async (group: typeof fromEnd) => {
      const got: string[] = []
      const consumer = group.consume((e) => void got.push(e.type))
      await waitUntilDrained(group)
      await consumer.stop()
      return got
    }
    expect(await types(fromEnd)).toEqual(['D'])
    expect(await types(fromPosition)).toEqual(['B', 'C', 'D'])
    expect(await types(fromTime)).toEqual(['D'])
  })

  it('replays from a position: reset delivers that event and every later one again', async () => {
    const category = aCategory()
    const { ids } = await appendInterleaved(store, category, 2, 5)
    const group = store.consumerGroup(aGroupName(), { source: { category } })
    const got: RecordedEvent[] = []
    const consumer = group.consume((e) => void got.push(e))
    await waitFor(() => got.length === ids.length)
    await waitUntilDrained(group)
    const from = got.find((e) => e.id === ids[4])!.position
    const result = await group.reset({ position: from })
    // In the caller's terms: delivery starts again at the position asked for (inclusive).
    expect(result.position).toBe(from)
    expect(result.after).toBe(from - 1n) // the cursor (status().position) right after the reset
    const expected = got.filter((e) => e.position >= from).map((e) => e.id)
    await waitFor(() => got.length === ids.length + expected.length, { message: 'replayed' })
    expect(
      got
        .slice(ids.length)
        .map((e) => e.id)
        .sort(),
    ).toEqual([...expected].sort())
    await waitUntilDrained(group)
    await consumer.stop()
  })

  it('replays from a time, and skips to the end', async () => {
    const category = aCategory()
    await appendInterleaved(store, category, 2, 2)
    await sleep(20)
    const time = new Date()
    await sleep(20)
    const later = await appendInterleaved(store, `${category}`, 1, 1, () => ({ late: true }))
    const group = store.consumerGroup(aGroupName(), { source: { category } })
    const got: string[] = []
    const consumer = group.consume((e) => void got.push(e.id))
    await waitFor(() => got.length === 5)
    await waitUntilDrained(group)
    await group.reset({ time })
    await waitFor(() => got.length === 6)
    await waitUntilDrained(group)
    expect(got[5]).toBe(later.ids[0])
    const skipped = await group.reset('end')
    const head = (await group.status()).headPosition
    expect(skipped.position).toBe(head + 1n)
    expect(skipped.after).toBe(head)
    await consumer.stop()
  })

  it('takes positions as non-negative safe integers too: reset, dead-letter targets, list after', async () => {
    const category = aCategory()
    await appendInterleaved(store, category, 1, 4)
    const group = store.consumerGroup(aGroupName(), {
      source: { category },
      maxAttempts: 1,
    })
    const got: RecordedEvent[] = []
    const consumer = group.consume((e) => {
      got.push(e)
      if (e.version <= 2n) throw new Error('refused')
    })
    await waitFor(() => got.length === 4)
    await waitUntilDrained(group, { parked: 2 })
    const [first, second] = got.filter((e) => e.version <= 2n).map((e) => e.position)
    expect((await group.deadLetters.inspect(Number(first!)))?.position).toBe(first)
    expect(
      (await group.deadLetters.list({ after: Number(first!) })).map((d) => d.position),
    ).toEqual([second])
    expect(await group.deadLetters.discard([Number(first!)])).toBe(1)
    expect(await group.deadLetters.discard({ position: Number(second!) })).toBe(1)
    const third = got.find((e) => e.version === 3n)!.position
    const result = await group.reset({ position: Number(third) })
    expect(result).toMatchObject({ position: third, after: third - 1n })
    expect(typeof result.position).toBe('bigint')
    await waitFor(() => got.length === 6, { message: 'versions 3 and 4 again' })
    expect(
      got
        .slice(4)
        .map((e) => e.version)
        .sort(),
    ).toEqual([3n, 4n])
    expect((await group.reset(Number(third))).position).toBe(third)
    await consumer.stop()
    await expect(group.reset(2 ** 53)).rejects.toThrow(/safe integer/)
    await expect(group.deadLetters.replay(-1)).rejects.toBeInstanceOf(InvalidArgumentError)
  })

  it('reports status: position, behind, pending, in flight, retrying, parked and consumers', async () => {
    const category = aCategory()
    const group = store.consumerGroup(aGroupName(), {
      source: { category },
      backoff: { initialMs: 60_000 },
      maxAttempts: 2,
    })
    await group.ensure()
    await appendInterleaved(store, category, 4, 1)
    let release: () => void = () => undefined
    const hold = new Promise<void>((resolve) => (release = resolve))
    const consumer = group.consume(
      async (event) => {
        const { s } = event.data as { s: number }
        if (s === 0) throw new Error('retry me later')
        if (s === 1) await hold
      },
      { concurrency: 4, label: 'status-test' },
    )
    const status = await waitFor(async () => {
      const s = await group.status()
      return s.inFlight === 1 && s.retrying === 1 ? s : undefined
    })
    expect(status.name).toBe(group.name)
    expect(status.strategy).toBe('round-robin')
    expect(status.consumers).toBe(1)
    expect(status.members[0]!.label).toBe('status-test')
    expect(status.members[0]!.concurrency).toBe(4)
    expect(status.behind).toBe(status.headPosition - status.position)
    expect(status.parked).toBe(0)
    release()
    await consumer.stop()
    expect((await group.status()).consumers).toBe(0)
  })

  it('refuses to reopen a group with another source, strategy or parking mode', async () => {
    const name = aGroupName()
    await store.consumerGroup(name, { source: { category: 'x' } }).ensure()
    await expect(
      store.consumerGroup(name, { source: { category: 'y' } }).ensure(),
    ).rejects.toBeInstanceOf(ConfigError)
    await expect(
      store.consumerGroup(name, { source: { category: 'x' }, strategy: 'per-stream' }).ensure(),
    ).rejects.toThrow(/strategy 'round-robin'/)
    const consumer = store
      .consumerGroup(name, { source: { eventTypes: ['Z'] } })
      .consume(() => undefined)
    const result = await consumer.done
    expect(result.error).toBeInstanceOf(ConfigError)
    // Same definition written otherwise is the same group.
    await store.consumerGroup(name, { source: { category: 'x' }, maxAttempts: 9 }).ensure()
    expect(await store.consumerGroup(name, { source: { category: 'x' } }).delete()).toBe(true)
    await store.consumerGroup(name, { source: { category: 'y' } }).ensure()
  })
})

describe('the Observable form', () => {
  it('emits deliveries to ack, nack and park, at most `concurrency` unsettled', async () => {
    const category = aCategory()
    const group = store.consumerGroup(aGroupName(), {
      source: { category },
      backoff: { initialMs: 10 },
    })
    const { ids } = await appendInterleaved(store, category, 3, 1)
    const seen: Array<Delivery<RecordedEvent>> = []
    const subscription = group.deliveries({ concurrency: 2 }).subscribe((d) => seen.push(d))
    await waitFor(() => seen.length === 2)
    await sleep(100)
    expect(seen).toHaveLength(2) // nothing more until one is settled
    const [first, second] = seen
    await first!.nack({ retryAfterMs: 0, error: new Error('again') })
    await waitFor(() => seen.length === 3)
    await second!.park('inspect me')
    await expect(second!.ack()).rejects.toBeInstanceOf(Error) // settled once only
    await waitFor(() => seen.length === 4)
    const again = seen.find((d, i) => i >= 2 && d.event.id === first!.event.id)!
    expect(again.attempt).toBe(2)
    expect(again.lastError?.message).toBe('again')
    for (const d of seen.slice(2)) await d.ack()
    await waitUntilDrained(group, { parked: 1 })
    const [dead] = await group.deadLetters.list()
    expect(dead!.reason).toBe('inspect me')
    expect(ids).toContain(dead!.event!.id)
    subscription.unsubscribe()
  })

  it('deliveries() is the Observable form; unsubscribing releases unsettled deliveries at once', async () => {
    const category = aCategory()
    const group = store.consumerGroup(aGroupName(), { source: { category }, leaseMs: 60_000 })
    await appendInterleaved(store, category, 1, 1)
    const [delivery] = await firstValueFrom(group.deliveries().pipe(take(1), toArray()))
    await waitFor(() => delivery!.signal.aborted)
    expect(delivery!.signal.reason).toBeInstanceOf(DeliveryLeaseLostError)
    await expect(delivery!.ack()).rejects.toBeInstanceOf(DeliveryLeaseLostError)
    // Released, not waiting out the 60 s lease: another consumer gets it now, as attempt 2.
    const next = await firstValueFrom(group.deliveries())
    expect(next.event.id).toBe(delivery!.event.id)
    expect(next.attempt).toBe(2)
    await next.ack()
  })

  it('completes when the store closes', async () => {
    const own = await db.store()
    const group = own.consumerGroup(aGroupName(), { source: { category: aCategory() } })
    let completed = false
    group.deliveries().subscribe({ complete: () => (completed = true) })
    await sleep(50)
    await own.close()
    expect(completed).toBe(true)
    expect(() => group.consume(() => undefined)).toThrow(/closed/)
  })
})

describe('identity', () => {
  it('gives each group its own position, so a new group reads the whole history', async () => {
    const category = aCategory()
    const { ids } = await appendInterleaved(store, category, 1, 3)
    const late = store.consumerGroup(`late-${randomUUID().slice(0, 6)}`, { source: { category } })
    const got: string[] = []
    const consumer = late.consume((e) => void got.push(e.id))
    await waitFor(() => got.length === 3)
    expect(got).toEqual(ids)
    await consumer.stop()
  })
})
