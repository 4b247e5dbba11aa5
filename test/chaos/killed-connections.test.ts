import { randomUUID } from 'node:crypto'
import { beforeAll, describe, expect, it } from 'vitest'
import type { EventStore, RecordedEvent } from 'pg-strata'
import { balances, bankEvents, foldBalances, readBalances } from '../projections/fixtures.js'
import {
  checkAppends,
  NON_CONTIGUOUS_STREAMS,
  recordedWriters,
} from '../support/recorded-writers.js'
import { committedIds, terminate } from '../support/torture.js'
import { useTestDatabase } from '../support/test-database.js'
import { sleep, waitFor } from '../support/wait-for.js'

// The other chaos files kill one kind of connection under one kind of load (subscription-torture:
// a subscriber's; projection-torture: a runner's). Here everything runs at once, appends, a live
// subscription, a projection runner and a consumer group, while a loop terminates the store's
// backends with pg_terminate_backend: one kind at a time by application_name, or all of them.

const db = useTestDatabase()
let store: EventStore<typeof bankEvents>

beforeAll(async () => {
  store = await db.store({ events: bankEvents })
})

const KINDS = ['strata subscription', 'strata projection', 'strata listener', undefined] as const

describe('killed connections, everything running at once', () => {
  it('appends, a live subscription, a projection and a consumer group all come through unharmed', async () => {
    const seen: RecordedEvent[] = []
    let subscriptionError: unknown
    const subscription = store.subscribeToAll({ pageSize: 50 }).subscribe({
      next: (event) => void seen.push(event),
      error: (error: unknown) => (subscriptionError = error),
    })
    const name = `killed_${randomUUID().slice(0, 8)}`
    const runner = store.runProjection(balances(1, { name }), { batchSize: 20, pollIntervalMs: 50 })
    const group = store.consumerGroup(`killed-${randomUUID().slice(0, 8)}`, { source: 'all' })
    const handled = new Map<string, number>()
    const consumers = [1, 2].map(() =>
      group.consume((e) => void handled.set(e.id, (handled.get(e.id) ?? 0) + 1), {
        concurrency: 3,
      }),
    )
    // Accounts are opened first so that the projection's fold has rows to update.
    const accounts = Array.from({ length: 6 }, (_, w) => `acct${w}`)
    for (let w = 0; w < accounts.length; w++)
      for (const s of ['0', '1', '2', 'x'])
        await store.appendToStream(`${accounts[w]}-${s}`, [
          { type: 'Opened', data: { owner: `o${w}` } },
        ])

    const writers = recordedWriters(store, {
      writers: accounts.length,
      prefix: 'acct',
      event: (w, i, k) =>
        (i + k) % 4 === 0
          ? { type: 'Withdrawn', data: { amount: 1 + w } }
          : { type: 'Deposited', data: { amount: 1 + ((i + k) % 50) } },
    })
    let kills = 0
    const byKind = new Map<string, number>()
    try {
      for (let round = 0; round < 12; round++) {
        await sleep(200 + Math.random() * 300)
        const kind = KINDS[round % KINDS.length]
        const n = await terminate(db, kind)
        kills += n
        byKind.set(kind ?? 'all', (byKind.get(kind ?? 'all') ?? 0) + n)
      }
      await sleep(300)
    } finally {
      await writers.stop()
    }

    try {
      const committed = await committedIds(db)
      const { resolved, rejected, untried } = checkAppends(writers.attempts, committed)
      // The Opened events were appended by the test itself, before the writers.
      expect(untried.length).toBe(accounts.length * 4)
      expect(await db.query(NON_CONTIGUOUS_STREAMS())).toEqual([])

      await waitFor(() => seen.length >= committed.length || subscriptionError !== undefined, {
        timeoutMs: 30_000,
        message: 'subscription caught up',
      })
      expect(subscriptionError).toBeUndefined()
      await sleep(200)
      expect(seen.map((e) => e.id)).toEqual(committed)

      const expected = JSON.stringify(
        [...(await foldBalances(store))].sort(([x], [y]) => (x < y ? -1 : 1)),
      )
      await waitFor(
        async () => JSON.stringify([...(await readBalances(store, name))]) === expected,
        {
          timeoutMs: 30_000,
          message: 'read model equals a fold from scratch',
        },
      )
      expect(['live', 'catching-up']).toContain(runner.state)

      await waitFor(() => committed.every((id) => handled.has(id)), {
        timeoutMs: 30_000,
        message: 'group handled every committed event',
      })
      for (const c of consumers) expect(c.running).toBe(true)

      console.log(
        `[killed-connections] ${JSON.stringify({
          kills,
          byKind: Object.fromEntries(byKind),
          appends: { resolved: resolved.length, rejected: rejected.length },
          events: committed.length,
          groupRedeliveries: [...handled.values()].filter((n) => n > 1).length,
        })}`,
      )
      expect(kills).toBeGreaterThan(10)
      expect(resolved.length).toBeGreaterThan(50)
    } finally {
      subscription.unsubscribe()
      await runner.stop()
      await Promise.all(consumers.map((c) => c.stop()))
    }
  })
})
