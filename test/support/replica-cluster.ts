import { execFile } from 'node:child_process'
import { chmod, chown, mkdtemp, rm, appendFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import pg from 'pg'
import { afterAll, beforeAll } from 'vitest'
import { createEventStore, type EventStore, type EventStoreOptions } from '../../src/index.js'
import type { EventRegistry } from '../../src/events/registry.js'
import type { TestDatabase } from './test-database.js'
import { waitFor } from './wait-for.js'

const run = promisify(execFile)
const BIN = '/usr/lib/postgresql/15/bin'

/**
 * A primary and a streaming hot standby of their own, for one test file: initdb and
 * pg_basebackup as the `postgres` OS user into a temp folder, on free ports; stopped and removed
 * after the file. The machine's shared server (5432) is never touched.
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
  /** Crashes the standby (immediate shutdown: no checkpoint, as a kill). */
  killReplica(): Promise<void>
  /** Starts the standby again and waits until it accepts queries. */
  startReplica(): Promise<void>
  /** Waits until the standby has replayed everything the primary wrote so far. */
  waitForReplay(): Promise<void>
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0))
    })
  })
}

async function asPostgres(command: string, args: string[]): Promise<string> {
  const { stdout } = await run('runuser', ['-u', 'postgres', '--', join(BIN, command), ...args], {
    cwd: tmpdir(),
    maxBuffer: 16 * 1024 * 1024,
  })
  return stdout
}

async function postgresUid(): Promise<{ uid: number; gid: number }> {
  const { stdout } = await run('id', ['-u', 'postgres'])
  const { stdout: gid } = await run('id', ['-g', 'postgres'])
  return { uid: Number(stdout.trim()), gid: Number(gid.trim()) }
}

export function useReplicaCluster(): ReplicaCluster {
  const name = 'strata_replica_test'
  let base = ''
  let primaryPort = 0
  let replicaPort = 0
  let pool: pg.Pool | undefined
  const stores: Array<EventStore<EventRegistry, boolean>> = []
  const dir = (node: 'primary' | 'standby') => join(base, node)
  const url = (port: number, database = name) => `postgres://postgres@127.0.0.1:${port}/${database}`

  const pgCtl = (node: 'primary' | 'standby', ...args: string[]) =>
    asPostgres('pg_ctl', ['-D', dir(node), '-l', join(base, `${node}.log`), ...args])

  const startReplica = async () => {
    await pgCtl('standby', '-w', '-t', '60', 'start')
    await waitFor(
      async () => {
        const client = new pg.Client({ connectionString: url(replicaPort, 'postgres') })
        client.on('error', () => undefined)
        try {
          await client.connect()
          await client.query('SELECT 1')
          return true
        } finally {
          await client.end().catch(() => undefined)
        }
      },
      { timeoutMs: 30_000, message: 'the standby accepts connections' },
    )
  }

  const replicaQuery = async <T extends pg.QueryResultRow>(text: string, values?: unknown[]) => {
    const client = new pg.Client({ connectionString: url(replicaPort) })
    client.on('error', () => undefined)
    await client.connect()
    try {
      return (await client.query<T>(text, values)).rows
    } finally {
      await client.end().catch(() => undefined)
    }
  }

  const waitForReplay = async () => {
    const rows = await pool!.query<{ lsn: string }>(
      'SELECT pg_current_wal_insert_lsn()::text AS lsn',
    )
    const lsn = rows.rows[0]!.lsn
    await waitFor(
      async () =>
        (
          await replicaQuery<{ ok: boolean }>(
            'SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS ok',
            [lsn],
          )
        )[0]?.ok,
      { timeoutMs: 30_000, message: `the standby replays ${lsn}` },
    )
  }

  beforeAll(async () => {
    const { uid, gid } = await postgresUid()
    base = await mkdtemp(join(tmpdir(), 'strata-replica-'))
    await chown(base, uid, gid)
    await chmod(base, 0o700)
    primaryPort = await freePort()
    await asPostgres('initdb', [
      '-D',
      dir('primary'),
      '-U',
      'postgres',
      '--auth=trust',
      '-N',
      '-E',
      'UTF8',
    ])
    await appendFile(
      join(dir('primary'), 'postgresql.conf'),
      [
        `port = ${primaryPort}`,
        `listen_addresses = '127.0.0.1'`,
        `unix_socket_directories = '${base}'`,
        'wal_level = replica',
        'max_wal_senders = 8',
        'wal_keep_size = 1GB',
        'hot_standby = on',
        'hot_standby_feedback = on',
        'max_connections = 200',
        'shared_buffers = 64MB',
        'fsync = off',
        'full_page_writes = off',
        '',
      ].join('\n'),
    )
    await pgCtl('primary', '-w', '-t', '60', 'start')
    await asPostgres('pg_basebackup', [
      '-h',
      '127.0.0.1',
      '-p',
      String(primaryPort),
      '-U',
      'postgres',
      '-D',
      dir('standby'),
      '-R',
      '-X',
      'stream',
      '-c',
      'fast',
    ])
    replicaPort = await freePort()
    await appendFile(join(dir('standby'), 'postgresql.conf'), `port = ${replicaPort}\n`)
    await startReplica()
    const admin = new pg.Client({ connectionString: url(primaryPort, 'postgres') })
    await admin.connect()
    try {
      await admin.query(`CREATE DATABASE ${name}`)
    } finally {
      await admin.end()
    }
    pool = new pg.Pool({ connectionString: url(primaryPort), max: 10 })
    pool.on('error', () => undefined)
    await waitFor(async () => (await replicaQuery('SELECT 1')).length === 1, {
      timeoutMs: 30_000,
      message: 'the database reaches the standby',
    })
  }, 180_000)

  afterAll(async () => {
    for (const store of stores.splice(0)) await store.close().catch(() => undefined)
    await pool?.end().catch(() => undefined)
    if (base === '') return
    await pgCtl('standby', '-m', 'immediate', 'stop').catch(() => undefined)
    await pgCtl('primary', '-m', 'immediate', 'stop').catch(() => undefined)
    await rm(base, { recursive: true, force: true })
  }, 60_000)

  const primary: TestDatabase = {
    get url() {
      return url(primaryPort)
    },
    name,
    get pool() {
      return pool!
    },
    async store(options) {
      const store = createEventStore({ connectionString: url(primaryPort) }, options)
      await store.migrate()
      stores.push(store as never)
      return store
    },
    async query(text, values) {
      return (await pool!.query(text, values)).rows
    },
  }

  return {
    primary,
    get replicaUrl() {
      return url(replicaPort)
    },
    async store(options) {
      const store = createEventStore(
        { connectionString: url(primaryPort) },
        { replicas: { connections: { connectionString: url(replicaPort) } }, ...options },
      )
      await store.migrate()
      stores.push(store as never)
      return store
    },
    replicaQuery,
    killReplica: async () => {
      await pgCtl('standby', '-m', 'immediate', 'stop')
    },
    startReplica,
    waitForReplay,
  }
}
