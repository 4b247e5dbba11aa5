import { firstValueFrom, take, toArray } from 'rxjs'
import { beforeAll, describe, expect, it } from 'vitest'
import {
  createEventStore,
  handleEach,
  SubscriptionError,
  type EventStore,
  type RecordedEvent,
} from '../../src/index.js'
import { aStreamId } from '../support/factories.js'
import { useTestDatabase } from '../support/test-database.js'
import { sleep, waitFor } from '../support/wait-for.js'

const db = useTestDatabase()
let store: EventStore

beforeAll(async () => {
  store = await db.store()
})

const events = (n: number, type = 'Counted') =>
  Array.from({ length: n }, (_, i) => ({ type, data: { i } }))

/** Connections to this file's database other than the caller's. */
async function connections(): Promise<number> {
  const rows = await db.query<{ n: string }>(
    `SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`,
  )
  return Number(rows[0]!.n)
}

describe('subscribeToAll', () => {
  it('catches up, then goes live, in strictly increasing position', async () => {
    const start = await store.headPosition()
    const id = aStreamId()
    await store.appendToStream(id, events(25))
    const seen: RecordedEvent[] = []
    const subscription = store
      .subscribeToAll({ from: start, pageSize: 10 })
      .subscribe((e) => seen.push(e))
    try {
      await waitFor(() => seen.length === 25)
      await store.appendToStream(id, events(5))
      await store.appendToStream(aStreamId(), events(3))
      await waitFor(() => seen.length === 33)
      for (let i = 1; i < seen.length; i++)
        expect(seen[i]!.position).toBe(seen[i - 1]!.position + 1n)
      expect(seen[0]!.position).toBe(start + 1n)
    } finally {
      subscription.unsubscribe()
    }
  })

  it("from a position is exclusive; 'end' delivers only new events; a Date starts at that time", async () => {
    const id = aStreamId()
    const first = await store.appendToStream(id, events(3))
    const after = await firstValueFrom(
      store.subscribeToAll({ from: first.position - 1n }).pipe(take(1)),
    )
    expect(after.position).toBe(first.position)

    const fromEnd: RecordedEvent[] = []
    const subscription = store.subscribeToAll({ from: 'end' }).subscribe((e) => fromEnd.push(e))
    try {
      // 'end' resolves asynchronously after subscribe(): keep appending one event at a time until
      // one arrives. It must be one of those, and every later one must arrive too, in order.
      const appended: bigint[] = []
      await waitFor(
        async () => {
          appended.push((await store.appendToStream(id, events(1))).position)
          return fromEnd.length > 0
        },
        { intervalMs: 50 },
      )
      await waitFor(() => fromEnd.at(-1)?.position === appended.at(-1))
      const firstSeen = appended.indexOf(fromEnd[0]!.position)
      expect(firstSeen).toBeGreaterThanOrEqual(0)
      expect(fromEnd.map((e) => e.position)).toEqual(appended.slice(firstSeen))
    } finally {
      subscription.unsubscribe()
    }

    const cut = new Date()
    await sleep(20)
    const timed = await store.appendToStream(aStreamId(), events(2))
    const [fromTime] = await firstValueFrom(
      store.subscribeToAll({ from: cut }).pipe(take(1), toArray()),
    )
    expect(fromTime!.position).toBe(timed.position - 1n)
  })

  it('filters by event type and category', async () => {
    const start = await store.headPosition()
    await store.appendToStream('shipment-1', events(2, 'Shipped'))
    await store.appendToStream('invoice-1', events(2, 'Issued'))
    await store.appendToStream('shipment-2', events(1, 'Delayed'))
    const shipped = await firstValueFrom(
      store
        .subscribeToAll({ from: start, filter: { eventTypes: ['Shipped', 'Delayed'] } })
        .pipe(take(3), toArray()),
    )
    expect(shipped.map((e) => e.type)).toEqual(['Shipped', 'Shipped', 'Delayed'])
    const category = await firstValueFrom(
      store.subscribeToCategory('shipment', { from: start }).pipe(take(3), toArray()),
    )
    expect(category.map((e) => e.streamId)).toEqual(['shipment-1', 'shipment-1', 'shipment-2'])
    const typed = await firstValueFrom(
      store
        .subscribeToCategory('shipment', { from: start, eventTypes: ['Delayed'] })
        .pipe(take(1), toArray()),
    )
    expect(typed.map((e) => e.type)).toEqual(['Delayed'])
  })

  it('is an async iterable; breaking out releases its connections', async () => {
    const before = await connections()
    const id = aStreamId()
    await store.appendToStream(id, events(5))
    const seen: bigint[] = []
    for await (const event of store.subscribeToStream(id)) {
      seen.push(event.version)
      if (seen.length === 5) break
    }
    expect(seen).toEqual([1n, 2n, 3n, 4n, 5n])
    await waitFor(async () => (await connections()) <= before, { message: 'connections released' })
  })

  it('unsubscribing releases the reader and the listener connections', async () => {
    const before = await connections()
    const subscriptions = Array.from({ length: 3 }, () =>
      store.subscribeToAll({ from: 'end' }).subscribe(),
    )
    await waitFor(async () => (await connections()) >= before + 4, {
      message: 'three readers and one listener',
    })
    for (const s of subscriptions) s.unsubscribe()
    await waitFor(async () => (await connections()) <= before, { message: 'connections released' })
  })

  it('closing the store stops its subscriptions and releases every connection they opened', async () => {
    const before = await connections()
    const other = await db.store()
    await other.appendToStream(aStreamId(), events(3))
    const observed: RecordedEvent[] = []
    const completed = new Promise<void>((resolve, reject) =>
      other.subscribeToAll({ from: 'start' }).subscribe({
        next: (e) => observed.push(e),
        error: reject,
        complete: resolve,
      }),
    )
    // An iterator whose consumer stopped pulling (suspended at a yield) is released too.
    const iterator = other.subscribeToAll({ from: 'start' })[Symbol.asyncIterator]()
    expect((await iterator.next()).done).toBe(false)
    await waitFor(async () => observed.length >= 3 && (await connections()) >= before + 3, {
      message: 'two readers (one has delivered) and one listener',
    })
    await other.close()
    await completed // close() completes the Observable
    // Closed client side; the server may take a moment to drop the backends from its list.
    await waitFor(async () => (await connections()) <= before, { message: 'connections released' })
    await iterator.return?.(undefined)
  })

  it('the signal option ends the subscription', async () => {
    const controller = new AbortController()
    const done = firstValueFrom(
      store.subscribeToAll({ from: 'end', signal: controller.signal }).pipe(toArray()),
    )
    await sleep(50)
    controller.abort()
    expect(await done).toEqual([])
  })
})

describe('subscribeToStream', () => {
  it('reads from a version (exclusive) and follows new events', async () => {
    const id = aStreamId()
    await store.appendToStream(id, events(4))
    const seen: bigint[] = []
    const subscription = store
      .subscribeToStream(id, { from: 2n })
      .subscribe((e) => seen.push(e.version))
    try {
      await waitFor(() => seen.length === 2)
      await store.appendToStream(id, events(2))
      await store.appendToStream(aStreamId(), events(2)) // another stream: not delivered
      await waitFor(() => seen.length === 4)
      expect(seen).toEqual([3n, 4n, 5n, 6n])
    } finally {
      subscription.unsubscribe()
    }
  })
})

describe('handleEach', () => {
  it('handles one event at a time, in order, and emits the results', async () => {
    const id = aStreamId()
    await store.appendToStream(id, events(20))
    let active = 0
    let maxActive = 0
    const results = await firstValueFrom(
      store.subscribeToStream(id, { pageSize: 5 }).pipe(
        handleEach(async (e) => {
          maxActive = Math.max(maxActive, ++active)
          await sleep(1)
          active--
          return e.version
        }),
        take(20),
        toArray(),
      ),
    )
    expect(results).toEqual(Array.from({ length: 20 }, (_, i) => BigInt(i + 1)))
    expect(maxActive).toBe(1)
  })
})

describe('durable subscriptions', () => {
  it('resume after the saved checkpoint', async () => {
    const name = `sub-${aStreamId()}`
    const id = aStreamId('durable')
    await store.appendToStream(id, events(5))
    const filter = { category: 'durable' }
    const first = await firstValueFrom(
      store.subscribeToAll({ checkpoint: name, filter }).pipe(take(5), toArray()),
    )
    expect(first.map((e) => e.version)).toEqual([1n, 2n, 3n, 4n, 5n])
    await waitFor(async () => (await store.checkpoints.load(name)) === first[4]!.position)
    await store.appendToStream(id, events(2))
    const second = await firstValueFrom(
      store.subscribeToAll({ checkpoint: name, filter }).pipe(take(2), toArray()),
    )
    expect(second.map((e) => e.version)).toEqual([6n, 7n])
  })

  it('for await: leaving the loop redelivers the current event, unless it was saved', async () => {
    const name = `sub-${aStreamId()}`
    const category = aStreamId('loop').split('-')[0]!
    const id = `${category}-1`
    await store.appendToStream(id, events(6))
    const filter = { category }
    const run = async (stopAt: bigint, save: boolean) => {
      const seen: bigint[] = []
      for await (const event of store.subscribeToAll({ checkpoint: name, filter })) {
        seen.push(event.version)
        if (event.version === stopAt) {
          if (save) await store.checkpoints.save(name, event.position)
          break
        }
      }
      return seen
    }
    expect(await run(2n, false)).toEqual([1n, 2n])
    expect(await run(4n, true)).toEqual([2n, 3n, 4n]) // 2 again: it was not handled
    expect(await run(6n, true)).toEqual([5n, 6n]) // never 4 again: saved before leaving
  })
})

describe('errors', () => {
  it('reach the error channel as a SubscriptionError', async () => {
    const broken = await db.store({ schema: 'not_there' })
    await db.query('DROP SCHEMA not_there CASCADE')
    const error = await firstValueFrom(broken.subscribeToAll()).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(SubscriptionError)
    expect((error as SubscriptionError).cause).toMatchObject({ code: '42P01' })
  })

  it('transient errors beyond the retry policy end it with a SubscriptionError', async () => {
    // A server that refuses connections: every attempt fails with a transient error.
    const unreachable = createEventStore(
      { connectionString: 'postgres://postgres@127.0.0.1:1/none' },
      { migrate: 'off' },
    )
    try {
      const error = await firstValueFrom(
        unreachable.subscribeToAll({
          retry: { maxAttempts: 3, initialMs: 10, maxMs: 20 },
        }),
      ).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(SubscriptionError)
      expect(error).toMatchObject({ attempts: 3, position: 0n })
      expect((error as SubscriptionError).cause).toMatchObject({ code: 'ECONNREFUSED' })
    } finally {
      await unreachable.close()
    }
  })

  it('bad options are refused before anything runs', () => {
    expect(() => store.subscribeToAll({ from: -1n })).toThrow(/from/)
    expect(() => store.subscribeToAll({ from: 'yesterday' as never })).toThrow(/from/)
    expect(() => store.subscribeToAll({ pageSize: 0 })).toThrow(/pageSize/)
    expect(() => store.subscribeToStream('')).toThrow(/stream id/)
    expect(() => store.subscribeToStream('s-1', { from: new Date() as never })).toThrow(/from/)
    expect(() => store.subscribeToCategory('a-b')).toThrow(/category/)
  })
})
