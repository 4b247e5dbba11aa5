import type pg from 'pg'
import { clientExecutor, type SqlExecutor, toBigIntOrNull } from '../db/index.js'
import type { StoreSql } from './sql.js'

/**
 * The highest position known to be final in this process: every event at or below it that will
 * ever commit has committed (see safe_horizon in migrations/0001 and docs/guarantees.md).
 * It only moves forward, so concurrent readers share one value and at most one refresh at a time.
 */
export class SafeHorizon {
  #known = 0n
  #refreshing: Promise<bigint | null> | undefined

  constructor(
    private readonly pool: pg.Pool,
    private readonly sql: StoreSql,
  ) {}

  get known(): bigint {
    return this.#known
  }

  /**
   * Asks the database for a new horizon, waiting up to maxWaitMs for in-flight appends to end.
   * Resolves to the new horizon, or null when those appends are still running.
   * A reader must take its snapshot after this resolves for the horizon to cover it.
   */
  refresh(maxWaitMs: number, executor?: SqlExecutor): Promise<bigint | null> {
    this.#refreshing ??= this.#query(maxWaitMs, executor ?? clientExecutor(this.pool)).finally(
      () => {
        this.#refreshing = undefined
      },
    )
    return this.#refreshing
  }

  async #query(maxWaitMs: number, executor: SqlExecutor): Promise<bigint | null> {
    const { rows } = await executor.query<{ horizon: string | null }>(this.sql.safeHorizon, [
      Math.max(0, Math.round(maxWaitMs)),
    ])
    const horizon = toBigIntOrNull(rows[0]?.horizon)
    if (horizon === null) return null
    if (horizon > this.#known) this.#known = horizon
    return horizon
  }
}
