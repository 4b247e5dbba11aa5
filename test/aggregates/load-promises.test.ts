import { randomUUID } from 'node:crypto'
import { beforeAll, describe, expect, it } from 'vitest'
import { z } from 'zod'
import {
  defineAggregate,
  snapshotAggregate,
  SnapshotRequiredError,
  StreamDeletedError,
  truncateAggregate,
  UndeclaredEventTypeError,
  type EventStore,
} from '../../src/index.js'
import { given } from '../../src/testing/index.js'
import { useTestDatabase } from '../support/test-database.js'
import { AccountError, accountEvents, bankAccount, counter, counterEvents } from './fixtures.js'

// What docs/aggregates.md promises of load() and handle() (issue 17), through the public API.

const db = useTestDatabase()
const otherEvents = { Noted: z.object({ note: z.string() }) }
const registry = { ...accountEvents, ...counterEvents, ...otherEvents }
let store: EventStore<typeof registry>

beforeAll(async () => {
  store = await db.store({ events: registry })
})

async function storedEvents(streamId: string): Promise<number> {
  const rows = await db.query<{ count: string }>(
    'SELECT count(*) FROM strata.events WHERE stream_id = $1',
    [streamId],
  )
  return Number(rows[0]!.count)
}

async function increments(aggregate: ReturnType<typeof counter>, id: string, n: number) {
  for (let i = 1; i <= n; i++)
    await store.handle(aggregate, id, { type: 'Increment', data: { by: i } })
}

/** A counter whose commands may decide nothing; it counts its decide calls. */
function lazyCounter() {
  const calls = { decide: 0 }
  const aggregate = defineAggregate({
    category: 'lazy',
    events: counterEvents,
    commands: { Nothing: z.object({}).optional(), Increment: z.object({ by: z.number() }) },
    initialState: { total: 0 },
    evolve: (state, event) => ({ total: state.total + event.data.by }),
    decide(command) {
      calls.decide++
      return command.type === 'Nothing' ? [] : [{ type: 'Incremented', data: command.data }]
    },
  })
  return { aggregate, calls }
}

describe('a tombstoned aggregate stream', () => {
  it('cannot be loaded, now or at any past point', async () => {
    const plain = counter()
    const id = randomUUID()
    await increments(plain, id, 2)
    const [first] = await store.readStream(`counter-${id}`)
    await store.tombstoneStream(`counter-${id}`)
    for (const options of [
      {},
      { asOfVersion: 1n },
      { asOfVersion: 0n },
      { asOfPosition: first!.position },
      { asOf: first!.createdAt },
    ]) {
      const error = await store.load(plain, id, options).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(StreamDeletedError)
      expect((error as StreamDeletedError).streamId).toBe(`counter-${id}`)
      expect((error as Error).message).toMatch(
        /tombstoned and aggregate "counter" cannot be loaded/,
      )
    }
    const snapshotted = counter({ snapshots: { every: 1 } })
    await expect(snapshotAggregate(store, snapshotted, id)).rejects.toThrow(StreamDeletedError)
    await expect(truncateAggregate(store, snapshotted, id)).rejects.toThrow(StreamDeletedError)
  })

  it('refuses every command before decide runs, writing nothing: one that decides nothing, one the initial state would refuse', async () => {
    const { aggregate, calls } = lazyCounter()
    const id = randomUUID()
    await store.handle(aggregate, id, { type: 'Increment', data: { by: 1 } })
    await store.handle(aggregate, id, { type: 'Increment', data: { by: 2 } })
    await store.tombstoneStream(`lazy-${id}`)
    calls.decide = 0
    // decide would return [] here and succeed "at version 0n" on a stream at version 2.
    await expect(store.handle(aggregate, id, { type: 'Nothing' })).rejects.toThrow(
      StreamDeletedError,
    )
    await expect(
      store.handle(aggregate, id, { type: 'Increment', data: { by: 1 } }, { expectedVersion: 2n }),
    ).rejects.toThrow(StreamDeletedError)
    expect(calls.decide).toBe(0)
    expect(await storedEvents(`lazy-${id}`)).toBe(2)

    // The bank account refuses a Deposit on its initial state with a domain error; a tombstoned
    // account gets StreamDeletedError instead.
    const account = bankAccount()
    const accountId = randomUUID()
    await store.handle(account, accountId, { type: 'Open', data: { owner: 'Ada' } })
    await store.tombstoneStream(`account-${accountId}`)
    const error = await store
      .handle(account, accountId, { type: 'Deposit', data: { amount: 5 } })
      .catch((e: unknown) => e)
    expect(error).toBeInstanceOf(StreamDeletedError)
    expect(error).not.toBeInstanceOf(AccountError)
    expect(await storedEvents(`account-${accountId}`)).toBe(1)
  })
})

describe('what load() returns', () => {
  it('version, position and eventsReplayed are those of the last event read, skipped types included', async () => {
    const plain = counter()
    const id = randomUUID()
    await increments(plain, id, 2)
    const [noted] = await store
      .appendToStream(`counter-${id}`, [{ type: 'Noted', data: { note: 'not a counter event' } }])
      .then(async () => await store.readStream(`counter-${id}`, { from: 3n }))
    const loaded = await store.load(plain, id)
    expect(loaded).toMatchObject({
      state: { total: 3, count: 2 },
      version: 3n,
      position: noted!.position,
      fromSnapshotAt: null,
      eventsReplayed: 3,
    })
    // It is the stream's version, so it is what expectedVersion needs.
    const next = await store.handle(
      plain,
      id,
      { type: 'Increment', data: { by: 10 } },
      { expectedVersion: loaded.version },
    )
    expect(next.version).toBe(4n)
  })

  it('after a snapshot, counts only the events read after it, and keeps its version when none follow', async () => {
    const snapshotted = counter({ snapshots: { every: 2 } })
    const id = randomUUID()
    await increments(snapshotted, id, 2) // a snapshot at 2
    expect(await store.load(snapshotted, id)).toMatchObject({
      version: 2n,
      fromSnapshotAt: 2n,
      eventsReplayed: 0,
    })
    await store.appendToStream(`counter-${id}`, [{ type: 'Noted', data: { note: 'x' } }])
    expect(await store.load(snapshotted, id)).toMatchObject({
      state: { total: 3, count: 2 },
      version: 3n,
      fromSnapshotAt: 2n,
      eventsReplayed: 1,
    })
  })
})

describe('asOf: a Date covers its whole millisecond', () => {
  /** Writes events with exact created_at values (microseconds), as the superuser. */
  async function streamWrittenAt(times: readonly string[]) {
    const id = randomUUID()
    for (const [i, time] of times.entries()) {
      await db.query(
        `INSERT INTO strata.events (stream_id, version, id, type, data, created_at)
         VALUES ($1, $2, $3, 'Incremented', $4, $5::timestamptz)`,
        [`counter-${id}`, i + 1, randomUUID(), { by: 10 ** i }, time],
      )
    }
    return id
  }

  it('includes the events whose createdAt is at or before asOf, so as of an event createdAt includes it', async () => {
    const plain = counter()
    const id = await streamWrittenAt([
      '2024-05-01 12:00:00.122999+00',
      '2024-05-01 12:00:00.123000+00',
      '2024-05-01 12:00:00.123999+00', // 999 µs after asOf 12:00:00.123, still within it
      '2024-05-01 12:00:00.124000+00',
      '2024-05-01 12:00:00.124001+00',
    ])
    const events = await store.readStream(`counter-${id}`)
    // createdAt reads back truncated to the millisecond.
    expect(events.map((e) => e.createdAt.toISOString().slice(17))).toEqual([
      '00.122Z',
      '00.123Z',
      '00.123Z',
      '00.124Z',
      '00.124Z',
    ])
    const countAt = async (iso: string) =>
      (await store.load(plain, id, { asOf: new Date(iso) })).state.count
    expect(await countAt('2024-05-01T12:00:00.121Z')).toBe(0)
    expect(await countAt('2024-05-01T12:00:00.122Z')).toBe(1)
    expect(await countAt('2024-05-01T12:00:00.123Z')).toBe(3)
    expect(await countAt('2024-05-01T12:00:00.124Z')).toBe(5)
    for (const [i, event] of events.entries()) {
      const loaded = await store.load(plain, id, { asOf: event.createdAt })
      expect(loaded.version).toBeGreaterThanOrEqual(BigInt(i + 1))
      expect(events.filter((e) => e.createdAt <= event.createdAt).length).toBe(
        Number(loaded.version),
      )
    }
  })

  it('is a prefix of the stream: an event written later with an earlier clock is not pulled in', async () => {
    const plain = counter()
    const id = await streamWrittenAt([
      '2024-05-01 12:00:00.100000+00',
      '2024-05-01 12:00:00.300000+00',
      '2024-05-01 12:00:00.200000+00', // the clock stepped back
    ])
    const at = await store.load(plain, id, { asOf: new Date('2024-05-01T12:00:00.250Z') })
    expect(at).toMatchObject({ version: 1n, state: { total: 1, count: 1 } })
  })
})

describe('time travel before the current life of a stream', () => {
  it('a point in the life a soft delete ended, or before the first event, is the initial state', async () => {
    const snapshotted = counter({ snapshots: { every: 1, keep: 10 } })
    const id = randomUUID()
    await increments(snapshotted, id, 2) // old life: versions 1-2, snapshots at 1 and 2
    const old = await store.readStream(`counter-${id}`)
    await store.deleteStream(`counter-${id}`)
    await store.handle(snapshotted, id, { type: 'Increment', data: { by: 100 } }) // version 3
    await store.handle(snapshotted, id, { type: 'Increment', data: { by: 200 } }) // version 4
    const initial = { state: { total: 0, count: 0 }, version: 0n, position: null }
    for (const aggregate of [snapshotted, counter()]) {
      for (const options of [
        { asOfVersion: 0n },
        { asOfVersion: 1n },
        { asOfVersion: 2n },
        { asOfPosition: old[0]!.position },
        { asOfPosition: old[1]!.position },
        { asOfPosition: 1n },
        { asOf: old[1]!.createdAt },
        { asOf: new Date('2000-01-01') },
      ]) {
        expect(
          await store.load(aggregate, id, options),
          JSON.stringify(options, String),
        ).toMatchObject(initial)
      }
      expect(await store.load(aggregate, id, { asOfVersion: 3n })).toMatchObject({
        state: { total: 100, count: 1 },
        version: 3n,
      })
      expect(await store.load(aggregate, id)).toMatchObject({
        state: { total: 300, count: 2 },
        version: 4n,
      })
    }
  })

  it('a point inside a truncated part of the current life still needs a snapshot', async () => {
    const snapshotted = counter({ snapshots: { every: 1000 } })
    const id = randomUUID()
    await increments(snapshotted, id, 2)
    await store.deleteStream(`counter-${id}`)
    await increments(snapshotted, id, 4) // versions 3-6
    await truncateAggregate(store, snapshotted, id, { before: 6n }) // a snapshot at 6, pinned
    const events = await store.readStream(`counter-${id}`)
    expect(events.map((e) => e.version)).toEqual([6n])
    // In the deleted life: the initial state; in the truncated part of this one: refused.
    expect((await store.load(snapshotted, id, { asOfVersion: 2n })).version).toBe(0n)
    await expect(store.load(snapshotted, id, { asOfVersion: 4n })).rejects.toThrow(
      SnapshotRequiredError,
    )
    expect((await store.load(snapshotted, id, { asOfVersion: 6n })).state).toEqual({
      total: 10,
      count: 4,
    })
  })

  it('an untruncated stream loads as its initial state before its first event', async () => {
    const plain = counter()
    const id = randomUUID()
    await increments(plain, id, 2)
    const [first] = await store.readStream(`counter-${id}`)
    expect(
      await store.load(plain, id, { asOf: new Date(first!.createdAt.getTime() - 1) }),
    ).toMatchObject({
      state: { total: 0, count: 0 },
      version: 0n,
    })
    expect(await store.load(plain, id, { asOfPosition: first!.position - 1n })).toMatchObject({
      version: 0n,
    })
  })
})

describe('decide returns an event type the aggregate does not declare', () => {
  // The store's registry knows Noted, so an append would take it; the aggregate never folds it.
  const sloppy = defineAggregate({
    category: 'sloppy',
    events: counterEvents,
    commands: { Note: z.object({ note: z.string() }) },
    initialState: { total: 0 },
    evolve: (state, event) => ({ total: state.total + event.data.by }),
    decide: (command) =>
      [
        { type: 'Incremented', data: { by: 1 } },
        { type: 'Noted', data: { note: command.data.note } },
      ] as never,
  })

  it('is refused with UndeclaredEventTypeError before anything is written', async () => {
    const id = randomUUID()
    const error = await store
      .handle(sloppy, id, { type: 'Note', data: { note: 'x' } })
      .catch((e: unknown) => e)
    expect(error).toBeInstanceOf(UndeclaredEventTypeError)
    expect(error).toMatchObject({
      code: 'UNDECLARED_EVENT_TYPE',
      aggregate: 'sloppy',
      eventType: 'Noted',
      declaredTypes: ['Incremented'],
      index: 1,
    })
    expect((error as Error).message).toMatch(
      /decided a "Noted" event \(events\[1\]\), a type it does not declare/,
    )
    expect(await storedEvents(`sloppy-${id}`)).toBe(0)
  })

  it('is refused the same way by a given/when/then spec', async () => {
    await given(sloppy, [])
      .when({ type: 'Note', data: { note: 'x' } })
      .then(UndeclaredEventTypeError)
  })
})
