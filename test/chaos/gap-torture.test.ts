import { randomUUID } from 'node:crypto'
import pg from 'pg'
import { beforeAll, describe, expect, it } from 'vitest'
import type { EventStore, RecordedEvent } from '../../src/index.js'
import { committedIds, installAppendDelays, tortureWriters } from '../support/torture.js'
import { useTestDatabase } from '../support/test-database.js'
import { sleep, waitFor } from '../support/wait-for.js'

const db = useTestDatabase()
let store: EventStore

beforeAll(async () => {
  store = await db.store()
  await installAppendDelays(db)
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
    let writersDone = false
    let killed = 0
    const killedIds = new Set<string>()

    // One append killed by pg_terminate_backend while it sleeps inside its transaction.
    const victim = async () => {
      const client = new pg.Client({ connectionString: db.url })
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
      await db.query('SELECT pg_terminate_backend($1)', [pid])
      killed++
      expect(await pending).toBe('killed')
      await client.end().catch(() => undefined)
    }

    const reader = readEverything(
      () => writersDone,
      () => (Math.random() < 0.5 ? 0 : 50),
    )
    const [{ forbidden, conflicts }] = await Promise.all([tortureWriters(db, store), victim()])
    writersDone = true
    const seen = await reader

    const committed = await committedIds(db)
    expect(committed.length).toBeGreaterThan(200)
    expect(conflicts).toBeGreaterThan(0)
    expect(killed).toBe(1)
    for (let i = 1; i < seen.length; i++)
      expect(seen[i]!.position).toBeGreaterThan(seen[i - 1]!.position)
    expect(seen.map((e) => e.id)).toEqual(committed)
    for (const e of seen) expect(forbidden.has(e.id) || killedIds.has(e.id)).toBe(false)
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
