import { createHash } from 'node:crypto'
import type pg from 'pg'
import { clientExecutor, type SqlExecutor } from './executor.js'
import { isDatabaseError } from './pg-errors.js'
import { tenantOf } from './tenant-pool.js'

/**
 * SQLSTATEs a pooler gives a named statement when it does not keep statements per client
 * (PgBouncer before 1.21, or with max_prepared_statements = 0, in transaction mode): the client's
 * next transaction ran on a server connection that never saw the statement (26000), or one that
 * already has it (42P05). Both come from Parse or Bind, before anything runs.
 */
const POOLER_CODES = new Set(['26000', '42P05'])

/** Postgres refuses a cached plan whose result columns changed (a migration ran): before it runs. */
const RESULT_TYPE_CHANGED = 'cached plan must not change result type'

const names = new Map<string, string>()

/**
 * The statement's name: a hash of its text. One name always means one text, so a statement that
 * a pooler routes to a server connection another client prepared runs what this one meant.
 */
function statementName(text: string): string {
  let name = names.get(text)
  if (name === undefined) {
    name = `strata_${createHash('sha256').update(text).digest('base64url').slice(0, 32)}`
    names.set(text, name)
  }
  return name
}

/**
 * An executor on `pool`, in autocommit, that sends each text as a named prepared statement:
 * Postgres parses and plans it once per connection instead of on every call (pgbench, 8 clients,
 * the single append: 8,600 appends/s against 7,100 unnamed). Only for the store's own constant
 * statements (each text is kept on every connection that ran it), and never inside a
 * transaction: when a pooler refuses named statements, or a migration changed a statement's
 * result columns, the statement is sent again unnamed (nothing ran) and this executor stops
 * naming them. A tenant pool opens a transaction per query, so it is used as it is, unnamed;
 * `enabled: false` (the store's `preparedStatements` option) does the same.
 */
export function preparedExecutor(pool: pg.Pool, enabled: boolean): SqlExecutor {
  let named = enabled && tenantOf(pool) === undefined
  const unnamed = clientExecutor(pool)
  return {
    async query<R>(text: string, values: readonly unknown[] = []) {
      if (named) {
        try {
          const result = await pool.query({ name: statementName(text), text, values: [...values] })
          return { rows: result.rows as R[], rowCount: result.rowCount ?? result.rows.length }
        } catch (error) {
          const refused =
            isDatabaseError(error) &&
            (POOLER_CODES.has(error.code ?? '') || error.message.startsWith(RESULT_TYPE_CHANGED))
          if (!refused) throw error
          // The connection's statement stays as it is (a changed result type fails every call).
          named = false
        }
      }
      return unnamed.query<R>(text, values)
    },
  }
}
