import { randomUUID } from 'node:crypto'
import { beforeAll, describe, expect, it } from 'vitest'
import { sql } from 'kysely'
import {
  defineProjection,
  ProjectionFailedError,
  type EventStore,
  type ProjectionProgress,
} from '../../src/index.js'
import { useTestDatabase } from '../support/test-database.js'
import { waitFor } from '../support/wait-for.js'
import { balances, bankEvents, foldBalances, readBalances } from './fixtures.js'

const db = useTestDatabase()
let store: EventStore<typeof bankEvents>

beforeAll(async () => {
  store = await db.store({ events: bankEvents })
})

const account = () => `account-${randomUUID()}`

describe('a projection runner', () => {
  it('builds the read model from $all, activates when caught up, and follows live', async () => {
    const a = account()
    await store.appendToStream(a, [
      { type: 'Opened', data: { owner: 'ada' } },
      { type: 'Deposited', data: { amount: 100 } },
    ])
    const runner = store.runProjection(balances(1, { name: 'live_balances' }), {
      pollIntervalMs: 50,
    })
    try {
      await waitFor(
        async () =>
          (await readBalances(store, 'live_balances').catch(() => new Map())).get(a)?.balance ===
          100,
      )
      await store.appendToStream(a, [{ type: 'Withdrawn', data: { amount: 30 } }])
      await waitFor(async () => (await readBalances(store, 'live_balances')).get(a)?.balance === 70)
      expect(runner.state).toBe('live')
      const [status] = await store.projectionStatus('live_balances')
      expect(status).toMatchObject({
        name: 'live_balances',
        version: 1,
        status: 'active',
        paused: false,
        failure: null,
      })
      await waitFor(async () => (await store.projectionStatus('live_balances'))[0]!.behind === 0n)
      const readModel = await store.readModel(balances(1, { name: 'live_balances' }))
      const row = await readModel!
        .selectFrom('accounts')
        .selectAll()
        .where('id', '=', a)
        .executeTakeFirst()
      expect(row).toMatchObject({ owner: 'ada', balance: 70, events: 3 })
    } finally {
      await runner.stop()
    }
    expect(runner.state).toBe('stopped')
  })

  it('reports progress (done, total, rate, ETA) while catching up', async () => {
    for (let i = 0; i < 20; i++) {
      await store.appendToStream(account(), [
        { type: 'Opened', data: { owner: `o${i}` } },
        { type: 'Deposited', data: { amount: i } },
      ])
    }
    const runner = store.runProjection(balances(1, { name: 'progress_balances' }), { batchSize: 7 })
    const progress: bigint[] = []
    let last: ProjectionProgress | undefined
    runner.progress$.subscribe((p) => {
      progress.push(p.done)
      last = p
    })
    await waitFor(() => runner.state === 'live')
    await runner.stop()
    expect(progress.length).toBeGreaterThan(3)
    expect(last).toMatchObject({ etaSeconds: 0, rate: expect.any(Number) as number })
    expect(last!.done).toBe(last!.total)
    expect(last!.eta).toBeInstanceOf(Date)
    for (let i = 1; i < progress.length; i++)
      expect(progress[i]!).toBeGreaterThanOrEqual(progress[i - 1]!)
  })
})

describe('inline projections', () => {
  it('are applied in the append transaction: read-your-writes', async () => {
    await store.addInlineProjection(balances(1, { name: 'inline_balances' }))
    const a = account()
    await store.appendToStream(a, [
      { type: 'Opened', data: { owner: 'grace' } },
      { type: 'Deposited', data: { amount: 42 } },
    ])
    expect((await readBalances(store, 'inline_balances')).get(a)).toEqual({
      balance: 42,
      events: 2,
    })
    await store.appendToStreams([
      { streamId: a, events: [{ type: 'Withdrawn', data: { amount: 2 } }] },
    ])
    expect((await readBalances(store, 'inline_balances')).get(a)).toEqual({
      balance: 40,
      events: 3,
    })
    // Never behind: each append applied it in its own transaction.
    const [status] = await store.projectionStatus('inline_balances')
    expect(status).toMatchObject({ mode: 'inline', status: 'active', behind: 0n, secondsBehind: 0 })
    expect(status!.position).toBe(await store.headPosition())
  })
})

describe('hand-written SQL in a projection', () => {
  // Unqualified names in sql`…` resolve in the version's own schema, like the kysely builder's.
  const opened = (version: number, name: string) =>
    defineProjection<typeof bankEvents, { owners: { id: string; owner: string } }>({
      name,
      version,
      events: bankEvents,
      setup: async (rm) => {
        await sql`CREATE TABLE owners (id text PRIMARY KEY, owner text NOT NULL)`.execute(rm)
      },
      handlers: {
        Opened: async (event, rm) => {
          await sql`INSERT INTO owners VALUES (${event.streamId}, ${event.data.owner})`.execute(rm)
        },
      },
    })

  it('lands in the version schema for async runners, so two versions never share tables', async () => {
    const a = account()
    await store.appendToStream(a, [{ type: 'Opened', data: { owner: 'ada' } }])
    for (const version of [1, 2]) {
      const runner = store.runProjection(opened(version, 'raw_owners'))
      try {
        await waitFor(async () => {
          const rows = await db.query<{ n: string }>(
            `SELECT count(*) AS n FROM raw_owners_v${version}.owners WHERE id = $1`,
            [a],
          )
          return rows[0]!.n === '1'
        })
      } finally {
        await runner.stop()
      }
    }
    const leaked = await db.query(
      `SELECT 1 FROM information_schema.tables WHERE table_schema = 'public' AND table_name = 'owners'`,
    )
    expect(leaked).toEqual([])
  })

  it("inline: lands in the version schema and leaves the caller's search_path as it was", async () => {
    await store.addInlineProjection(opened(1, 'raw_inline_owners'))
    const a = account()
    const client = await db.pool.connect()
    try {
      await client.query('BEGIN')
      await client.query('SET LOCAL search_path TO pg_catalog, public')
      await store.appendToStream(a, [{ type: 'Opened', data: { owner: 'lin' } }], {
        transaction: client,
      })
      const { rows } = await client.query<{ path: string }>(
        `SELECT current_setting('search_path') AS path`,
      )
      expect(rows[0]!.path).toBe('pg_catalog, public')
      await client.query('COMMIT')
    } finally {
      client.release()
    }
    expect(
      await db.query('SELECT owner FROM raw_inline_owners_v1.owners WHERE id = $1', [a]),
    ).toEqual([{ owner: 'lin' }])
  })
})

describe('error policies', () => {
  const poisoned = (onError: 'stop' | 'skip', name: string) =>
    defineProjection({
      name,
      version: 1,
      onError,
      setup: async (db) => {
        await db.schema
          .createTable('seen')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .execute()
      },
      handlers: {
        Deposited: async (event, db) => {
          if ((event.data as { amount: number }).amount === 1313) throw new Error('unlucky amount')
          await db.insertInto('seen').values({ id: event.id }).execute()
        },
      },
    })

  it("'stop' records the failing position and error and stops there", async () => {
    const a = account()
    await store.appendToStream(a, [
      { type: 'Deposited', data: { amount: 1 } },
      { type: 'Deposited', data: { amount: 1313 } },
      { type: 'Deposited', data: { amount: 2 } },
    ])
    const runner = store.runProjection(poisoned('stop', 'stopping'))
    await expect(runner.done).rejects.toBeInstanceOf(ProjectionFailedError)
    expect(runner.state).toBe('failed')
    const [status] = await store.projectionStatus('stopping')
    expect(status!.failure).toMatchObject({ error: 'unlucky amount' })
    const events = await store.readStream(a)
    expect(status!.failure!.position).toBe(events[1]!.position)
    expect(status!.position).toBeLessThan(events[1]!.position)
    expect(status!.position).toBeGreaterThanOrEqual(events[0]!.position)
    const failures = await store.projectionFailures('stopping', 1)
    expect(failures).toMatchObject([
      { eventId: events[1]!.id, skipped: false, error: 'unlucky amount' },
    ])
  })

  it("'skip' records the event and moves on", async () => {
    const runner = store.runProjection(poisoned('skip', 'skipping'))
    await waitFor(() => runner.state === 'live')
    await runner.stop()
    const failures = await store.projectionFailures('skipping', 1)
    expect(failures.length).toBeGreaterThanOrEqual(1)
    expect(failures.every((f) => f.skipped && f.error === 'unlucky amount')).toBe(true)
    const [status] = await store.projectionStatus('skipping')
    expect(status!.failure).toBeNull()
  })

  it('a retry policy applies the event once the handler succeeds', async () => {
    let failuresLeft = 2
    const flaky = defineProjection({
      name: 'flaky',
      version: 1,
      onError: { retry: { maxAttempts: 5, initialMs: 10 } },
      setup: async (db) => {
        await db.schema
          .createTable('seen')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .execute()
      },
      handlers: {
        Opened: async (event, db) => {
          if (failuresLeft-- > 0) throw new Error('flaky')
          await db
            .insertInto('seen')
            .values({ id: event.id })
            .onConflict((oc) => oc.doNothing())
            .execute()
        },
      },
    })
    const runner = store.runProjection(flaky)
    await waitFor(() => runner.state === 'live')
    await runner.stop()
    const opened = (await store.readAll({ filter: { eventTypes: ['Opened'] }, limit: 10_000 }))
      .events.length
    const rows = await db.query<{ n: string }>('SELECT count(*) AS n FROM flaky.seen')
    expect(Number(rows[0]!.n)).toBe(opened)
    expect(await store.projectionFailures('flaky', 1)).toEqual([])
  })
})

describe('administration', () => {
  it('pause holds a runner still; resume lets it continue; reset replays from a position', async () => {
    const projection = balances(1, { name: 'admin_balances' })
    const runner = store.runProjection(projection, { pollIntervalMs: 50, leaseMs: 600 })
    try {
      await waitFor(() => runner.state === 'live')
      await store.pauseProjection('admin_balances')
      await waitFor(() => runner.state === 'paused')
      const a = account()
      await store.appendToStream(a, [{ type: 'Opened', data: { owner: 'x' } }])
      await store.resumeProjection('admin_balances')
      await waitFor(async () => (await readBalances(store, 'admin_balances')).has(a))
      await store.resetProjection('admin_balances', { version: 1 })
      await waitFor(
        async () => {
          const [expected, actual] = [
            await foldBalances(store),
            await readBalances(store, 'admin_balances').catch(() => null),
          ]
          const sorted = [...expected].sort(([x], [y]) => (x < y ? -1 : 1))
          return actual !== null && JSON.stringify([...actual]) === JSON.stringify(sorted)
        },
        { timeoutMs: 15_000 },
      )
    } finally {
      await runner.stop()
    }
  })

  it('refuses bad definitions', () => {
    expect(() =>
      defineProjection({ name: 'Bad-Name', version: 1, handlers: { A: () => undefined } }),
    ).toThrow(/name/)
    expect(() =>
      defineProjection({ name: 'ok', version: 0, handlers: { A: () => undefined } }),
    ).toThrow(/version/)
    expect(() => defineProjection({ name: 'ok', version: 1, handlers: {} })).toThrow(/at least one/)
    expect(() =>
      defineProjection({ name: 'ok', version: 1, handlers: { A: 'nope' as never } }),
    ).toThrow(/function/)
    expect(() =>
      defineProjection({
        name: 'ok',
        version: 1,
        handlers: { A: () => undefined },
        onError: 'explode' as never,
      }),
    ).toThrow(/onError/)
  })

  it('old code started after a newer version took over retires, and the log says why', async () => {
    const warnings: Array<{ fields: unknown; message: string | undefined }> = []
    const quiet = () => undefined
    const logger = {
      debug: quiet,
      info: quiet,
      error: quiet,
      warn: (fields: unknown, message?: string) => warnings.push({ fields, message }),
    }
    const v2 = store.runProjection(balances(2, { name: 'old_code' }), { pollIntervalMs: 50 })
    try {
      await waitFor(async () =>
        (await store.projectionStatus('old_code')).some(
          (s) => s.version === 2 && s.status === 'active',
        ),
      )
      const oldDeployment = await db.store({ events: bankEvents, logger })
      const v1 = oldDeployment.runProjection(balances(1, { name: 'old_code' }), {
        pollIntervalMs: 50,
      })
      await v1.done
      expect(v1.state).toBe('retired')
      expect(warnings).toContainEqual({
        fields: expect.objectContaining({ projection: 'old_code', version: 1, activeVersion: 2 }),
        message: expect.stringMatching(/old_code version 1 retired: version 2 is active/),
      })
    } finally {
      await v2.stop()
    }
  })
})
