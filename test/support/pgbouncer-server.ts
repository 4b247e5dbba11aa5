import { spawn, type ChildProcess } from 'node:child_process'
import { chownSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** Debian's package; .ci/run installs it when missing. */
export const PGBOUNCER = '/usr/sbin/pgbouncer'

/** `url` of a pooler with the path (database) of `databaseUrl`. */
export function throughPooler(pooler: PgBouncerServer, databaseUrl: string): string {
  const url = new URL(pooler.url)
  url.pathname = new URL(databaseUrl).pathname
  return url.toString()
}

export interface PgBouncerServer {
  /** `postgres://user@127.0.0.1:<port>` (no database: any database name is routed). */
  readonly url: string
  readonly port: number
  stop(): Promise<void>
}

/** A port nobody listens on right now (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}

/**
 * Starts PgBouncer (transaction mode unless told otherwise) on a free port in front of
 * `serverUrl` (every database routed to the same server, trust authentication), in a temp
 * folder, as the `postgres` OS user when we are root (PgBouncer refuses to run as root).
 * `stop()` kills it and removes the folder.
 */
export async function startPgBouncer(
  serverUrl: string,
  options: {
    poolMode?: 'session' | 'transaction' | 'statement'
    /** More roles that may connect (trust, no password; the server must trust them too). */
    users?: readonly string[]
    /** Server connections per database and user (default 40). */
    poolSize?: number
  } = {},
): Promise<PgBouncerServer> {
  if (!existsSync(PGBOUNCER)) {
    throw new Error(`${PGBOUNCER} is missing: apt-get install -y pgbouncer (.ci/run does it)`)
  }
  const server = new URL(serverUrl)
  const user = decodeURIComponent(server.username || 'postgres')
  // With auth_type = trust PgBouncer logs in to the server with the password listed here.
  const password = decodeURIComponent(server.password)
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'strata-pgbouncer-'))
  const asRoot = process.getuid?.() === 0
  writeFileSync(
    join(dir, 'userlist.txt'),
    [
      `"${user}" "${password.replaceAll('"', '""')}"`,
      ...(options.users ?? []).map((u) => `"${u}" ""`),
    ]
      .map((line) => `${line}\n`)
      .join(''),
  )
  writeFileSync(
    join(dir, 'pgbouncer.ini'),
    [
      '[databases]',
      `* = host=${server.hostname} port=${server.port || '5432'}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      `unix_socket_dir = ${dir}`,
      'auth_type = trust',
      // The admin console (database "pgbouncer"): SHOW CLIENTS proves the tests go through it.
      `admin_users = ${user}`,
      `auth_file = ${join(dir, 'userlist.txt')}`,
      `pool_mode = ${options.poolMode ?? 'transaction'}`,
      'max_client_conn = 1000',
      // Per database and user: the tests' stores open at most a few dozen at once.
      `default_pool_size = ${options.poolSize ?? 40}`,
      // node-postgres sends these; PgBouncer refuses unknown startup parameters otherwise.
      'ignore_startup_parameters = extra_float_digits,options,statement_timeout',
      'server_reset_query = DISCARD ALL',
      'log_connections = 0',
      'log_disconnections = 0',
      `logfile = ${join(dir, 'pgbouncer.log')}`,
      '',
    ].join('\n'),
  )
  if (asRoot) {
    const { execFileSync } = await import('node:child_process')
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim())
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim())
    for (const file of ['', 'userlist.txt', 'pgbouncer.ini']) chownSync(join(dir, file), uid, gid)
  }
  const args = [join(dir, 'pgbouncer.ini')]
  const child: ChildProcess = asRoot
    ? spawn('runuser', ['-u', 'postgres', '--', PGBOUNCER, ...args], { stdio: 'ignore' })
    : spawn(PGBOUNCER, args, { stdio: 'ignore' })
  let exited = false
  const exit = new Promise<void>((resolve) =>
    child.on('exit', () => {
      exited = true
      resolve()
    }),
  )
  const deadline = Date.now() + 10_000
  while (!(await accepts(port))) {
    if (exited || Date.now() > deadline) {
      rmSync(dir, { recursive: true, force: true })
      throw new Error(`pgbouncer did not start on port ${port}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return {
    url: `postgres://${encodeURIComponent(user)}${password === '' ? '' : `:${encodeURIComponent(password)}`}@127.0.0.1:${port}`,
    port,
    async stop() {
      // runuser passes SIGTERM on to PgBouncer (an immediate shutdown).
      if (!exited) child.kill('SIGTERM')
      await Promise.race([exit, new Promise((resolve) => setTimeout(resolve, 5000))])
      if (!exited) child.kill('SIGKILL')
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
