import { toBigInt, type SqlExecutor } from '../db/index.js'
import { ProjectionLeaseLostError } from './errors.js'
import { readModelSearchPath, repointViews } from './read-model.js'
import type { ProjectionSql } from './sql.js'

/** The lease row of a projection version, as its holder sees it. */
export interface LeaseState {
  readonly position: bigint
  readonly status: string
  readonly paused: boolean
}

interface LeaseRow {
  position: string
  status: string
  paused: boolean
}

/**
 * One runner's hold on a projection version: the lease in the projections table (acquired,
 * renewed, released), the fence every apply transaction starts with (still the holder, still at
 * the position it thinks), and the switch to serving once caught up. Exactly one runner per
 * version holds it; the others stand by until it expires.
 */
export class ProjectionLease {
  constructor(
    private readonly sql: ProjectionSql,
    readonly name: string,
    readonly version: number,
    /** The holder's identity (host:pid:random). */
    readonly owner: string,
    readonly leaseMs: number,
    /** The version's schema: hand-written SQL in a transaction resolves there first. */
    private readonly schema: string,
  ) {}

  /** Takes the lease when it is free or expired; undefined when another runner holds it. */
  async acquire(db: SqlExecutor): Promise<(LeaseState & { startedFrom: bigint }) | undefined> {
    const { rows } = await db.query<LeaseRow & { started_from: string }>(this.sql.acquireLease, [
      this.name,
      this.version,
      this.owner,
      this.leaseMs,
    ])
    const row = rows[0]
    return row === undefined
      ? undefined
      : { ...toState(row), startedFrom: toBigInt(row.started_from) }
  }

  /** @throws ProjectionLeaseLostError when the lease has passed to another runner. */
  async renew(db: SqlExecutor): Promise<LeaseState> {
    const { rows } = await db.query<LeaseRow>(this.sql.renewLease, [
      this.name,
      this.version,
      this.owner,
      this.leaseMs,
    ])
    const row = rows[0]
    if (row === undefined) throw new ProjectionLeaseLostError(this.name, this.version)
    return toState(row)
  }

  async release(db: SqlExecutor): Promise<void> {
    await db.query(this.sql.releaseLease, [this.name, this.version, this.owner])
  }

  /** The version serving reads now (0 when none). */
  async activeVersion(db: SqlExecutor): Promise<number> {
    const { rows } = await db.query<{ version: number }>(this.sql.activeVersion, [this.name])
    return rows[0]?.version ?? 0
  }

  /** Retires this version when a newer one is already active (an old deployment still running). */
  async supersede(db: SqlExecutor): Promise<boolean> {
    if ((await this.activeVersion(db)) <= this.version) return false
    await db.query(this.sql.retire, [this.name, this.version])
    return true
  }

  /**
   * Inside a transaction: are we still the holder, at `position`? 'standby' when the version was
   * paused or moved elsewhere (a reset).
   * @throws ProjectionLeaseLostError when the lease has passed to another runner.
   */
  async fence(db: SqlExecutor, position: bigint): Promise<'ok' | 'retired' | 'standby'> {
    const { rows } = await db.query<LeaseRow>(this.sql.fence, [this.name, this.version, this.owner])
    const row = rows[0]
    if (row === undefined) throw new ProjectionLeaseLostError(this.name, this.version)
    if (row.status === 'retired') return 'retired'
    if (toBigInt(row.position) !== position || row.paused) return 'standby'
    return 'ok'
  }

  /** As fence(), for work that cannot stand by half-way. @throws ProjectionLeaseLostError. */
  async assertHeld(db: SqlExecutor, position: bigint): Promise<void> {
    if ((await this.fence(db, position)) !== 'ok')
      throw new ProjectionLeaseLostError(this.name, this.version)
  }

  /** Moves the version's position (and renews the lease), inside the apply transaction. */
  async advance(db: SqlExecutor, to: bigint): Promise<void> {
    await db.query(this.sql.advance, [
      this.name,
      this.version,
      this.owner,
      to.toString(),
      this.leaseMs,
    ])
  }

  /** Makes this version the serving one, once caught up: views switch in the same transaction. */
  activate(db: SqlExecutor, position: bigint): Promise<'active' | 'retired'> {
    return this.transaction(db, async () => {
      const { rows } = await db.query<{ version: number; status: string }>(
        this.sql.lockProjection,
        [this.name],
      )
      if (rows.some((r) => r.status === 'active' && r.version > this.version)) {
        await db.query(this.sql.retire, [this.name, this.version])
        return 'retired' as const
      }
      await this.assertHeld(db, position)
      await db.query(this.sql.retireOthers, [this.name, this.version])
      await db.query(this.sql.activate, [this.name, this.version])
      await repointViews(db, this.sql, this.name, this.version)
      return 'active' as const
    })
  }

  /**
   * One transaction on the runner's connection. Its search_path starts with the version's schema,
   * so read-model SQL written by hand (sql`…` in setup or handlers) lands in this version's
   * tables, like the kysely builder's, and never in another version's.
   */
  async transaction<T>(db: SqlExecutor, work: () => Promise<T>): Promise<T> {
    await db.query('BEGIN')
    try {
      await db.query(readModelSearchPath(this.schema))
      const result = await work()
      await db.query('COMMIT')
      return result
    } catch (error) {
      await db.query('ROLLBACK').catch(() => undefined)
      throw error
    }
  }
}

function toState(row: LeaseRow): LeaseState {
  return { position: toBigInt(row.position), status: row.status, paused: row.paused }
}
