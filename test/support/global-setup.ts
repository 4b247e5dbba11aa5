import type { TestProject } from 'vitest/node'
import { acquireDatabase, type LocalDatabase } from '../../src/local-database/acquire-database.js'

declare module 'vitest' {
  export interface ProvidedContext {
    serverUrl: string
  }
}

let database: LocalDatabase | undefined

/** Resolves the Postgres server once per run; each test file then creates its own database on it. */
export async function setup(project: TestProject) {
  database = await acquireDatabase({ log: (message) => console.log(`[strata tests] ${message}`) })
  project.provide('serverUrl', database.url)
}

export async function teardown() {
  await database?.release()
}
