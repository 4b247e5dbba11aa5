import type pg from 'pg'
import { CompiledQuery, type QueryResult } from 'kysely'
import { InvalidArgumentError } from '../errors.js'

/** The one shape strata runs SQL through: a pool, a client, or a user's transaction. */
export interface SqlExecutor {
  query<R>(text: string, values?: readonly unknown[]): Promise<{ rows: R[]; rowCount: number }>
}

/** A kysely Transaction (or Kysely instance), matched structurally so any kysely copy works. */
export interface KyselyExecutorLike {
  readonly isTransaction: boolean
  executeQuery<R>(query: CompiledQuery<R>): Promise<QueryResult<R>>
}

/** A pg client (pg.Client or a pooled client) on which the caller has run BEGIN. */
export interface PgClientLike {
  query(text: string, values?: unknown[]): Promise<pg.QueryResult>
}

/**
 * A transaction the caller owns: strata writes inside it and never commits or rolls it back, so
 * the events commit (or vanish) with the caller's own rows.
 */
export type ExternalTransaction = KyselyExecutorLike | PgClientLike

export function executorFor(transaction: ExternalTransaction): SqlExecutor {
  if (isKysely(transaction)) {
    if (!transaction.isTransaction) {
      throw new InvalidArgumentError(
        'transaction',
        transaction,
        'a Kysely instance is not a transaction; pass the trx of db.transaction().execute(async (trx) => …)',
      )
    }
    return {
      async query<R>(text: string, values: readonly unknown[] = []) {
        const result = await transaction.executeQuery<R>(CompiledQuery.raw(text, [...values]))
        return { rows: result.rows, rowCount: Number(result.numAffectedRows ?? result.rows.length) }
      },
    }
  }
  if (typeof (transaction as PgClientLike | undefined)?.query === 'function') {
    return clientExecutor(transaction)
  }
  throw new InvalidArgumentError(
    'transaction',
    transaction,
    'expected a kysely Transaction or a pg client inside BEGIN',
  )
}

export function clientExecutor(client: PgClientLike | pg.Pool): SqlExecutor {
  return {
    async query<R>(text: string, values: readonly unknown[] = []) {
      const result = await client.query(text, values as unknown[])
      return { rows: result.rows as R[], rowCount: result.rowCount ?? result.rows.length }
    },
  }
}

function isKysely(value: unknown): value is KyselyExecutorLike {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as KyselyExecutorLike).executeQuery === 'function' &&
    'isTransaction' in value
  )
}

/**
 * `pool.connect()` for strata's own work. pg-pool removes its error listener from a client it
 * hands out, so a connection lost while the client is checked out (a restart, a reply lost at
 * COMMIT) would be an uncaught 'error' event, ending the process, besides the rejection of the
 * query in flight. The rejection is the report: the event is ignored until the client is
 * released.
 */
export async function checkOut(pool: pg.Pool): Promise<pg.PoolClient> {
  const client = await pool.connect()
  const ignore = () => undefined
  client.on('error', ignore)
  const release = client.release.bind(client)
  client.release = (error?: Error | boolean) => {
    client.removeListener('error', ignore)
    release(error)
  }
  return client
}

/**
 * Runs `work` in a transaction on a connection of the pool: BEGIN, work, COMMIT; ROLLBACK and
 * rethrow on failure. The connection is released (destroyed if the failure left it unusable).
 */
export async function inTransaction<T>(
  pool: pg.Pool,
  work: (tx: SqlExecutor, client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  const client = await checkOut(pool)
  let broken: Error | undefined
  try {
    await client.query('BEGIN')
    const result = await work(clientExecutor(client), client)
    await client.query('COMMIT')
    return result
  } catch (error) {
    await client.query('ROLLBACK').catch((rollbackError: unknown) => {
      broken = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError))
    })
    throw error
  } finally {
    client.release(broken)
  }
}
