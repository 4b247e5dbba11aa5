import { readdir, readFile } from 'node:fs/promises'

/** The numbered files (migrations/schema.snapshot.sql, the schema they add up to, is not one). */
const MIGRATION_FILE = /^\d{4}_.*\.sql$/

/** One SQL file of migrations/, as shipped. */
export interface MigrationFile {
  readonly name: string
  readonly sql: string
}

/**
 * The files of migrations/, by name. This version reads them from the folder next to src/ (the
 * sources, the tests, a checkout); the build (scripts/build.js) replaces the compiled module
 * with one that embeds the same text, so dist/ needs no file reads and survives bundling.
 */
export async function migrationFiles(): Promise<readonly MigrationFile[]> {
  const dir = new URL('../../migrations/', import.meta.url)
  const names = (await readdir(dir)).filter((name) => MIGRATION_FILE.test(name)).sort()
  return Promise.all(
    names.map(async (name) => ({ name, sql: await readFile(new URL(name, dir), 'utf8') })),
  )
}
