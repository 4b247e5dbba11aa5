import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  createEventStore,
  type EventStore,
  type StrataLogger,
  type SubscriptionRetry,
} from '../../src/index.js'
import { feedSettings } from '../../src/subscriptions/event-feed.js'
import { aStreamId } from '../support/factories.js'
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js'
import { useTestDatabase } from '../support/test-database.js'
import { terminate } from '../support/torture.js'
import { waitFor } from '../support/wait-for.js'

// Issue 22: a live subscription outlives an outage of Postgres, however long, by default.
const db = useTestDatabase()
let direct: EventStore
let proxy: TcpProxy
let viaProxy: EventStore
const lines: Array<{ level: string; message: string | undefined }> = []

beforeAll(async () => {
  direct = await db.store()
  proxy = await startTcpProxy(db.url)
  const line =
    (level: string) =>
    (_fields: object, message?: string): void =>
      void lines.push({ level, message })
  const logger: StrataLogger = {
    debug: line('debug'),
    info: line('info'),
    warn: line('warn'),
    error: line('error'),
  }
  viaProxy = createEventStore({ connectionString: proxy.url }, { migrate: 'off', logger })
})

afterAll(async () => {
  await viaProxy.close()
  await proxy.close()
})

async function append(category: string, n: number): Promise<bigint[]> {
  const positions: bigint[] = []
  for (let i = 0; i < n; i++) {
    const { position } = await direct.appendToStream(aStreamId(category), [
      { type: 'T', data: { i } },
    ])
    positions.push(position)
  }
  return positions
}

describe('subscriptions during an outage', () => {
  it('retry forever by default', () => {
    expect(feedSettings({}).retry).toMatchObject({ maxAttempts: Infinity, maxMs: 30_000 })
  })

  it('resume after dropped connections and a refusal longer than the old give-up window, skipping and repeating nothing', async () => {
    const category = 'outage'
    const seen: bigint[] = []
    const seenByDefault: bigint[] = []
    const retries: SubscriptionRetry[] = []
    const failures: unknown[] = []
    // Small delays so 30+ attempts fit in a moment; no maxAttempts: the default (forever).
    const fast = viaProxy
      .subscribeToCategory(category, {
        retry: { initialMs: 5, maxMs: 20, onRetry: (r) => void retries.push(r) },
      })
      .subscribe({ next: (e) => void seen.push(e.position), error: (e) => failures.push(e) })
    const byDefault = viaProxy.subscribeToCategory(category).subscribe({
      next: (e) => void seenByDefault.push(e.position),
      error: (e) => failures.push(e),
    })
    const expected = await append(category, 5)
    await waitFor(() => seen.length === 5 && seenByDefault.length === 5, { message: 'caught up' })

    // Connections dropped over and over, between appends.
    for (let round = 0; round < 5; round++) {
      expected.push(...(await append(category, 2)))
      await terminate(db, 'strata subscription')
    }
    await waitFor(() => seen.length === expected.length, { message: 'after the terminations' })

    // The server refuses connections for longer than the old policy's 20 attempts.
    await proxy.refuse()
    const outageStart = retries.length
    expected.push(...(await append(category, 5)))
    await waitFor(() => retries.length - outageStart >= 30, { message: '30 failed attempts' })
    const during = retries.slice(outageStart)
    expect(during[0]!.attempt).toBe(1)
    expect(during.at(-1)!.attempt).toBeGreaterThanOrEqual(30)
    expect(during.every((r) => r.delayMs <= 20)).toBe(true)
    expect(failures).toEqual([])
    await proxy.accept()

    await waitFor(
      () => seen.length === expected.length && seenByDefault.length === expected.length,
      { message: 'resumed after the outage', timeoutMs: 30_000 },
    )
    fast.unsubscribe()
    byDefault.unsubscribe()
    expect(seen).toEqual(expected)
    expect(seenByDefault).toEqual(expected)
    expect(failures).toEqual([])
    expect(lines).toContainEqual({ level: 'warn', message: 'subscription reconnecting' })
    expect(lines).toContainEqual({ level: 'info', message: 'subscription reconnected' })
  })

  it('a finite policy still ends the subscription', async () => {
    await proxy.refuse()
    try {
      const error = await new Promise<unknown>((resolve) => {
        viaProxy
          .subscribeToAll({ from: 'end', retry: { maxAttempts: 3, initialMs: 1, maxMs: 5 } })
          .subscribe({ error: resolve })
      })
      expect(error).toMatchObject({ code: 'SUBSCRIPTION', attempts: 3 })
    } finally {
      await proxy.accept()
    }
  })
})
