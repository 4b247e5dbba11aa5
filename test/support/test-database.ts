import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { afterAll, beforeAll, inject } from 'vitest'
import { createEventStore, type EventStore, type EventStoreOptions } from '../../src/index.js'
import type { EventRegistry } from '../../src/events/registry.js'

export interface TestDatabase {
  /**
   * URL of this file's own database: through PgBouncer (transaction mode) in the "pgbouncer"
   * vitest project, else straight to the server.
   */
  readonly url: string
  /** Whether this run goes through PgBouncer (stores are then created with `listen: false`). */
  readonly viaPooler: boolean
  /** Whether stores are partitioned after migrate (the "partitioned" project). */
  readonly partitioned: boolean
  readonly name: string
  /** A pool on `url`, closed after the file. */
  readonly pool: pg.Pool
  /** A migrated store on `url`, closed after the file (`listen: false` through the pooler). */
  store<const R extends EventRegistry = Record<never, never>, Open extends boolean = false>(
    options?: EventStoreOptions<R, Open>,
  ): Promise<EventStore<R, Open>>
  /** Runs SQL as the superuser on this database. */
  query<T extends pg.QueryResultRow = pg.QueryResultRow>(
    text: string,
    values?: unknown[],
  ): Promise<T[]>
}

/** Positions per partition in the "partitioned" vitest project (unset elsewhere). */
const PARTITION_SIZE = process.env.STRATA_TEST_PARTITION_SIZE

export function databaseUrl(serverUrl: string, database: string): string {
  const url = new URL(serverUrl)
  url.pathname = `/${database}`
  return url.toString()
}

/**
 * Gives the test file a database of its own (LISTEN channels and advisory locks are per
 * database, so files cannot hear each other), dropped after the file.
 */
export function useTestDatabase(): TestDatabase {
  const serverUrl = inject('serverUrl')
  const poolerUrl = inject('poolerUrl')
  const name = `strata_t_${randomBytes(6).toString('hex')}`
  const viaPooler = poolerUrl !== ''
  // CREATE/DROP DATABASE go to the server; PgBouncer routes any database name to it.
  const url = databaseUrl(viaPooler ? poolerUrl : serverUrl, name)
  const stores: Array<EventStore<EventRegistry, boolean>> = []
  let pool: pg.Pool | undefined

  beforeAll(async () => {
    const admin = new pg.Client({ connectionString: serverUrl })
    await admin.connect()
    try {
      await admin.query(`CREATE DATABASE ${name}`)
    } finally {
      await admin.end()
    }
  })

  afterAll(async () => {
    for (const store of stores.splice(0)) await store.close()
    await pool?.end()
    const admin = new pg.Client({ connectionString: serverUrl })
    await admin.connect()
    try {
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
    } finally {
      await admin.end()
    }
  })

  const getPool = () => {
    if (pool === undefined) {
      pool = new pg.Pool({ connectionString: url, max: 20 })
      pool.on('error', () => undefined)
    }
    return pool
  }

  return {
    url,
    viaPooler,
    partitioned: PARTITION_SIZE !== undefined,
    name,
    get pool() {
      return getPool()
    },
    async store(options) {
      // LISTEN needs a session, which a transaction-mode pooler does not give.
      const store = createEventStore(
        { connectionString: url },
        viaPooler ? { listen: false, ...options } : options,
      )
      stores.push(store)
      await store.migrate()
      if (PARTITION_SIZE !== undefined) {
        // The "partitioned" project: the same tests on events partitioned by position, small
        // partitions so that streams and pages cross them (docs/partitioning.md).
        await store.pool.query(`SELECT ${store.schema}.enable_event_partitioning($1, $2)`, [
          PARTITION_SIZE,
          24,
        ])
      }
      return store
    },
    async query<T extends pg.QueryResultRow>(text: string, values?: unknown[]) {
      return (await getPool().query<T>(text, values)).rows
    },
  }
}
