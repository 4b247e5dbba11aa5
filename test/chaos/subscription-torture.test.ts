import { beforeAll, describe, expect, it } from 'vitest'
import type { EventStore, RecordedEvent } from '../../src/index.js'
import { committedIds, installAppendDelays, terminate, tortureWriters } from '../support/torture.js'
import { useTestDatabase } from '../support/test-database.js'
import { sleep, waitFor } from '../support/wait-for.js'

const db = useTestDatabase()
let store: EventStore

beforeAll(async () => {
  store = await db.store()
  await installAppendDelays(db)
})

/** Subscribes from the start and checks, at the end, exactly-once in-order delivery. */
async function deliveredExactlyOnce(seen: RecordedEvent[], forbidden: ReadonlySet<string>) {
  const committed = await committedIds(db)
  await waitFor(() => seen.length >= committed.length, {
    timeoutMs: 20_000,
    message: 'subscriber caught up',
  })
  await sleep(200) // nothing more may arrive
  for (let i = 1; i < seen.length; i++)
    expect(seen[i]!.position).toBeGreaterThan(seen[i - 1]!.position)
  expect(seen.map((e) => e.id)).toEqual(committed)
  for (const e of seen) expect(forbidden.has(e.id)).toBe(false)
  return committed.length
}

describe('subscribeToAll, live, under concurrent writers', () => {
  it('delivers every committed event once, in order, while its listener and reader connections are killed', async () => {
    const seen: RecordedEvent[] = []
    const subscription = store.subscribeToAll({ pageSize: 50 }).subscribe((e) => seen.push(e))
    let kills = 0
    let running = true
    const killer = (async () => {
      while (running) {
        await sleep(300 + Math.random() * 400)
        kills += await terminate(
          db,
          Math.random() < 0.5 ? 'strata listener' : 'strata subscription',
        )
      }
    })()
    try {
      const { forbidden } = await tortureWriters(db, store, { durationMs: 4000 })
      running = false
      await killer
      const total = await deliveredExactlyOnce(seen, forbidden)
      expect(total).toBeGreaterThan(200)
      expect(kills).toBeGreaterThan(2)
    } finally {
      running = false
      subscription.unsubscribe()
    }
  })

  it('survives every backend of the database being terminated mid-stream: no loss, no duplicate', async () => {
    const seen: RecordedEvent[] = []
    const subscription = store
      .subscribeToAll({ from: await store.headPosition(), pageSize: 20 })
      .subscribe({ next: (e) => seen.push(e) })
    const from = seen.length
    let running = true
    const killer = (async () => {
      for (let round = 0; round < 3 && running; round++) {
        await sleep(800)
        await terminate(db) // the reader, the listener, the pool, the writers' sessions
      }
    })()
    try {
      const start = (await committedIds(db)).length
      await tortureWriters(db, store, { durationMs: 3500, writers: 8 })
      running = false
      await killer
      const committed = (await committedIds(db)).slice(start)
      await waitFor(() => seen.length - from >= committed.length, { timeoutMs: 20_000 })
      await sleep(200)
      expect(seen.slice(from).map((e) => e.id)).toEqual(committed)
      for (let i = 1; i < seen.length; i++)
        expect(seen[i]!.position).toBeGreaterThan(seen[i - 1]!.position)
    } finally {
      running = false
      subscription.unsubscribe()
    }
  })
})
