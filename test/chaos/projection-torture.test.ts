import { randomUUID } from 'node:crypto'
import { beforeAll, describe, expect, it } from 'vitest'
import { defineProjection, type EventStore } from '../../src/index.js'
import { balances, bankEvents, foldBalances, readBalances } from '../projections/fixtures.js'
import { useTestDatabase } from '../support/test-database.js'
import { sleep, waitFor } from '../support/wait-for.js'

const db = useTestDatabase()
let store: EventStore<typeof bankEvents>

beforeAll(async () => {
  store = await db.store({ events: bankEvents })
})

/** Appends random account activity until stopped. */
function activity(accounts: string[]) {
  let running = true
  const done = (async () => {
    for (const a of accounts)
      await store.appendToStream(a, [{ type: 'Opened', data: { owner: a.slice(-4) } }])
    while (running) {
      const a = accounts[Math.floor(Math.random() * accounts.length)]!
      const type = Math.random() < 0.7 ? ('Deposited' as const) : ('Withdrawn' as const)
      await store.appendToStream(a, [
        { type, data: { amount: 1 + Math.floor(Math.random() * 50) } },
      ])
      // Paced, so a rebuild always catches up however busy the machine is (an unpaced writer
      // on two shared cores can outrun a runner reading 25 events a batch).
      await sleep(2)
    }
  })()
  done.catch(() => undefined) // a test that timed out closes the store under it
  return {
    stop: async () => {
      running = false
      await done
    },
  }
}

const sameAsFold = async (name: string, factor = 1) => {
  const expected = [...(await foldBalances(store, factor))].sort(([x], [y]) => (x < y ? -1 : 1))
  const actual = [...(await readBalances(store, name))]
  return JSON.stringify(actual) === JSON.stringify(expected)
}

describe('projections under failure', () => {
  it('a handler crashing between its writes and the commit: the read model equals a rebuild from scratch', async () => {
    const accounts = Array.from({ length: 5 }, () => `account-${randomUUID()}`)
    const load = activity(accounts)
    let crashes = 0
    const base = balances(1, { name: 'crashy' })
    // The same projection, but its connection is killed after some writes, before the commit.
    const crashy = defineProjection({
      ...base,
      handlers: {
        ...base.handlers,
        Deposited: async (event, rm) => {
          await base.handlers.Deposited!(event, rm)
          if (crashes < 12 && Math.random() < 0.05) {
            crashes++
            await rm.executeQuery({
              sql: 'SELECT pg_terminate_backend(pg_backend_pid())',
              parameters: [],
              query: { kind: 'RawNode', sqlFragments: [], parameters: [] },
              queryId: { queryId: 'crash' },
            } as never)
          }
        },
      },
    })
    const runner = store.runProjection(crashy, { batchSize: 20, pollIntervalMs: 50 })
    try {
      // Until a few crashes happened (however slow the machine), then a little more load.
      await waitFor(() => crashes >= 3, { timeoutMs: 30_000, message: 'three crashes' })
      await sleep(300)
      await load.stop()
      await waitFor(() => sameAsFold('crashy'), {
        timeoutMs: 30_000,
        intervalMs: 250,
        message: 'read model equals the fold',
      })
      expect(crashes).toBeGreaterThan(0)
    } finally {
      await runner.stop()
    }
  })

  it('two runners for one projection: only one applies; stop it and the other takes over', async () => {
    const accounts = Array.from({ length: 4 }, () => `account-${randomUUID()}`)
    const load = activity(accounts)
    const projection = balances(1, { name: 'duo' })
    const first = store.runProjection(projection, { leaseMs: 1000, pollIntervalMs: 50 })
    const second = store.runProjection(projection, { leaseMs: 1000, pollIntervalMs: 50 })
    try {
      await waitFor(
        () =>
          [first.state, second.state].includes('live') &&
          [first.state, second.state].includes('standby'),
      )
      const [leader, standby] = first.state === 'live' ? [first, second] : [second, first]
      const [status] = await store.projectionStatus('duo')
      expect(status!.leaseOwner).toBe(leader.owner)
      await sleep(500)
      expect(standby.state).toBe('standby')
      await leader.stop() // releases the lease at once
      await waitFor(() => standby.state === 'live' || standby.state === 'catching-up', {
        timeoutMs: 5000,
      })
      expect((await store.projectionStatus('duo'))[0]!.leaseOwner).toBe(standby.owner)
      await sleep(300)
      await load.stop()
      // Each event applied exactly once: the per-account event counts and balances match the log.
      await waitFor(() => sameAsFold('duo'), { timeoutMs: 20_000, intervalMs: 250 })
    } finally {
      await first.stop()
      await second.stop()
    }
  })

  it('a standby takes over within seconds when the active runner dies without releasing its lease', async () => {
    const projection = balances(1, { name: 'orphan' })
    const first = store.runProjection(projection, { leaseMs: 1000, pollIntervalMs: 50 })
    await waitFor(() => first.state === 'live')
    // Simulate a crash: the runner's process stops renewing (kill its connection and abort it
    // without releasing; the lease row still names it until it expires).
    await db.query(
      `UPDATE strata.projections SET lease_until = clock_timestamp() + interval '1 second' WHERE name = 'orphan'`,
    )
    const dead = first.owner
    await db.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'strata projection'`,
    )
    await first.stop().catch(() => undefined)
    await db.query(
      `UPDATE strata.projections SET lease_owner = $1, lease_until = clock_timestamp() + interval '1 second' WHERE name = 'orphan'`,
      [dead],
    )
    const second = store.runProjection(projection, { leaseMs: 1000, pollIntervalMs: 50 })
    try {
      await waitFor(() => second.state === 'live', {
        timeoutMs: 5000,
        message: 'standby took over',
      })
      expect((await store.projectionStatus('orphan'))[0]!.leaseOwner).toBe(second.owner)
    } finally {
      await second.stop()
    }
  })

  it('a rebuild while appends continue switches only when caught up, and equals a fold from scratch', async () => {
    const accounts = Array.from({ length: 6 }, () => `account-${randomUUID()}`)
    const load = activity(accounts)
    const v1 = store.runProjection(balances(1, { name: 'blue_green' }), { pollIntervalMs: 50 })
    try {
      await waitFor(() => v1.state === 'live')
      await sleep(300)
      // Version 2 doubles every amount: its tables are built beside version 1's.
      const v2 = store.runProjection(balances(2, { name: 'blue_green', factor: 2 }), {
        pollIntervalMs: 50,
        batchSize: 25,
      })
      let servingChecked = false
      try {
        const deadline = Date.now() + 40_000
        while (v2.state !== 'live') {
          if (Date.now() > deadline) throw new Error(`version 2 still ${v2.state} after 40 s`)
          const statuses = await store.projectionStatus('blue_green')
          const two = statuses.find((s) => s.version === 2)
          if (two?.status === 'building') {
            // Until version 2 has caught up, version 1 serves.
            expect(statuses.find((s) => s.version === 1)?.status).toBe('active')
            servingChecked = true
          }
          await sleep(20)
        }
        expect(servingChecked).toBe(true)
        const statuses = await store.projectionStatus('blue_green')
        expect(statuses.map((s) => [s.version, s.status])).toEqual([
          [1, 'retired'],
          [2, 'active'],
        ])
        await waitFor(() => v1.state === 'retired')
        await load.stop()
        await waitFor(() => sameAsFold('blue_green', 2), {
          timeoutMs: 20_000,
          intervalMs: 250,
          message: 'v2 equals the fold',
        })
      } finally {
        await v2.stop()
      }
    } finally {
      await load.stop()
      await v1.stop()
    }
  })
})
