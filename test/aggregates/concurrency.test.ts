import { randomUUID } from 'node:crypto'
import { beforeAll, describe, expect, it } from 'vitest'
import { z } from 'zod'
import {
  ConcurrencyRetriesExhaustedError,
  defineAggregate,
  WrongExpectedVersionError,
  type EventStore,
} from '../../src/index.js'
import { useTestDatabase } from '../support/test-database.js'
import { counter, counterEvents } from './fixtures.js'

const db = useTestDatabase()
let store: EventStore<typeof counterEvents>

beforeAll(async () => {
  store = await db.store({ events: counterEvents })
})

const CALLERS = 16

/**
 * A counter whose first `callers` decisions all wait until every caller has loaded and decided:
 * they all decide on the same version, so all but one of the first appends conflict, every time.
 */
function racingCounter(callers: number, maxRetries: number) {
  let arrived = 0
  let release!: () => void
  const allArrived = new Promise<void>((resolve) => (release = resolve))
  return defineAggregate({
    category: 'counter',
    events: counterEvents,
    commands: { Increment: z.object({ by: z.number().int() }) },
    initialState: { total: 0, count: 0 },
    maxRetries,
    evolve: (state, event) => ({ total: state.total + event.data.by, count: state.count + 1 }),
    async decide(command) {
      if (arrived < callers) {
        arrived++
        if (arrived === callers) release()
        await allArrived
      }
      return [{ type: 'Incremented', data: { by: command.data.by } }]
    },
  })
}

async function race(aggregate: ReturnType<typeof racingCounter>, id: string) {
  return Promise.allSettled(
    Array.from({ length: CALLERS }, (_, i) =>
      store.handle(aggregate, id, { type: 'Increment', data: { by: i + 1 } }),
    ),
  )
}

async function expectStreamConsistent(id: string, successes: number, total: number) {
  const events = await store.readStream(`counter-${id}`)
  expect(events.map((e) => e.version)).toEqual(
    Array.from({ length: successes }, (_, i) => BigInt(i + 1)),
  )
  expect(events.reduce((sum, e) => sum + e.data.by, 0)).toBe(total)
  const loaded = await store.load(counter(), id)
  expect(loaded.state).toEqual({ total, count: successes })
  expect(loaded.version).toBe(BigInt(successes))
}

describe('concurrent commands on one aggregate', () => {
  it('all succeed through retries, each at its own version, and the final state matches the stream', async () => {
    const id = randomUUID()
    const results = await race(racingCounter(CALLERS, CALLERS), id)
    const fulfilled = results.map((r) => {
      if (r.status === 'rejected') throw r.reason
      return r.value
    })
    expect(new Set(fulfilled.map((r) => r.version)).size).toBe(CALLERS)
    expect(fulfilled.map((r) => r.version).sort((a, b) => Number(a - b))).toEqual(
      Array.from({ length: CALLERS }, (_, i) => BigInt(i + 1)),
    )
    // Each caller's returned state is the state at its own version.
    for (const result of fulfilled) expect(result.state.count).toBe(Number(result.version))
    await expectStreamConsistent(id, CALLERS, (CALLERS * (CALLERS + 1)) / 2)
  })

  it('without retries exactly one wins and the others fail with a clear error, writing nothing', async () => {
    const id = randomUUID()
    const results = await race(racingCounter(CALLERS, 0), id)
    const won = results.filter((r) => r.status === 'fulfilled')
    const lost = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []))
    expect(won).toHaveLength(1)
    expect(lost).toHaveLength(CALLERS - 1)
    for (const error of lost) {
      expect(error).toBeInstanceOf(ConcurrencyRetriesExhaustedError)
      // Code that handles conflicts handles this one too.
      expect(error).toBeInstanceOf(WrongExpectedVersionError)
      const exhausted = error as ConcurrencyRetriesExhaustedError
      expect(exhausted.actual).toBe(exhausted.lastConflict.actual)
      expect(exhausted.code).toBe('CONCURRENCY_RETRIES_EXHAUSTED')
      expect(exhausted.streamId).toBe(`counter-${id}`)
      expect(exhausted.attempts).toBe(1)
      expect(exhausted.lastConflict).toBeInstanceOf(WrongExpectedVersionError)
      expect(exhausted.cause).toBe(exhausted.lastConflict)
      expect(exhausted.message).toMatch(/gave up after 1 attempt\(s\).*nothing was written/)
    }
    const winner = won[0]!.status === 'fulfilled' ? won[0]!.value : undefined
    await expectStreamConsistent(id, 1, winner!.state.total)
  })

  it('with a small limit, every command either succeeds or fails after exactly limit + 1 attempts', async () => {
    const id = randomUUID()
    const results = await race(racingCounter(CALLERS, 2), id)
    let total = 0
    let successes = 0
    for (const [i, result] of results.entries()) {
      if (result.status === 'fulfilled') {
        successes++
        total += i + 1
      } else {
        expect(result.reason).toBeInstanceOf(ConcurrencyRetriesExhaustedError)
        expect((result.reason as ConcurrencyRetriesExhaustedError).attempts).toBe(3)
      }
    }
    expect(successes).toBeGreaterThanOrEqual(1)
    await expectStreamConsistent(id, successes, total)
  })

  it('the per-call maxRetries option overrides the aggregate default', async () => {
    const id = randomUUID()
    const aggregate = racingCounter(2, 5)
    const [a, b] = await Promise.allSettled([
      store.handle(aggregate, id, { type: 'Increment', data: { by: 1 } }, { maxRetries: 0 }),
      store.handle(aggregate, id, { type: 'Increment', data: { by: 2 } }, { maxRetries: 0 }),
    ])
    expect([a.status, b.status].sort()).toEqual(['fulfilled', 'rejected'])
  })

  it('keeps snapshots consistent under contention: a load equals a full replay', async () => {
    const id = randomUUID()
    const snapshotted = counter({ maxRetries: 100, snapshots: { every: 3 } })
    await Promise.all(
      Array.from({ length: CALLERS }, (_, i) =>
        store.handle(snapshotted, id, { type: 'Increment', data: { by: i } }),
      ),
    )
    const withSnapshot = await store.load(snapshotted, id)
    const replayed = await store.load(counter(), id)
    expect(withSnapshot.fromSnapshotAt).not.toBeNull()
    expect(withSnapshot.state).toEqual(replayed.state)
    expect(withSnapshot.version).toBe(BigInt(CALLERS))
  })
})
