import pg from 'pg'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import type { EventStore } from '../../src/index.js'
import { databaseUrl, useTestDatabase } from '../support/test-database.js'
import { waitFor } from '../support/wait-for.js'
import { aCategory, aGroupName } from './helpers.js'

const db = useTestDatabase()
let store: EventStore
/** One session straight to the server (not the pooler): its plans and its statistics. */
let session: pg.Client
let observer: pg.Client

beforeAll(async () => {
  store = await db.store()
  session = new pg.Client({ connectionString: databaseUrl(inject('serverUrl'), db.name) })
  observer = new pg.Client({ connectionString: databaseUrl(inject('serverUrl'), db.name) })
  await Promise.all([session.connect(), observer.connect()])
})

afterAll(async () => {
  await Promise.all([session?.end(), observer?.end()])
})

/** Index scans of the group window's indexes so far, as the statistics system counts them. */
async function indexScans(): Promise<Record<string, number>> {
  const { rows } = await observer.query<{ name: string; scans: string }>(
    `SELECT indexrelname AS name, idx_scan AS scans FROM pg_stat_user_indexes
      WHERE schemaname = 'strata' AND relname = 'consumer_group_messages'`,
  )
  return Object.fromEntries(rows.map((r) => [r.name, Number(r.scans)]))
}

describe('claim plans', () => {
  it('a per-stream claim planned on an empty window probes the stream index, never the primary key, once the window fills', async () => {
    const group = store.consumerGroup(aGroupName(), {
      source: { category: aCategory('plan') },
      strategy: 'per-stream',
    })
    await group.ensure()
    const [{ id }] = (
      await session.query<{ id: number }>('SELECT id FROM strata.consumer_groups WHERE name = $1', [
        group.name,
      ])
    ).rows as [{ id: number }]
    const claim = () =>
      session.query<{ position: string | null }>(
        `SELECT position FROM strata.consumer_group_claim($1, gen_random_uuid(), gen_random_uuid(),
                                                          100, 30000, true, true, NULL, NULL)`,
        [id],
      )
    // What a group that drained and vacuumed itself leaves: an empty window, its statistics
    // saying so, and a consumer whose claims (planned once per session) found nothing. Then a
    // backlog: 200 streams, 10 messages each, interleaved (the claim's event lookup is a LEFT
    // JOIN, so the messages need no events for this).
    await session.query('VACUUM ANALYZE strata.consumer_group_messages')
    await claim()
    await session.query(
      `INSERT INTO strata.consumer_group_messages (group_id, position, stream_id, per_stream, available_at)
       SELECT $1, 1000000 + k * 200 + s, 'plan-' || s, true, now() - interval '1 minute'
         FROM generate_series(0, 9) k, generate_series(0, 199) s`,
      [id],
    )
    const before = await indexScans()
    const { rows } = await claim()
    await session.query('SELECT pg_stat_force_next_flush()')
    const streamIndex = 'consumer_group_messages_stream_idx'
    const after = await waitFor(
      async () => {
        const now = await indexScans()
        return (now[streamIndex] ?? 0) > (before[streamIndex] ?? 0) ? now : undefined
      },
      { message: "the claim's scans counted" },
    )
    // Each stream's oldest message, and nothing behind one.
    const claimed = rows.filter((r) => r.position !== null).map((r) => Number(r.position))
    expect(claimed).toHaveLength(100)
    expect(claimed.every((p) => p < 1000200)).toBe(true)
    // The probe of every walked message went to the stream index; the primary key (position,
    // group_id) would have read the whole window for each. (Which of the two a plan made on an
    // empty window picked depended on the indexes' sizes then: seen in the bench, one drain in
    // seventy, not reproduced here. Since migrations/0018 the probe has no condition on the
    // primary key's columns, so this holds whatever the sizes.)
    expect(after['consumer_group_messages_pkey']).toBe(before['consumer_group_messages_pkey'])
  })
})
