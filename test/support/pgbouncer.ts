import { spawn, type ChildProcess } from 'node:child_process'
import { chmodSync, chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { tmpdir, userInfo } from 'node:os'
import { join } from 'node:path'
import { waitFor } from './wait-for.js'

/** A PgBouncer of a test's own, in front of `targetUrl` (trust auth, any database). */
export interface PgBouncer {
  /** `targetUrl` through the pooler. */
  readonly url: string
  stop(): Promise<void>
}

const BINARY = '/usr/sbin/pgbouncer' // Debian package: apt-get install -y pgbouncer

/** Starts PgBouncer on a free port; `stop()` ends it and removes its folder. */
export async function startPgBouncer(
  targetUrl: string,
  { poolMode = 'transaction' }: { poolMode?: 'session' | 'transaction' | 'statement' } = {},
): Promise<PgBouncer> {
  const target = new URL(targetUrl)
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'strata-pgbouncer-'))
  const user = decodeURIComponent(target.username || 'postgres')
  writeFileSync(join(dir, 'userlist.txt'), `"${user}" ""\n`)
  writeFileSync(
    join(dir, 'pgbouncer.ini'),
    [
      '[databases]',
      `* = host=${target.hostname} port=${target.port || 5432}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = trust',
      `auth_file = ${join(dir, 'userlist.txt')}`,
      `pool_mode = ${poolMode}`,
      `logfile = ${join(dir, 'pgbouncer.log')}`,
      'ignore_startup_parameters = extra_float_digits,options',
      '',
    ].join('\n'),
  )
  // PgBouncer refuses to run as root: it then runs as postgres, which must read its folder.
  const asRoot = userInfo().uid === 0
  if (asRoot) {
    chmodSync(dir, 0o755)
    const postgres = await idOf('postgres')
    chownSync(dir, postgres.uid, postgres.gid)
    for (const f of ['userlist.txt', 'pgbouncer.ini']) {
      chownSync(join(dir, f), postgres.uid, postgres.gid)
    }
  }
  const child: ChildProcess = spawn(
    BINARY,
    [...(asRoot ? ['-u', 'postgres'] : []), join(dir, 'pgbouncer.ini')],
    { stdio: 'ignore' },
  )
  let exited = false
  child.on('exit', () => (exited = true))
  const url = new URL(targetUrl)
  url.hostname = '127.0.0.1'
  url.port = String(port)
  await waitFor(
    async () => {
      if (exited) throw new Error(`pgbouncer exited; see ${join(dir, 'pgbouncer.log')}`)
      return canConnect(port)
    },
    { message: 'pgbouncer listening' },
  )
  return {
    url: url.toString(),
    async stop() {
      if (!exited) {
        const done = new Promise((resolve) => child.once('exit', resolve))
        child.kill('SIGINT')
        await done
      }
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo
      server.close(() => resolve(port))
    })
  })
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1')
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}

async function idOf(user: string): Promise<{ uid: number; gid: number }> {
  const { execFileSync } = await import('node:child_process')
  const uid = Number(execFileSync('id', ['-u', user]).toString().trim())
  const gid = Number(execFileSync('id', ['-g', user]).toString().trim())
  return { uid, gid }
}
