import { randomUUID } from 'node:crypto'
import { beforeAll, describe, expect, it } from 'vitest'
import {
  ConfigError,
  InvalidArgumentError,
  type EventStore,
  type RecordedEvent,
} from '../../src/index.js'
import { useTestDatabase } from '../support/test-database.js'
import { waitFor } from '../support/wait-for.js'
import { aCategory, aGroupName, sleep, waitUntilDrained } from './helpers.js'

const db = useTestDatabase()
let store: EventStore

beforeAll(async () => {
  store = await db.store()
})

async function appendBoth(category: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    await store.appendToStream(`${category}-${i % 4}`, [
      { type: 'Placed', data: { i } },
      { type: 'Shipped', data: { i } },
    ])
  }
}

describe("changing a consumer group's source", () => {
  it('keeps its position and dead letters; later events are filtered by the new source', async () => {
    const category = aCategory()
    const name = aGroupName()
    await appendBoth(category, 6)
    const before = store.consumerGroup(name, {
      source: { category, eventTypes: ['Placed'] },
      maxAttempts: 1,
    })
    const handled: RecordedEvent[] = []
    const first = before.consume((event) => {
      if ((event.data as { i: number }).i === 0) throw new Error('parked on purpose')
      handled.push(event)
    })
    await waitUntilDrained(before, { parked: 1 })
    await first.stop()
    expect(handled.map((e) => e.type)).toEqual(Array(5).fill('Placed'))

    const after = store.consumerGroup(name, {
      source: { category, eventTypes: ['Placed', 'Shipped'] },
    })
    // Opening it with another source is refused, and the error names the way to change it.
    await expect(after.ensure()).rejects.toThrow(ConfigError)
    await expect(after.ensure()).rejects.toThrow(/changeSource\(\)/)

    const { position: head } = await before.status()
    const change = await after.changeSource()
    expect(change).toEqual({
      from: `{ category: ${JSON.stringify(category)}, eventTypes: ["Placed"] }`,
      to: `{ category: ${JSON.stringify(category)}, eventTypes: ["Placed","Shipped"] }`,
      position: head,
    })
    expect(await after.changeSource()).toMatchObject({ from: change.to, to: change.to }) // idempotent
    // Opening it again with the old source is refused now.
    await expect(
      store.consumerGroup(name, { source: { category, eventTypes: ['Placed'] } }).ensure(),
    ).rejects.toThrow(ConfigError)

    await appendBoth(category, 2)
    const later: RecordedEvent[] = []
    const second = after.consume((event) => {
      later.push(event)
    })
    await waitUntilDrained(after, { parked: 1 })
    await second.stop()
    // Nothing before the change comes again; both types after it.
    expect(later.map((e) => e.type)).toEqual(['Placed', 'Shipped', 'Placed', 'Shipped'])
    expect(later.every((e) => e.position > head)).toBe(true)
    const dead = await after.deadLetters.list()
    expect(dead.map((d) => d.event?.data)).toEqual([{ i: 0 }])
  })

  it('while consumers run and appends go on, every event is filtered by exactly one of the two sources', async () => {
    const category = aCategory()
    const name = aGroupName()
    const old = store.consumerGroup(name, { source: { category, eventTypes: ['Placed'] } })
    const seen = new Map<string, RecordedEvent>()
    let duplicates = 0
    const handler = (event: RecordedEvent) => {
      if (seen.has(event.id)) duplicates++
      seen.set(event.id, event)
    }
    const consumers = [old.consume(handler, { concurrency: 2 }), old.consume(handler)]
    let appending = true
    const writer = (async () => {
      let i = 0
      while (appending) {
        await store.appendToStream(`${category}-${i % 5}`, [
          { type: 'Placed', data: { i } },
          { type: 'Shipped', data: { i } },
        ])
        i++
      }
    })()
    await waitFor(() => seen.size >= 20)
    const change = await store
      .consumerGroup(name, { source: { category, eventTypes: ['Shipped'] } })
      .changeSource()
    await sleep(300)
    appending = false
    await writer
    const changed = store.consumerGroup(name, { source: { category, eventTypes: ['Shipped'] } })
    await waitUntilDrained(changed)
    await Promise.all(consumers.map((c) => c.stop()))

    const all = (await store.readAll({ limit: 100_000 })).events.filter((e) =>
      e.streamId.startsWith(`${category}-`),
    )
    const expected = all.filter((e) =>
      e.position <= change.position ? e.type === 'Placed' : e.type === 'Shipped',
    )
    expect(all.some((e) => e.position > change.position)).toBe(true)
    expect(duplicates).toBe(0)
    expect([...seen.keys()].sort()).toEqual(expected.map((e) => e.id).sort())
  })

  it('creates a group that does not exist; a task queue has no source to change', async () => {
    const name = aGroupName()
    const change = await store
      .consumerGroup(name, { source: { category: aCategory() } })
      .changeSource()
    expect(change.from).toBe(change.to)
    expect(
      await store
        .consumerGroup(name, { source: { category: 'x' } })
        .ensure()
        .catch((e: unknown) => e),
    ).toBeInstanceOf(ConfigError)
    await expect(store.queue(`q${randomUUID().slice(0, 6)}`).changeSource()).rejects.toThrow(
      InvalidArgumentError,
    )
  })
})
