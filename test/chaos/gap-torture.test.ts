import { randomUUID } from 'node:crypto'
import pg from 'pg'
import { beforeAll, describe, expect, it } from 'vitest'
import { WrongExpectedVersionError, type EventStore, type RecordedEvent } from '../../src/index.js'
import { useTestDatabase } from '../support/test-database.js'
import { sleep, waitFor } from '../support/wait-for.js'

const db = useTestDatabase()
let store: EventStore

beforeAll(async () => {
  store = await db.store()
  // Random delays inside appending transactions, after positions are taken and before commit:
  // commits land out of position order all the time.
  await db.query(`
    CREATE FUNCTION strata_test_delay() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.data ? 'sleepMs' THEN
        PERFORM pg_sleep((NEW.data->>'sleepMs')::int / 1000.0);
      ELSIF random() < 0.25 THEN
        PERFORM pg_sleep(random() * 0.015);
      END IF;
      RETURN NEW;
    END $$;
    CREATE TRIGGER strata_test_delay BEFORE INSERT ON strata.events
      FOR EACH ROW EXECUTE FUNCTION strata_test_delay();`)
})

/** Pages $all from the start until `done()` and the end is reached; returns everything seen. */
async function readEverything(done: () => boolean, maxWaitMs: () => number) {
  const seen: RecordedEvent[] = []
  let after = 0n
  for (;;) {
    const finished = done()
    const page = await store.readAll({
      after,
      limit: 1 + Math.floor(Math.random() * 60),
      maxWaitMs: maxWaitMs(),
    })
    for (const e of page.events) seen.push(e)
    after = page.lastPosition
    if (finished && page.isEnd) return seen
    if (page.events.length === 0) await sleep(2)
  }
}

describe('readAll under concurrent writers (the gap torture test)', () => {
  it('sees every committed event exactly once, in increasing position, and no rolled-back one', async () => {
    const forbidden = new Set<string>() // ids of events whose transaction rolled back or was killed
    const deadline = Date.now() + 5000
    let writersDone = false
    let conflicts = 0
    let killed = 0
    const hot = ['hot-1', 'hot-2']

    const writer = async (w: number) => {
      const client = new pg.Client({ connectionString: db.url })
      client.on('error', () => undefined)
      await client.connect()
      try {
        for (let i = 0; Date.now() < deadline; i++) {
          const roll = Math.random()
          const streamId = roll < 0.3 ? hot[i % 2]! : `w${w}-${i % 5}`
          if (roll < 0.55) {
            await store.appendToStream(streamId, [
              { type: 'T', data: { w, i } },
              { type: 'T', data: { w, i, k: 2 } },
            ])
          } else if (roll < 0.7) {
            // A stale expected version: conflicts, writes nothing.
            await store
              .appendToStream(streamId, [{ type: 'Stale', data: { w, i } }], {
                expectedVersion: 1n,
              })
              .catch((error: unknown) => {
                if (!(error instanceof WrongExpectedVersionError)) throw error
                conflicts++
              })
          } else if (roll < 0.85) {
            // In the caller's transaction, rolled back after a delay.
            const ids = [randomUUID(), randomUUID()]
            for (const id of ids) forbidden.add(id)
            await client.query('BEGIN')
            await store.appendToStream(
              streamId,
              ids.map((id) => ({ id, type: 'RolledBack', data: { w, i } })),
              { transaction: client },
            )
            await sleep(Math.random() * 10)
            await client.query('ROLLBACK')
          } else {
            // In the caller's transaction, committed after a delay.
            await client.query('BEGIN')
            await store.appendToStream(streamId, [{ type: 'Slow', data: { w, i } }], {
              transaction: client,
            })
            await sleep(Math.random() * 10)
            await client.query('COMMIT')
          }
        }
      } finally {
        await client.end().catch(() => undefined)
      }
    }

    // One append killed by pg_terminate_backend while it sleeps inside its transaction.
    const victim = async () => {
      const client = new pg.Client({ connectionString: db.url })
      client.on('error', () => undefined)
      await client.connect()
      const pid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!
        .pid
      const id = randomUUID()
      forbidden.add(id)
      await client.query('BEGIN')
      const pending = store
        .appendToStream('victim', [{ id, type: 'Killed', data: { sleepMs: 1500 } }], {
          transaction: client,
        })
        .catch(() => 'killed')
      await sleep(300)
      await db.query('SELECT pg_terminate_backend($1)', [pid])
      killed++
      expect(await pending).toBe('killed')
      await client.end().catch(() => undefined)
    }

    const reader = readEverything(
      () => writersDone,
      () => (Math.random() < 0.5 ? 0 : 50),
    )
    await Promise.all([...Array.from({ length: 16 }, (_, w) => writer(w)), victim()])
    writersDone = true
    const seen = await reader

    const committed = await db.query<{ id: string; position: string }>(
      'SELECT id, position FROM strata.events ORDER BY position',
    )
    expect(committed.length).toBeGreaterThan(200)
    expect(conflicts).toBeGreaterThan(0)
    expect(killed).toBe(1)
    for (let i = 1; i < seen.length; i++)
      expect(seen[i]!.position).toBeGreaterThan(seen[i - 1]!.position)
    expect(seen.map((e) => e.id)).toEqual(committed.map((row) => row.id))
    for (const e of seen) expect(forbidden.has(e.id)).toBe(false)
  })

  it('an idle transaction holding an xid does not delay readAll', async () => {
    const idle = new pg.Client({ connectionString: db.url })
    await idle.connect()
    try {
      await idle.query('BEGIN')
      await idle.query('SELECT pg_current_xact_id()')
      const start = await store.headPosition()
      for (let i = 0; i < 5; i++) {
        const { position } = await store.appendToStream(`idle-${i}`, [{ type: 'T', data: { i } }])
        // Visible to readAll at once (the deadline is the requirement, not a benchmark).
        await waitFor(
          async () =>
            (await store.readAll({ after: start })).events.some((e) => e.position === position),
          {
            timeoutMs: 1000,
            message: 'a new event visible to readAll within a second',
          },
        )
      }
    } finally {
      await idle.query('ROLLBACK')
      await idle.end()
    }
  })

  it('an open appending transaction holds back only the events after its position', async () => {
    const start = await store.headPosition()
    const client = await db.pool.connect()
    try {
      await store.appendToStream('before-open', [{ type: 'T', data: {} }])
      await client.query('BEGIN')
      const open = await store.appendToStream('open-tx', [{ type: 'Open', data: {} }], {
        transaction: client,
      })
      await store.appendToStream('after-open', [{ type: 'T', data: {} }])
      const page = await store.readAll({ after: start, maxWaitMs: 50 })
      expect(page.events.map((e) => e.streamId)).toEqual(['before-open'])
      expect(page.isEnd).toBe(false)
      expect(page.lastPosition).toBeLessThan(open.position)
      await client.query('COMMIT')
      const rest = await store.readAll({ after: page.lastPosition })
      expect(rest.events.map((e) => e.streamId)).toEqual(['open-tx', 'after-open'])
    } finally {
      client.release()
    }
  })
})
