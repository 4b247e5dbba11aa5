import pg from 'pg'
import { afterAll, beforeAll } from 'vitest'
import { createEventStore, type EventStore, type EventStoreOptions } from '../../src/index.js'
import type { EventRegistry } from '../../src/events/registry.js'
import { startPgCluster, type PgCluster } from './pg-cluster.js'
import type { TestDatabase } from './test-database.js'

/**
 * A primary and a streaming hot standby of the test file's own (see pg-cluster.ts), started
 * before the file's tests and removed after them.
 */
export interface ReplicaCluster {
  /** The test database on the primary (torture helpers take it like a useTestDatabase()). */
  readonly primary: TestDatabase
  /** URL of the same database on the standby. */
  readonly replicaUrl: string
  /** A migrated store on the primary with the standby as its replica (closed after the file). */
  store<const R extends EventRegistry = Record<never, never>, Open extends boolean = false>(
    options?: EventStoreOptions<R, Open>,
  ): Promise<EventStore<R, Open>>
  /** Runs SQL on the standby. */
  replicaQuery<T extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<T[]>
  killReplica(): Promise<void>
  startReplica(): Promise<void>
  waitForReplay(): Promise<void>
}

export function useReplicaCluster(): ReplicaCluster {
  const name = 'strata_replica_test'
  let cluster: PgCluster | undefined
  let pool: pg.Pool | undefined
  const stores: Array<EventStore<EventRegistry, boolean>> = []
  const running = () => {
    if (cluster === undefined) throw new Error('the replica cluster is not running')
    return cluster
  }

  beforeAll(async () => {
    cluster = await startPgCluster({ databases: [name] })
    pool = new pg.Pool({ connectionString: cluster.url('primary', name), max: 10 })
    pool.on('error', () => undefined)
  }, 180_000)

  afterAll(async () => {
    for (const store of stores.splice(0)) await store.close().catch(() => undefined)
    await pool?.end().catch(() => undefined)
    await cluster?.stop()
  }, 60_000)

  const primary: TestDatabase = {
    viaPooler: false,
    partitioned: false,
    get url() {
      return running().url('primary', name)
    },
    name,
    get pool() {
      return pool!
    },
    async store(options) {
      const store = createEventStore({ connectionString: this.url }, options)
      await store.migrate()
      stores.push(store)
      return store
    },
    async query<T extends pg.QueryResultRow>(text: string, values?: unknown[]) {
      return (await pool!.query<T>(text, values)).rows
    },
  }

  return {
    primary,
    get replicaUrl() {
      return running().url('replica', name)
    },
    async store(options) {
      const store = createEventStore(
        { connectionString: primary.url },
        { replicas: { connections: { connectionString: this.replicaUrl } }, ...options },
      )
      await store.migrate()
      stores.push(store)
      return store
    },
    async replicaQuery<T extends pg.QueryResultRow>(text: string, values?: unknown[]) {
      const client = new pg.Client({ connectionString: this.replicaUrl })
      client.on('error', () => undefined)
      await client.connect()
      try {
        return (await client.query<T>(text, values)).rows
      } finally {
        await client.end().catch(() => undefined)
      }
    },
    killReplica: () => running().killReplica(),
    startReplica: () => running().startReplica(),
    waitForReplay: () => running().waitForReplay(),
  }
}
