import { randomUUID } from 'node:crypto'
import pg from 'pg'
import { beforeAll, describe, expect, inject, it } from 'vitest'
import { createEventStore, isStrataError, type EventStore, type RecordedEvent } from 'pg-strata'
import { balances, bankEvents, foldBalances, readBalances } from '../projections/fixtures.js'
import { databaseUrl, useTestDatabase } from '../support/test-database.js'
import { waitFor } from '../support/wait-for.js'

// Runs in the "pgbouncer" vitest project only (vitest.config.ts): what the other files of that
// project do not cover, through PgBouncer in transaction mode.
const db = useTestDatabase()
let store: EventStore<typeof bankEvents>

beforeAll(async () => {
  store = await db.store({ events: bankEvents })
})

async function adminConsole<T extends pg.QueryResultRow>(command: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: databaseUrl(inject('poolerUrl'), 'pgbouncer') })
  await client.connect()
  try {
    return (await client.query<T>(command)).rows
  } finally {
    await client.end()
  }
}

describe('through PgBouncer in transaction mode', () => {
  it("the store's connections go through the pooler", async () => {
    expect(db.viaPooler).toBe(true)
    await store.appendToStream(`account-${randomUUID()}`, [
      { type: 'Opened', data: { owner: 'a' } },
    ])
    const clients = await adminConsole<{ database: string }>('SHOW CLIENTS')
    expect(clients.some((c) => c.database === db.name)).toBe(true)
  })

  it('a live subscription (listen: false) delivers every event once, in order, by polling', async () => {
    const from = await store.headPosition()
    const seen: RecordedEvent[] = []
    const subscription = store
      .subscribeToAll({ from, pollIntervalMs: 50 })
      .subscribe((e) => void seen.push(e))
    try {
      const streams = Array.from({ length: 4 }, () => `account-${randomUUID()}`)
      await Promise.all(
        streams.map(async (s) => {
          for (let i = 0; i < 10; i++)
            await store.appendToStream(s, [{ type: 'Deposited', data: { amount: i } }])
        }),
      )
      const page = await store.readAll({ after: from, limit: 1000 })
      await waitFor(() => seen.length >= page.events.length, { message: 'subscriber caught up' })
      expect(seen.map((e) => e.id)).toEqual(page.events.map((e) => e.id))
    } finally {
      subscription.unsubscribe()
    }
  })

  it('with listen: true through the pooler, no event is lost: a typed error, or delivery by polling', async () => {
    // LISTEN through a transaction-mode pooler hears nothing: its session goes back to the pool.
    // Today subscriptions then poll; a store that detects the pooler may refuse with a typed
    // error instead. Either is fine; a silent stall or a lost event is not.
    const listening = createEventStore(
      { connectionString: db.url },
      { events: bankEvents, listen: true },
    )
    const from = await listening.headPosition()
    const seen: RecordedEvent[] = []
    let failure: unknown
    const subscription = listening.subscribeToAll({ from, pollIntervalMs: 100 }).subscribe({
      next: (e) => void seen.push(e),
      error: (error: unknown) => (failure = error),
    })
    try {
      const stream = `account-${randomUUID()}`
      for (let i = 0; i < 5; i++)
        await listening.appendToStream(stream, [{ type: 'Deposited', data: { amount: i } }])
      await waitFor(() => seen.length >= 5 || failure !== undefined, {
        message: 'delivery or a typed error',
      })
      if (failure !== undefined) expect(isStrataError(failure)).toBe(true)
      else expect(seen.map((e) => e.data)).toEqual([0, 1, 2, 3, 4].map((amount) => ({ amount })))
    } finally {
      subscription.unsubscribe()
      await listening.close()
    }
  })

  it('a projection runner applies every event exactly once (its lease is a row, not a session lock)', async () => {
    const accounts = Array.from({ length: 3 }, () => `account-${randomUUID()}`)
    for (const a of accounts) {
      await store.appendToStream(a, [{ type: 'Opened', data: { owner: a.slice(-4) } }])
      for (let i = 1; i <= 5; i++)
        await store.appendToStream(a, [{ type: 'Deposited', data: { amount: i } }])
    }
    const name = `pooled_${randomUUID().slice(0, 8)}`
    const runner = store.runProjection(balances(1, { name }), { pollIntervalMs: 50 })
    try {
      const expected = JSON.stringify(
        [...(await foldBalances(store))].sort(([x], [y]) => (x < y ? -1 : 1)),
      )
      await waitFor(
        async () => JSON.stringify([...(await readBalances(store, name))]) === expected,
        {
          message: 'read model equals a fold',
        },
      )
    } finally {
      await runner.stop()
    }
  })

  it('a task queue sends and consumes through the pooler', async () => {
    const queue = store.queue<{ n: number }>(`q-${randomUUID().slice(0, 8)}`)
    for (let n = 0; n < 5; n++) await queue.send({ n })
    const got: number[] = []
    const consumer = queue.consume((task) => void got.push(task.payload.n))
    try {
      await waitFor(() => got.length === 5, { message: 'five tasks' })
      expect(got.sort()).toEqual([0, 1, 2, 3, 4])
    } finally {
      await consumer.stop()
    }
  })

  it('named prepared statements: refused by this pooler, the store falls back to unnamed ones and nothing is lost', async () => {
    // PgBouncer 1.18 in transaction mode keeps no statements per client: a statement parsed in
    // one transaction is gone (26000), or already there (42P05), in the next.
    const named = await db.store({ events: bankEvents, preparedStatements: true })
    const streams = Array.from({ length: 6 }, () => `account-${randomUUID()}`)
    await Promise.all(
      streams.map(async (s) => {
        for (let i = 0; i < 15; i++)
          await named.appendToStream(s, [{ type: 'Deposited', data: { amount: i } }], {
            expectedVersion: BigInt(i),
          })
      }),
    )
    for (const s of streams) {
      const read = await named.readStream(s)
      expect(read.map((e) => e.version)).toEqual(
        Array.from({ length: 15 }, (_, i) => BigInt(i + 1)),
      )
    }
  })
})
