import { execFileSync } from 'node:child_process'
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from './pgbouncer-server.js'

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

const BIN = process.env.STRATA_PG_BIN ?? '/usr/lib/postgresql/15/bin'

/**
 * A Postgres cluster of the test's own (the shared server is never stopped or reconfigured):
 * initdb into a temp folder as the `postgres` OS user, a free port, fsync on (the crash tests
 * are about durability). `kill()` SIGKILLs the postmaster; `start()` starts it again on the
 * same port and folder, running crash recovery.
 */
export interface OwnPostgres {
  readonly url: string
  readonly port: number
  start(): Promise<void>
  /**
   * SIGKILLs the postmaster, then the backends it leaves behind (they would keep the shared
   * memory and stop a restart until they notice). Returns the postmaster's pid.
   */
  kill(): number
  /** Stops it if running and removes the folder. */
  destroy(): void
}

/** Gone, or a zombie nobody reaps (a container's init may not): either way it holds nothing. */
function dead(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')
  } catch {
    return true
  }
}

/** Pids whose parent is `pid`, from /proc (no procps needed). */
function childrenOf(pid: number): number[] {
  const children: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      // pid (comm) state ppid …: comm may hold spaces, so split after its closing parenthesis.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      if (ppid === pid) children.push(Number(entry))
    } catch {
      // exited meanwhile
    }
  }
  return children
}

function asPostgres(command: string, args: string[]): string {
  const root = process.getuid?.() === 0
  return execFileSync(
    root ? 'runuser' : command,
    root ? ['-u', 'postgres', '--', command, ...args] : args,
    {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )
}

export async function startOwnPostgres(): Promise<OwnPostgres> {
  const dir = mkdtempSync(join(tmpdir(), 'strata-own-pg-'))
  const data = join(dir, 'data')
  if (process.getuid?.() === 0) {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim())
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim())
    chownSync(dir, uid, gid)
  }
  asPostgres(join(BIN, 'initdb'), [
    '-D',
    data,
    '-U',
    'postgres',
    '-A',
    'trust',
    '--no-sync',
    '-E',
    'UTF8',
  ])
  const port = await freePort()
  const settings = [
    `-p ${port}`,
    `-k ${dir}`,
    "-c listen_addresses='127.0.0.1'",
    '-c fsync=on',
    '-c synchronous_commit=on',
    '-c full_page_writes=on',
    '-c max_connections=100',
    '-c shared_buffers=32MB',
  ].join(' ')
  const pgCtl = (...args: string[]) => asPostgres(join(BIN, 'pg_ctl'), ['-D', data, ...args])
  const pids = (): number[] => {
    try {
      const postmaster = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0])
      return [postmaster, ...childrenOf(postmaster)]
    } catch {
      return []
    }
  }
  const handle: OwnPostgres = {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    async start() {
      // A zombie postmaster still answers kill(pid, 0), so Postgres would take its lock files
      // (data folder, socket) for a live server's: remove them once the old server is dead.
      const pidFile = join(data, 'postmaster.pid')
      if (existsSync(pidFile)) {
        const old = pids()
        const deadline = Date.now() + 10_000
        while (!old.every(dead) && Date.now() < deadline) await sleep(20)
        if (old.every(dead)) {
          rmSync(pidFile, { force: true })
          rmSync(join(dir, `.s.PGSQL.${port}.lock`), { force: true })
        }
      }
      try {
        pgCtl('-o', settings, '-l', join(dir, 'log'), '-w', '-t', '60', 'start')
      } catch (error) {
        const log = existsSync(join(dir, 'log')) ? readFileSync(join(dir, 'log'), 'utf8') : ''
        throw new Error(`own Postgres did not start; its log ends:\n${log.slice(-2000)}`, {
          cause: error,
        })
      }
    },
    kill() {
      const [postmaster, ...children] = pids()
      if (postmaster === undefined) throw new Error('own Postgres is not running')
      process.kill(postmaster, 'SIGKILL')
      for (const pid of children) {
        try {
          process.kill(pid, 'SIGKILL')
        } catch {
          // already gone
        }
      }
      return postmaster
    },
    destroy() {
      try {
        pgCtl('-m', 'immediate', 'stop')
      } catch {
        // not running
      }
      rmSync(dir, { recursive: true, force: true })
    },
  }
  await handle.start()
  return handle
}
