import { randomUUID } from 'node:crypto'
import pg from 'pg'
import { WrongExpectedVersionError, type EventStore } from '../../src/index.js'
import type { TestDatabase } from './test-database.js'
import { sleep } from './wait-for.js'

/**
 * Random delays inside appending transactions, after positions are taken and before commit:
 * commits land out of position order all the time. Events whose data has `sleepMs` sleep that long.
 */
export async function installAppendDelays(db: TestDatabase, schema = 'strata'): Promise<void> {
  await db.query(`
    CREATE OR REPLACE FUNCTION strata_test_delay() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.data ? 'sleepMs' THEN
        PERFORM pg_sleep((NEW.data->>'sleepMs')::int / 1000.0);
      ELSIF random() < 0.25 THEN
        PERFORM pg_sleep(random() * 0.015);
      END IF;
      RETURN NEW;
    END $$;
    CREATE TRIGGER strata_test_delay BEFORE INSERT ON "${schema}".events
      FOR EACH ROW EXECUTE FUNCTION strata_test_delay();`)
}

export interface TortureResult {
  /** Ids of events whose transaction rolled back: they must never be seen. */
  readonly forbidden: ReadonlySet<string>
  readonly conflicts: number
}

/**
 * 16 writers (by default) until the deadline (or the signal): plain appends on hot and private streams, stale
 * expected versions, appends in the caller's transaction rolled back or committed after a delay.
 * Transient errors (a killed connection) are tolerated: the outcome of such an append is unknown,
 * so callers compare readers against what the database holds at the end.
 */
export async function tortureWriters(
  db: TestDatabase,
  store: EventStore,
  {
    writers = 16,
    durationMs = 5000,
    signal,
  }: { writers?: number; durationMs?: number; signal?: AbortSignal } = {},
): Promise<TortureResult> {
  const forbidden = new Set<string>()
  let conflicts = 0
  const deadline = Date.now() + durationMs
  const hot = ['hot-1', 'hot-2']
  const writer = async (w: number) => {
    let client: pg.Client | undefined
    const connect = async () => {
      client = new pg.Client({ connectionString: db.url })
      client.on('error', () => undefined)
      await client.connect()
      return client
    }
    for (let i = 0; Date.now() < deadline && signal?.aborted !== true; i++) {
      const roll = Math.random()
      const streamId = roll < 0.3 ? hot[i % 2]! : `w${w}-${i % 5}`
      try {
        if (roll < 0.55) {
          await store.appendToStream(streamId, [
            { type: 'T', data: { w, i } },
            { type: 'T', data: { w, i, k: 2 } },
          ])
        } else if (roll < 0.7) {
          await store
            .appendToStream(streamId, [{ type: 'Stale', data: { w, i } }], { expectedVersion: 1n })
            .catch((error: unknown) => {
              if (!(error instanceof WrongExpectedVersionError)) throw error
              conflicts++
            })
        } else {
          const c = client ?? (await connect())
          const rollback = roll < 0.85
          const ids = [randomUUID(), randomUUID()]
          if (rollback) for (const id of ids) forbidden.add(id)
          await c.query('BEGIN')
          await store.appendToStream(
            streamId,
            ids.map((id) => ({ id, type: rollback ? 'RolledBack' : 'Slow', data: { w, i } })),
            { transaction: c },
          )
          await sleep(Math.random() * 10)
          await c.query(rollback ? 'ROLLBACK' : 'COMMIT')
        }
      } catch {
        // A killed connection: this append's outcome is unknown; start a new session.
        await client?.end().catch(() => undefined)
        client = undefined
        await sleep(20)
      }
    }
    await client?.end().catch(() => undefined)
  }
  await Promise.all(Array.from({ length: writers }, (_, w) => writer(w)))
  return { forbidden, conflicts }
}

/** Every committed event, by position. */
export async function committedIds(db: TestDatabase, schema = 'strata'): Promise<string[]> {
  const rows = await db.query<{ id: string }>(`SELECT id FROM "${schema}".events ORDER BY position`)
  return rows.map((row) => row.id)
}

/** Terminates sessions of this database whose application_name matches (all but ours if omitted). */
export async function terminate(db: TestDatabase, applicationName?: string): Promise<number> {
  const rows = await db.query<{ ok: boolean }>(
    `SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity
      WHERE datname = current_database() AND pid <> pg_backend_pid()
        AND ($1::text IS NULL OR application_name = $1)`,
    [applicationName ?? null],
  )
  return rows.filter((r) => r.ok).length
}
