import type pg from 'pg'
import { TenantConflictError, TenantRequiredError, WrongExpectedVersionError } from '../errors.js'
import type { StoreSql } from './sql.js'

/**
 * What a store's tenant option means on its schema (docs/tenants.md): the check that the two
 * agree, and the errors of a tenant store's writes that touch another tenant's stream.
 */
export class Tenancy {
  constructor(
    private readonly pool: pg.Pool,
    private readonly sql: StoreSql,
    private readonly schema: string,
    readonly tenant: string | undefined,
  ) {}

  /** A write's failure, with another tenant's stream told apart (tenant stores only). */
  guard<T>(work: Promise<T>): Promise<T> {
    return this.tenant === undefined ? work : work.catch((error: unknown) => this.#foreign(error))
  }

  /** Whether the session is the schema's owner (or a superuser): it acts for every tenant. */
  async #isAdmin(): Promise<boolean> {
    const { rows } = await this.pool.query<{ admin: boolean }>(this.sql.tenantAdmin)
    return rows[0]?.admin === true
  }

  /**
   * The store's tenant option must match its schema: tenants kept apart (enable_tenants() ran:
   * row-level security on events) exactly when the store has one, except for the owner's own
   * sessions (migrations, scavenge, the console and the CLI see every tenant). Asked once.
   */
  async check(): Promise<void> {
    const { rows } = await this.pool.query<{ tenants: boolean | null }>(this.sql.tenancy)
    const tenants = rows[0]?.tenants === true
    if (tenants && this.tenant === undefined && !(await this.#isAdmin())) {
      throw new TenantRequiredError(
        this.schema,
        undefined,
        'this schema keeps tenants apart; give the store its tenant (createEventStore(…, { tenant }))',
      )
    }
    if (!tenants && this.tenant !== undefined) {
      throw new TenantRequiredError(
        this.schema,
        this.tenant,
        'this schema does not keep tenants apart: its owner runs SELECT <schema>.enable_tenants() first (docs/tenants.md)',
      )
    }
  }

  /**
   * A tenant store's append to another tenant's stream id fails its expected-version check
   * before the write guard sees it (append_events reads versions as the owner): a version the
   * tenant cannot see makes it the TenantConflictError it is. Only on that failure path.
   */
  async #foreign(error: unknown): Promise<never> {
    if (error instanceof WrongExpectedVersionError && error.actual > 0n) {
      const { rows } = await this.pool.query(this.sql.visibleStream, [error.streamId])
      if (rows.length === 0) {
        throw new TenantConflictError(this.tenant!, 'stream', error.streamId, { cause: error })
      }
    }
    throw error
  }
}
