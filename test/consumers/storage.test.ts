import { beforeAll, describe, expect, it } from 'vitest'
import type { EventStore } from '../../src/index.js'
import { waitFor } from '../support/wait-for.js'
import { useTestDatabase } from '../support/test-database.js'
import { aCategory, aGroupName, appendInterleaved, sleep, waitUntilDrained } from './helpers.js'

const db = useTestDatabase()
let store: EventStore

beforeAll(async () => {
  store = await db.store()
})

const tables = [
  'consumer_groups',
  'consumer_group_messages',
  'consumer_group_consumers',
  'consumer_group_throttles',
]

/**
 * Waits until no other transaction of this database still holds a snapshot from before now, so
 * that VACUUM may remove every row deleted so far (a busy machine can leave some transaction of
 * the consumers, or of this file's pool, open for a while; autovacuum would simply come later).
 */
async function horizonPassed(): Promise<void> {
  const [now] = await db.query<{ xid: string }>('SELECT pg_current_xact_id()::xid::text AS xid')
  await waitFor(async () => {
    const [row] = await db.query<{ older: string }>(
      `SELECT count(*) AS older FROM pg_stat_activity
        WHERE pid <> pg_backend_pid() AND (datname = current_database() OR datname IS NULL)
          AND backend_xmin IS NOT NULL AND age(backend_xmin) >= age($1::xid)`,
      [now!.xid],
    )
    return row!.older === '0'
  }).catch(() => undefined) // past 10 s, vacuum anyway: as before this wait
}

async function groupStorage(): Promise<{ rows: number; bytes: number }> {
  let rows = 0
  let bytes = 0
  for (const table of tables) {
    const [r] = await db.query<{ rows: string; bytes: string }>(
      `SELECT (SELECT count(*) FROM strata.${table}) AS rows,
              pg_total_relation_size('strata.${table}') AS bytes`,
    )
    rows += Number(r!.rows)
    bytes += Number(r!.bytes)
  }
  return { rows, bytes }
}

describe('storage', () => {
  it("keeps the group's tables bounded: acked work leaves no rows, and size does not grow with deliveries", async () => {
    const category = aCategory('bulk')
    const windowSize = 300
    const group = store.consumerGroup(aGroupName(), { source: { category }, windowSize })
    const consumers = [1, 2].map(() =>
      group.consume(() => undefined, { concurrency: 8, prefetch: 50 }),
    )
    let largestWindow = 0
    /** Samples the window's size until `work` settles; no sample is in flight afterwards. */
    const sampledWhile = async (work: Promise<unknown>) => {
      let sampling = true
      const sampler = (async () => {
        while (sampling) {
          const [row] = await db.query<{ n: string }>(
            'SELECT count(*) AS n FROM strata.consumer_group_messages',
          )
          largestWindow = Math.max(largestWindow, Number(row!.n))
          await sleep(5)
        }
      })()
      try {
        await work
      } finally {
        sampling = false
        await sampler
      }
    }
    const round = async (r: number) => {
      // 2,500 events per round: 50 streams, 50 events per append.
      await sampledWhile(
        (async () => {
          await Promise.all(
            Array.from({ length: 50 }, (_, s) =>
              store.appendToStream(
                `${category}-${s}`,
                Array.from({ length: 50 }, (_, i) => ({ type: 'Counted', data: { r, i } })),
              ),
            ),
          )
          await waitUntilDrained(group, { timeoutMs: 30_000 })
        })(),
      )
      // What autovacuum does meanwhile. Run with no sampler snapshot open (one would keep this
      // round's dead rows), and twice: the second recycles the index pages the first emptied.
      await horizonPassed()
      await db.query('VACUUM strata.consumer_group_messages')
      await db.query('VACUUM strata.consumer_group_messages')
      return groupStorage()
    }
    const sizes: number[] = []
    for (let r = 0; r < 5; r++) sizes.push((await round(r)).bytes)
    // 12,500 deliveries left one group row and two registered consumers: no message rows.
    expect((await groupStorage()).rows).toBe(3)
    // The window never held more than windowSize messages...
    expect(largestWindow).toBeLessThanOrEqual(windowSize)
    // ...and the tables stop growing: index pages emptied by one VACUUM are reused after the
    // next, so after the second round the size stays put however many more deliveries follow.
    // Growth with deliveries would add a round's rows (2,500, over 350 KB with indexes) per
    // round, three times over; the slack only absorbs a VACUUM that could not truncate while
    // other test files keep the server busy.
    expect(Math.max(...sizes.slice(2))).toBeLessThanOrEqual(sizes[1]! * 1.5 + 256 * 1024)
    await Promise.all(consumers.map((c) => c.stop()))
    expect((await groupStorage()).rows).toBe(1)
  })
})

describe('connections', () => {
  it('releases every connection on stop and close: LISTEN included', async () => {
    const countConnections = async () => {
      const [row] = await db.query<{ n: string; listening: string }>(
        `SELECT count(*) AS n, count(*) FILTER (WHERE query ILIKE 'LISTEN%') AS listening
           FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`,
      )
      return { n: Number(row!.n), listening: Number(row!.listening) }
    }
    await sleep(100)
    const before = await countConnections()
    const own = await db.store()
    const category = aCategory('conn')
    await appendInterleaved(own, category, 5, 5)
    const group = own.consumerGroup(aGroupName(), { source: { category } })
    const consumers = [1, 2, 3].map(() => group.consume(() => undefined, { concurrency: 4 }))
    await waitUntilDrained(group)
    await waitFor(async () => (await countConnections()).listening === before.listening + 1)
    await Promise.all(consumers.map((c) => c.stop()))
    // No consumer left: the shared LISTEN connection is closed at once.
    await waitFor(async () => (await countConnections()).listening === before.listening, {
      message: 'LISTEN connection closed',
    })
    await own.close()
    await waitFor(async () => (await countConnections()).n <= before.n, {
      message: 'every connection released',
    })
  })
})
