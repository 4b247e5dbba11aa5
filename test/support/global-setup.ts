import type { TestProject } from 'vitest/node'
import { acquireDatabase, type LocalDatabase } from '../../src/local-database/acquire-database.js'
import { startPgBouncer, type PgBouncerServer } from './pgbouncer-server.js'

declare module 'vitest' {
  export interface ProvidedContext {
    serverUrl: string
    /**
     * In the "pgbouncer" project: PgBouncer in transaction mode in front of the server, through
     * which useTestDatabase() connects its stores; '' in the default project.
     */
    poolerUrl: string
  }
}

/** The vitest project whose files run through PgBouncer (vitest.config.ts). */
export const POOLER_PROJECT = 'pgbouncer'

let database: LocalDatabase | undefined
let pooler: PgBouncerServer | undefined

/** Resolves the Postgres server once per run; each test file then creates its own database on it. */
export async function setup(project: TestProject) {
  database = await acquireDatabase({ log: (message) => console.log(`[strata tests] ${message}`) })
  project.provide('serverUrl', database.url)
  if (project.name === POOLER_PROJECT) {
    pooler = await startPgBouncer(database.url)
    console.log(`[strata tests] PgBouncer (transaction mode) on port ${pooler.port}`)
  }
  project.provide('poolerUrl', pooler?.url ?? '')
}

export async function teardown() {
  await pooler?.stop()
  await database?.release()
}
