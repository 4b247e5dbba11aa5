import type pg from 'pg'
import { ConfigError, TenantConflictError, TenantRequiredError } from '../errors.js'
import type { SqlExecutor } from './executor.js'
import { isDatabaseError } from './pg-errors.js'

/**
 * A tenant id: letters, digits and `_ . : @ -`, starting with a letter or digit, at most 63
 * characters. The charset keeps it safe to write as a literal into the statement that opens a
 * transaction (one round trip instead of two), and usable in names (a schema or database per
 * tenant later, docs/tenants.md).
 */
const TENANT = /^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,62}$/

/** SQLSTATEs of migrations/0013 (tenants). */
export const TENANT_SQLSTATE = { conflict: 'SX010', required: 'SX011' } as const

/** Marks the connection options of a tenant pool, so live readers' own connections carry it. */
export const TENANT_OPTION = Symbol('strata.tenant')

const tenants = new WeakMap<object, { tenant: string; schema: string }>()

/** @throws ConfigError when `value` is not a tenant id (see TENANT). */
export function checkTenant(value: unknown): string {
  if (typeof value !== 'string' || !TENANT.test(value)) {
    throw new ConfigError(
      'tenant',
      value,
      'must be 1 to 63 letters, digits or _ . : @ - (starting with a letter or digit)',
    )
  }
  return value
}

/** The tenant of a pool made by tenantPool, else undefined. */
export function tenantOf(pool: object): string | undefined {
  return tenants.get(pool)?.tenant
}

/** The tenant (and schema) in connection options copied from a tenant pool's `options`. */
export function tenantOfConfig(config: object): { tenant: string; schema: string } | undefined {
  const value = (config as { [TENANT_OPTION]?: { tenant: string; schema: string } })[TENANT_OPTION]
  return value
}

const BEGIN = /^\s*(begin|start\s+transaction)\b/i
const END = /^\s*(commit|rollback|end|abort)\b/i
const ROLLBACK_TO = /^\s*rollback\s+(work\s+|transaction\s+)?to\b/i
/** Maintenance that cannot run in a transaction block (consumer groups vacuum their tables). */
const NO_TRANSACTION =
  /^\s*(vacuum|create\s+(unique\s+)?index\s+concurrently|reindex\s+.*concurrently)\b/i

type Query = (text: unknown, values?: unknown) => Promise<pg.QueryResult>

/**
 * The pool of a tenant store: every transaction it runs names its tenant with
 * `set_config('strata.tenant', tenant, true)`, transaction-local, so it holds through PgBouncer
 * in transaction mode and never outlives the transaction on a shared connection. SX010 and
 * SX011 come back as TenantConflictError and TenantRequiredError.
 */
export function tenantPool(pool: pg.Pool, tenant: string, schema: string): pg.Pool {
  checkTenant(tenant)
  const wrapClient = (client: pg.PoolClient): pg.PoolClient => {
    const query = tenantQuery(client.query.bind(client) as Query, tenant, schema)
    return new Proxy(client, {
      get(target, property) {
        if (property === 'query') return query
        const value: unknown = Reflect.get(target, property, target)
        return typeof value === 'function' ? (value as () => unknown).bind(target) : value
      },
    })
  }
  const wrapped = new Proxy(pool, {
    get(target, property) {
      if (property === 'query') {
        return async (text: unknown, values?: unknown) => {
          const client = await target.connect()
          try {
            return await tenantQuery(
              client.query.bind(client) as Query,
              tenant,
              schema,
            )(text, values)
          } finally {
            client.release()
          }
        }
      }
      if (property === 'connect') return async () => wrapClient(await target.connect())
      if (property === 'options') return { ...target.options, [TENANT_OPTION]: { tenant, schema } }
      const value: unknown = Reflect.get(target, property, target)
      return typeof value === 'function' ? (value as () => unknown).bind(target) : value
    },
  })
  tenants.set(wrapped, { tenant, schema })
  return wrapped
}

/**
 * `query` of one connection, for a tenant: BEGIN is followed by the setting (in the same round
 * trip); a statement outside a transaction runs in one of its own (BEGIN with the setting, the
 * statement, COMMIT). It follows BEGIN, COMMIT and ROLLBACK to know which is which.
 */
export function tenantQuery(query: Query, tenant: string, schema: string): Query {
  const setting = `SELECT set_config('strata.tenant', '${checkTenant(tenant)}', true)`
  let inTransaction = false
  return async (text, values) => {
    const sql = typeof text === 'string' ? text : (text as { text?: unknown } | null)?.text
    // Cursors and other submittables pass through untouched (strata sends none).
    if (typeof sql !== 'string') return query(text, values)
    try {
      if (BEGIN.test(sql) && noValues(values)) {
        const results = (await query(`${sql}; ${setting}`)) as unknown
        inTransaction = true
        return (Array.isArray(results) ? results[0] : results) as pg.QueryResult
      }
      if (END.test(sql) && !ROLLBACK_TO.test(sql)) {
        inTransaction = false
        return await query(text, values)
      }
      if (inTransaction || NO_TRANSACTION.test(sql)) return await query(text, values)
      await query(`BEGIN; ${setting}`)
      try {
        const result = await query(text, values)
        await query('COMMIT')
        return result
      } catch (error) {
        await query('ROLLBACK').catch(() => undefined)
        throw error
      }
    } catch (error) {
      throw tenantError(error, tenant, schema)
    }
  }
}

/**
 * `executor` (a caller's transaction) named with the tenant of `pool` before its first
 * statement; unchanged for a tenant-less store.
 */
export function inTenantTransaction(executor: SqlExecutor, pool: object): SqlExecutor {
  const named = tenants.get(pool)
  if (named === undefined) return executor
  const setting = `SELECT set_config('strata.tenant', '${named.tenant}', true)`
  let done = false
  return {
    query: async (text: string, values?: readonly unknown[]) => {
      try {
        if (!done) {
          await executor.query(setting)
          done = true
        }
        return await executor.query(text, values)
      } catch (error) {
        throw tenantError(error, named.tenant, named.schema)
      }
    },
  }
}

/** kysely sends its BEGIN with an empty array of parameters. */
function noValues(values: unknown): boolean {
  return values === undefined || (Array.isArray(values) && values.length === 0)
}

function tenantError(error: unknown, tenant: string, schema: string): unknown {
  if (!isDatabaseError(error)) return error
  if (error.code === TENANT_SQLSTATE.conflict) {
    return new TenantConflictError(tenant, error.detail ?? 'a name', error.hint, { cause: error })
  }
  if (error.code === TENANT_SQLSTATE.required) {
    return new TenantRequiredError(schema, tenant, 'the transaction did not name its tenant', {
      cause: error,
    })
  }
  return error
}
