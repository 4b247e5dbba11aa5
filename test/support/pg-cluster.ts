import { execFile } from 'node:child_process'
import { appendFile, chmod, chown, mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import pg from 'pg'
import { waitFor } from './wait-for.js'

const run = promisify(execFile)
const BIN = '/usr/lib/postgresql/15/bin'

/**
 * A Postgres primary and a streaming hot standby of their own (for the replica tests and the
 * replica benchmark): initdb and pg_basebackup as the `postgres` OS user into a temp folder, on
 * free ports. stop() shuts both down and removes the folder. The machine's shared server is never
 * touched.
 */
export interface PgCluster {
  readonly primaryPort: number
  readonly replicaPort: number
  url(node: 'primary' | 'replica', database?: string): string
  /** Crashes the standby (immediate shutdown: no checkpoint, as a kill). */
  killReplica(): Promise<void>
  /** Starts the standby again and waits until it accepts queries. */
  startReplica(): Promise<void>
  /** Waits until the standby has replayed everything the primary wrote so far. */
  waitForReplay(): Promise<void>
  stop(): Promise<void>
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

async function idOf(flag: '-u' | '-g'): Promise<number> {
  return Number((await run('id', [flag, 'postgres'])).stdout.trim())
}

async function query<T extends pg.QueryResultRow>(url: string, text: string, values?: unknown[]) {
  const client = new pg.Client({ connectionString: url })
  client.on('error', () => undefined)
  await client.connect()
  try {
    return (await client.query<T>(text, values)).rows
  } finally {
    await client.end().catch(() => undefined)
  }
}

/** Whether this machine can run a cluster (root, a postgres user, the PG 15 binaries). */
export async function canStartCluster(): Promise<boolean> {
  try {
    await idOf('-u')
    await run(join(BIN, 'initdb'), ['--version'])
    return process.getuid?.() === 0
  } catch {
    return false
  }
}

/** Starts a primary and a standby; `databases` are created on the primary and reach the standby. */
export async function startPgCluster({
  databases = [],
  settings = [],
}: { databases?: string[]; settings?: string[] } = {}): Promise<PgCluster> {
  const base = await mkdtemp(join(tmpdir(), 'strata-replica-'))
  await chown(base, await idOf('-u'), await idOf('-g'))
  await chmod(base, 0o700)
  const dir = (node: 'primary' | 'standby') => join(base, node)
  const pgCtl = (node: 'primary' | 'standby', ...args: string[]) =>
    asPostgres('pg_ctl', ['-D', dir(node), '-l', join(base, `${node}.log`), ...args])
  const primaryPort = await freePort()
  let replicaPort = 0
  const url = (node: 'primary' | 'replica', database = 'postgres') =>
    `postgres://postgres@127.0.0.1:${node === 'primary' ? primaryPort : replicaPort}/${database}`
  let started: Array<'primary' | 'standby'> = []

  const startReplica = async () => {
    await pgCtl('standby', '-w', '-t', '60', 'start')
    await waitFor(async () => (await query(url('replica'), 'SELECT 1')).length === 1, {
      timeoutMs: 30_000,
      message: 'the standby accepts connections',
    })
  }
  const cluster: PgCluster = {
    primaryPort,
    get replicaPort() {
      return replicaPort
    },
    url,
    killReplica: async () => {
      await pgCtl('standby', '-m', 'immediate', 'stop')
    },
    startReplica,
    waitForReplay: async () => {
      const [row] = await query<{ lsn: string }>(
        url('primary'),
        'SELECT pg_current_wal_insert_lsn()::text AS lsn',
      )
      await waitFor(
        async () =>
          (
            await query<{ ok: boolean }>(
              url('replica'),
              'SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS ok',
              [row!.lsn],
            )
          )[0]?.ok,
        { timeoutMs: 120_000, message: `the standby replays ${row!.lsn}` },
      )
    },
    stop: async () => {
      for (const node of started.reverse())
        await pgCtl(node, '-m', 'immediate', 'stop').catch(() => undefined)
      started = []
      await rm(base, { recursive: true, force: true })
    },
  }
  try {
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
        'wal_keep_size = 2GB',
        'hot_standby = on',
        'hot_standby_feedback = on',
        'max_connections = 200',
        'shared_buffers = 128MB',
        // Scratch clusters: durability is not what they test.
        'fsync = off',
        'full_page_writes = off',
        ...settings,
        '',
      ].join('\n'),
    )
    await pgCtl('primary', '-w', '-t', '60', 'start')
    started.push('primary')
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
    started.push('standby')
    for (const name of databases) await query(url('primary'), `CREATE DATABASE ${name}`)
    for (const name of databases) {
      await waitFor(async () => (await query(url('replica', name), 'SELECT 1')).length === 1, {
        timeoutMs: 30_000,
        message: `database ${name} reaches the standby`,
      })
    }
    return cluster
  } catch (error) {
    await cluster.stop()
    throw error
  }
}
