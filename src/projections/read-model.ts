import { type SqlExecutor, quoteIdent } from '../db/index.js'
import type { ProjectionSql } from './sql.js'

/** Schema of a projection version's tables. */
export function versionSchema(name: string, version: number): string {
  return `${name}_v${version}`
}

/** Schema of the views that show the active version. */
export function servingSchema(name: string): string {
  return name
}

export async function schemaExists(
  db: SqlExecutor,
  sql: ProjectionSql,
  schema: string,
): Promise<boolean> {
  const { rows } = await db.query<{ exists: boolean }>(sql.schemaExists, [schema])
  return rows[0]?.exists === true
}

/**
 * Points the serving views at a version's tables: `<name>.<table>` selects from
 * `<name>_v<N>.<table>`. Runs inside the activation transaction, so readers switch atomically.
 */
export async function repointViews(
  db: SqlExecutor,
  sql: ProjectionSql,
  name: string,
  version: number,
): Promise<void> {
  const serving = servingSchema(name)
  const source = versionSchema(name, version)
  await db.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(serving)}`)
  const { rows: views } = await db.query<{ table_name: string }>(sql.viewsOf, [serving])
  for (const view of views)
    await db.query(`DROP VIEW ${quoteIdent(serving)}.${quoteIdent(view.table_name)}`)
  const { rows: tables } = await db.query<{ table_name: string }>(sql.tablesOf, [source])
  for (const table of tables) {
    await db.query(
      `CREATE VIEW ${quoteIdent(serving)}.${quoteIdent(table.table_name)} AS SELECT * FROM ${quoteIdent(source)}.${quoteIdent(table.table_name)}`,
    )
  }
}

/**
 * The statement that puts a projection version's schema first on a transaction's search_path
 * (the rest stays, so extensions and the application's schemas still resolve): hand-written
 * read-model SQL then resolves unqualified names there. Local: it ends with the transaction.
 */
export function readModelSearchPath(schema: string): string {
  const first = quoteIdent(schema).replaceAll("'", "''")
  return `SELECT set_config('search_path', '${first}, ' || current_setting('search_path'), true)`
}

/** A search_path with the version's schema in front of `rest` (see {@link readModelSearchPath}). */
export function searchPathOf(schema: string, rest: string): string {
  return rest === '' ? quoteIdent(schema) : `${quoteIdent(schema)}, ${rest}`
}
