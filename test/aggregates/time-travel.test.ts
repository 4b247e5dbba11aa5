import { randomUUID } from 'node:crypto'
import { beforeAll, describe, expect, it } from 'vitest'
import { InvalidArgumentError, type EventStore } from '../../src/index.js'
import { useTestDatabase } from '../support/test-database.js'
import { counter, counterEvents } from './fixtures.js'

const db = useTestDatabase()
let store: EventStore<typeof counterEvents>

beforeAll(async () => {
  store = await db.store({ events: counterEvents })
})

const plain = counter()
const EVENTS = 12

/** The state after the first k events of a counter whose i-th increment is by i + 1. */
const stateAfter = (k: number) => ({ total: (k * (k + 1)) / 2, count: k })

/** A counter stream of EVENTS events, each followed by an event of another stream. */
async function history(aggregate = plain) {
  const id = randomUUID()
  for (let i = 0; i < EVENTS; i++) {
    await store.handle(aggregate, id, { type: 'Increment', data: { by: i + 1 } })
    await store.appendToStream(`other-${id}`, [{ type: 'Incremented', data: { by: 0 } }])
  }
  return { id, events: await store.readStream(`counter-${id}`) }
}

describe('time travel by version', () => {
  it('rebuilds the state after any version, without snapshots', async () => {
    const { id } = await history()
    for (let k = 0; k <= EVENTS; k++) {
      const loaded = await store.load(plain, id, { asOfVersion: BigInt(k) })
      expect(loaded.state).toEqual(stateAfter(k))
      expect(loaded.version).toBe(BigInt(k))
    }
    expect((await store.load(plain, id, { asOfVersion: 1000n })).state).toEqual(stateAfter(EVENTS))
  })

  it('uses the newest snapshot at or before the point, never a newer one', async () => {
    const snapshotted = counter({ snapshots: { every: 4, keep: 10 } })
    const { id } = await history(snapshotted) // snapshots at 4, 8, 12
    for (let k = 0; k <= EVENTS; k++) {
      const loaded = await store.load(snapshotted, id, { asOfVersion: BigInt(k) })
      expect(loaded.state).toEqual(stateAfter(k))
      const expected = k < 4 ? null : BigInt(k - (k % 4))
      expect(loaded.fromSnapshotAt).toBe(expected)
    }
  })

  it('would show a tampered newer snapshot, so an earlier point proves it was not used', async () => {
    const snapshotted = counter({ snapshots: { every: 6 } })
    const { id } = await history(snapshotted) // one snapshot, at 12
    await db.query(
      `UPDATE strata.snapshots SET state = '{"total": -1, "count": -1}' WHERE stream_id = $1`,
      [`counter-${id}`],
    )
    expect((await store.load(snapshotted, id)).state).toEqual({ total: -1, count: -1 })
    const past = await store.load(snapshotted, id, { asOfVersion: 11n })
    expect(past.state).toEqual(stateAfter(11))
    expect(past.fromSnapshotAt).toBeNull()
  })

  it('time-travel loads never write snapshots', async () => {
    const { id } = await history()
    await store.load(counter({ snapshots: { every: 1 } }), id, { asOfVersion: 5n })
    expect(
      await db.query('SELECT 1 FROM strata.snapshots WHERE stream_id = $1', [`counter-${id}`]),
    ).toEqual([])
  })
})

describe('time travel by position', () => {
  it('rebuilds the state after the last event at or before a global position', async () => {
    const snapshotted = counter({ snapshots: { every: 5, keep: 5 } })
    const { id, events } = await history(snapshotted)
    const first = events[0]!.position
    for (const [i, event] of events.entries()) {
      // Exactly at the event, and between it and the next one (at an event of the other stream).
      for (const position of [event.position, event.position + 1n]) {
        const loaded = await store.load(snapshotted, id, { asOfPosition: position })
        expect(loaded.state).toEqual(stateAfter(i + 1))
        expect(loaded.position).toBe(event.position)
        expect((await store.load(plain, id, { asOfPosition: position })).state).toEqual(
          stateAfter(i + 1),
        )
      }
    }
    expect((await store.load(snapshotted, id, { asOfPosition: first - 1n })).state).toEqual(
      stateAfter(0),
    )
  })
})

describe('time travel by time', () => {
  it('rebuilds the state from the events written at or before a point in time', async () => {
    const snapshotted = counter({ snapshots: { every: 3, keep: 4 } })
    const { id, events } = await history(snapshotted)
    const countAsOf = (asOf: Date) => events.filter((e) => e.createdAt <= asOf).length
    // JS dates have milliseconds, Postgres microseconds: an event belongs to the millisecond its
    // own createdAt reads as, so loading as of an event's createdAt includes that event.
    events.forEach((e, i) => expect(countAsOf(e.createdAt)).toBeGreaterThanOrEqual(i + 1))
    const points = events.flatMap((e) => [
      e.createdAt,
      new Date(e.createdAt.getTime() + 1),
      new Date(e.createdAt.getTime() - 1),
    ])
    for (const asOf of points) {
      const k = countAsOf(asOf)
      const loaded = await store.load(snapshotted, id, { asOf })
      expect(loaded.state).toEqual(stateAfter(k))
      expect(loaded.version).toBe(BigInt(k))
      expect((await store.load(plain, id, { asOf })).state).toEqual(stateAfter(k))
    }
    expect((await store.load(plain, id, { asOf: new Date(0) })).state).toEqual(stateAfter(0))
    expect((await store.load(plain, id, { asOf: new Date(Date.now() + 60_000) })).state).toEqual(
      stateAfter(EVENTS),
    )
  })
})

describe('time travel bounds', () => {
  it('applies every bound given: the earliest point wins', async () => {
    const { id, events } = await history()
    const loaded = await store.load(plain, id, {
      asOfVersion: 9n,
      asOfPosition: events[4]!.position,
      asOf: new Date(Date.now() + 60_000),
    })
    expect(loaded.state).toEqual(stateAfter(5))
  })

  it('refuses invalid bounds before any SQL', async () => {
    await expect(store.load(plain, 'x', { asOfVersion: -1n })).rejects.toThrow(InvalidArgumentError)
    await expect(store.load(plain, 'x', { asOfVersion: 3 as never })).rejects.toThrow(
      InvalidArgumentError,
    )
    await expect(store.load(plain, 'x', { asOfPosition: 'x' as never })).rejects.toThrow(
      InvalidArgumentError,
    )
    await expect(store.load(plain, 'x', { asOf: new Date('nope') })).rejects.toThrow(
      InvalidArgumentError,
    )
    await expect(store.load(plain, 'x', { asOf: '2024-01-01' as never })).rejects.toThrow(
      InvalidArgumentError,
    )
  })

  it('an aggregate that never existed loads as its initial state at version 0', async () => {
    expect(await store.load(plain, randomUUID())).toMatchObject({
      state: stateAfter(0),
      version: 0n,
      position: null,
      fromSnapshotAt: null,
      eventsReplayed: 0,
    })
  })
})
