import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { AppendOutcomeUnknownError, createEventStore, type EventStore } from '../../src/index.js'
import { balances, bankEvents, readBalances } from '../projections/fixtures.js'
import { aStreamId } from '../support/factories.js'
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js'
import { useTestDatabase } from '../support/test-database.js'

// Issue 22: an append whose commit went through but whose reply was lost must never be written
// twice, by strata's own retries or by the caller's.
const db = useTestDatabase()
let proxy: TcpProxy
let store: EventStore
let direct: EventStore

beforeAll(async () => {
  direct = await db.store() // migrates; reads without the proxy
  proxy = await startTcpProxy(db.url)
  store = createEventStore({ connectionString: proxy.url }, { migrate: 'off' })
})

afterEach(() => proxy.accept())

afterAll(async () => {
  await store.close()
  await proxy.close()
})

const events = [
  { type: 'Opened', data: { n: 1 } },
  { type: 'Deposited', data: { n: 2 } },
]

async function stored(streamId: string) {
  const read = await direct.readStream(streamId)
  return read.map((e) => ({ id: e.id, version: e.version.toString() }))
}

describe('a lost reply to an append that committed', () => {
  it('is retried by strata with the same ids: written once, the result returned', async () => {
    const streamId = aStreamId()
    const lost = proxy.loseReplyTo('append_events')
    const result = await store.appendToStream(streamId, events, { expectedVersion: 'no_stream' })
    await lost
    expect(result.nextExpectedVersion).toBe(2n)
    const rows = await stored(streamId)
    expect(rows.map((r) => r.version)).toEqual(['1', '2'])
    expect(result.position).toBeGreaterThan(0n)
  })

  it('surfaces as AppendOutcomeUnknownError with the ids, and the retry with them is idempotent', async () => {
    const streamId = aStreamId()
    // The reply is lost and the server then refuses connections: strata's retries fail too.
    const lost = proxy.loseReplyTo('append_events', () => proxy.refuse())
    const error = await store
      .appendToStream(streamId, events, { expectedVersion: 'no_stream' })
      .catch((e: unknown) => e)
    await lost
    expect(error).toBeInstanceOf(AppendOutcomeUnknownError)
    const unknown = error as AppendOutcomeUnknownError
    expect(unknown.code).toBe('APPEND_OUTCOME_UNKNOWN')
    expect(unknown.streamId).toBe(streamId)
    expect(unknown.attempts).toBeGreaterThan(1)
    expect(unknown.message).toMatch(/may or may not have committed/)
    // It had committed: the ids the error carries are the stored ones.
    const rows = await stored(streamId)
    expect(rows.map((r) => r.id)).toEqual(unknown.eventIds)

    await proxy.accept()
    // The caller's natural retry, with the ids: the original result, nothing written twice.
    const retried = await store.appendToStream(streamId, unknown.withIds(events), {
      expectedVersion: 'no_stream',
    })
    expect(retried.nextExpectedVersion).toBe(2n)
    expect(await stored(streamId)).toEqual(rows)
  })

  it('appendToStreams carries the ids of every stream', async () => {
    const a = aStreamId()
    const b = aStreamId()
    const lost = proxy.loseReplyTo('append_events', () => proxy.refuse())
    const error = await store
      .appendToStreams([
        { streamId: a, events: [events[0]!] },
        { streamId: b, events },
      ])
      .catch((e: unknown) => e)
    await lost
    expect(error).toBeInstanceOf(AppendOutcomeUnknownError)
    const unknown = error as AppendOutcomeUnknownError
    expect(unknown.appends.map((x) => x.streamId)).toEqual([a, b])
    expect(unknown.appends.map((x) => x.eventIds.length)).toEqual([1, 2])
    await proxy.accept()
    await store.appendToStreams([
      { streamId: a, events: unknown.withIds([events[0]!], 0) },
      { streamId: b, events: unknown.withIds(events, 1) },
    ])
    expect(await stored(a)).toHaveLength(1)
    expect(await stored(b)).toHaveLength(2)
  })

  it('a server that refuses connections from the start gives the raw error: nothing was sent', async () => {
    await proxy.refuse()
    const fresh = createEventStore({ connectionString: proxy.url }, { migrate: 'off' })
    try {
      const error = await fresh.appendToStream(aStreamId(), events).catch((e: unknown) => e)
      expect(error).not.toBeInstanceOf(AppendOutcomeUnknownError)
      expect(error).toMatchObject({ code: 'ECONNREFUSED' })
    } finally {
      await fresh.close()
    }
  })

  it('a lost reply to the COMMIT of an append with inline projections: applied once', async () => {
    const inline = createEventStore(
      { connectionString: proxy.url },
      { migrate: 'off', events: bankEvents },
    )
    try {
      await inline.addInlineProjection(balances(1, { name: 'outcome_balances' }))
      const account = aStreamId('account')
      // The append runs in a transaction of its own (the hook runs in it): lose its COMMIT's reply.
      const lost = proxy.loseReplyTo('COMMIT')
      await inline.appendToStream(account, [
        { type: 'Opened', data: { owner: 'ada' } },
        { type: 'Deposited', data: { amount: 42 } },
      ])
      await lost
      expect(await stored(account)).toHaveLength(2)
      expect((await readBalances(direct, 'outcome_balances')).get(account)).toEqual({
        balance: 42,
        events: 2,
      })
    } finally {
      await inline.close()
    }
  })

  it('withIds refuses events that are not those of the append', () => {
    const error = new AppendOutcomeUnknownError([{ streamId: 's-1', eventIds: ['a', 'b'] }], 4, {
      cause: new Error('x'),
    })
    expect(() => error.withIds([events[0]!])).toThrow(/2 event/)
    expect(error.withIds(events).map((e) => e.id)).toEqual(['a', 'b'])
  })
})
