import type pg from 'pg'
import { SchemaOutdatedError } from '../errors.js'
import { UsageError } from './output.js'

/** The schemas of a database that hold a strata store (a migrations table beside an events table). */
export async function storeSchemas(pool: pg.Pool): Promise<string[]> {
  const { rows } = await pool.query<{ schema: string }>(
    `SELECT m.table_schema AS schema
       FROM information_schema.tables m
       JOIN information_schema.tables e
         ON e.table_schema = m.table_schema AND e.table_name = 'events'
      WHERE m.table_name = 'schema_migrations'
      ORDER BY 1`,
  )
  return rows.map((row) => row.schema)
}

/**
 * A schema with no store at all is most often the wrong `--schema` (the default `strata` while
 * the application's store lives elsewhere), and `strata migrate` would then create an empty
 * store. Name the stores the database does have instead; with none, the original advice stands.
 */
export async function explainMissingStore(error: unknown, pool: pg.Pool): Promise<unknown> {
  if (!(error instanceof SchemaOutdatedError) || error.appliedVersion !== 0) return error
  const found = await storeSchemas(pool).catch(() => [])
  if (found.length === 0) return error
  const list = found.map((schema) => JSON.stringify(schema)).join(', ')
  return new UsageError(
    `no strata store in schema ${JSON.stringify(error.schema)}; this database has ${found.length === 1 ? 'a store in schema' : 'stores in schemas'} ${list}: pass --schema ${found[0]}${found.length === 1 ? '' : ' (or another of them)'}, or run \`strata migrate --schema ${error.schema}\` to create a new one`,
  )
}
