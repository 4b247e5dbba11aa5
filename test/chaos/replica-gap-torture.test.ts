import { randomUUID } from 'node:crypto'
import pg from 'pg'
import { beforeAll, describe, expect, it } from 'vitest'
import type { EventStore, RecordedEvent } from '../../src/index.js'
import { useReplicaCluster } from '../support/replica-cluster.js'
import { committedIds, installAppendDelays, tortureWriters } from '../support/torture.js'
import { sleep, waitFor } from '../support/wait-for.js'

// The gap torture test (gap-torture.test.ts) with the reader on a streaming replica: the
// published horizon must keep the guarantee there (docs/guarantees.md, "Reading from replicas").

const cluster = useReplicaCluster()
let store: EventStore

beforeAll(async () => {
  store = await cluster.store({
    // A short publication interval makes gaps above the published horizon frequent.
    replicas: {
      connections: { connectionString: cluster.replicaUrl },
      publishIntervalMs: 20,
      fallback: 'error',
      maxLagMs: 20_000,
    },
  })
  await installAppendDelays(cluster.primary)
})

/** Pages $all on the replica until `target()` is known and reached; returns everything seen. */
async function readEverything(target: () => bigint | undefined, filtered: boolean) {
  const seen: RecordedEvent[] = []
  let after = 0n
  for (;;) {
    const until = target()
    const page = await store.readAll({
      after,
      limit: 1 + Math.floor(Math.random() * 60),
      maxWaitMs: Math.random() < 0.5 ? 0 : 50,
      readFrom: 'replica',
      ...(filtered ? { filter: { eventTypes: ['T', 'Slow', 'Stale', 'Killed'] } } : {}),
    })
    for (const e of page.events) seen.push(e)
    after = page.lastPosition
    if (until !== undefined && after >= until) return seen
    if (page.events.length === 0) await sleep(2)
  }
}

describe('readAll on a replica under concurrent writers (gap torture)', () => {
  it('sees every committed event exactly once, in increasing position, and no rolled-back one', async () => {
    const end: { position?: bigint } = {}
    let killed = 0
    const killedIds = new Set<string>()

    // One append killed by pg_terminate_backend while it sleeps inside its transaction.
    const victim = async () => {
      const client = new pg.Client({ connectionString: cluster.primary.url })
      client.on('error', () => undefined)
      await client.connect()
      const pid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!
        .pid
      const id = randomUUID()
      killedIds.add(id)
      await client.query('BEGIN')
      const pending = store
        .appendToStream('victim', [{ id, type: 'Killed', data: { sleepMs: 1500 } }], {
          transaction: client,
        })
        .catch(() => 'killed')
      await sleep(300)
      await cluster.primary.query('SELECT pg_terminate_backend($1)', [pid])
      killed++
      expect(await pending).toBe('killed')
      await client.end().catch(() => undefined)
    }

    // A live subscription on the replica as well: the feed path, wake-ups from the primary.
    const live: RecordedEvent[] = []
    const subscription = store
      .subscribeToAll({ from: 'start', readFrom: 'replica', pageSize: 37 })
      .subscribe((event) => live.push(event))

    // A consumer group admitted from the replica (per-stream, to exercise the hold rules too).
    const consumed: string[] = []
    const group = store.consumerGroup('replica-torture', {
      source: 'all',
      strategy: 'per-stream',
      readFrom: 'replica',
      windowSize: 64,
      pollIntervalMs: 50,
    })
    const consumer = group.consume(
      (event) => {
        consumed.push(event.id)
      },
      { concurrency: 8 },
    )

    const unfiltered = readEverything(() => end.position, false)
    const filtered = readEverything(() => end.position, true)
    const [{ forbidden, conflicts }] = await Promise.all([
      tortureWriters(cluster.primary, store, { writers: 16, durationMs: 5000 }),
      victim(),
    ])
    const committed = await committedIds(cluster.primary)
    const rows = await cluster.primary.query<{ max: string }>(
      'SELECT max(position)::text AS max FROM strata.events',
    )
    end.position = BigInt(rows[0]!.max)
    const [seen, seenFiltered] = await Promise.all([unfiltered, filtered])
    await waitFor(() => live.length >= committed.length, { timeoutMs: 30_000 })
    subscription.unsubscribe()
    await waitFor(() => consumed.length >= committed.length, { timeoutMs: 30_000 })
    await consumer.stop()

    expect(committed.length).toBeGreaterThan(200)
    expect(conflicts).toBeGreaterThan(0)
    expect(killed).toBe(1)
    for (const events of [seen, seenFiltered, live]) {
      for (let i = 1; i < events.length; i++)
        expect(events[i]!.position).toBeGreaterThan(events[i - 1]!.position)
      for (const e of events) expect(forbidden.has(e.id) || killedIds.has(e.id)).toBe(false)
    }
    expect(seen.map((e) => e.id)).toEqual(committed)
    expect(live.map((e) => e.id)).toEqual(committed)
    // At-least-once in general; with no failure here, exactly once.
    expect([...consumed].sort()).toEqual([...committed].sort())
    const types = await cluster.primary.query<{ id: string }>(
      `SELECT id FROM strata.events WHERE type = ANY ($1) ORDER BY position`,
      [['T', 'Slow', 'Stale', 'Killed']],
    )
    expect(seenFiltered.map((e) => e.id)).toEqual(types.map((r) => r.id))
  })
})
