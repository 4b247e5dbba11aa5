import { isExpectedVersionConflictError } from '@event-driven-io/emmett'
import {
  getPostgreSQLEventStore,
  type PostgresEventStore,
} from '@event-driven-io/emmett-postgresql'
import pg from 'pg'

/** Emmett's PostgreSQL event store on its own pool, with its schema migrated. */
export interface EmmettStore {
  readonly store: PostgresEventStore
  /** Conflicts retried so far (a hot stream without an expected version). */
  readonly conflicts: () => number
  /**
   * Appends like an application that wants "any version" semantics: Emmett reports concurrent
   * appends to one stream as a version conflict, so the append is retried until it lands.
   */
  append(
    streamId: string,
    events: ReadonlyArray<{ type: string; data: Record<string, unknown> }>,
  ): Promise<void>
  close(): Promise<void>
}

/** Opens Emmett's store on `url` with a pool of `max` connections (same as strata's). */
export async function openEmmett(url: string, max: number): Promise<EmmettStore> {
  const pool = new pg.Pool({ connectionString: url, max })
  pool.on('error', () => undefined) // idle clients of a dropped database
  const store = getPostgreSQLEventStore(url, { connectionOptions: { pooled: true, pool } })
  await store.schema.migrate()
  let conflicts = 0
  return {
    store,
    conflicts: () => conflicts,
    async append(streamId, events) {
      for (;;) {
        try {
          await store.appendToStream(
            streamId,
            events.map((e) => ({ type: e.type, data: e.data })),
          )
          return
        } catch (error) {
          if (!isExpectedVersionConflictError(error)) throw error
          conflicts++
        }
      }
    },
    async close() {
      await store.close()
      await pool.end().catch(() => undefined)
    },
  }
}
