import {
  Kysely,
  PostgresAdapter,
  PostgresDialect,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type CompiledQuery,
  type DatabaseConnection,
  type Driver,
  type QueryResult,
} from 'kysely'
import type pg from 'pg'
import { checkOut, type SqlExecutor } from './executor.js'

/**
 * Tables of a read model when the user gave no types: any table, any column. A projection that
 * declares its DB type gets kysely's full checking instead.
 */
export type UntypedDatabase = Record<string, Record<string, unknown>>

/**
 * Kysely on the store's pool, for reading read models. Destroying it leaves the pool open: the
 * pool belongs to the store (or to you).
 */
export function kyselyOnPool<DB>(pool: pg.Pool): Kysely<DB> {
  return new Kysely<DB>({
    dialect: new PostgresDialect({
      pool: { connect: () => checkOut(pool), end: () => Promise.resolve() },
    }),
  })
}

/**
 * Kysely bound to one connection inside a transaction strata (or the caller) controls: every
 * query runs on that connection, so handlers' writes commit or roll back with the events and the
 * checkpoint. It cannot start, commit or roll back transactions of its own.
 */
export function kyselyOn<DB>(executor: SqlExecutor): Kysely<DB> {
  const connection: DatabaseConnection = {
    async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
      const result = await executor.query<R>(query.sql, query.parameters)
      const isWrite = query.query.kind !== 'SelectQueryNode' && query.query.kind !== 'RawNode'
      return isWrite
        ? { rows: result.rows, numAffectedRows: BigInt(result.rowCount) }
        : { rows: result.rows }
    },
    // eslint-disable-next-line require-yield, @typescript-eslint/require-await
    async *streamQuery() {
      throw new Error('streaming queries are not available inside a strata transaction')
    },
  }
  const refuse = () =>
    Promise.reject(new Error('this kysely instance runs inside a transaction strata controls'))
  const driver: Driver = {
    init: () => Promise.resolve(),
    acquireConnection: () => Promise.resolve(connection),
    beginTransaction: refuse,
    commitTransaction: refuse,
    rollbackTransaction: refuse,
    releaseConnection: () => Promise.resolve(),
    destroy: () => Promise.resolve(),
  }
  return new Kysely<DB>({
    dialect: {
      createAdapter: () => new PostgresAdapter(),
      createDriver: () => driver,
      createIntrospector: (db) => new PostgresIntrospector(db),
      createQueryCompiler: () => new PostgresQueryCompiler(),
    },
  })
}
