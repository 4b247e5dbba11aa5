import type { Kysely } from 'kysely'
import { checkOut, clientExecutor, kyselyOnPool } from '../db/index.js'
import type { EventRegistry } from '../events/index.js'
import type { StoreCore } from '../store/index.js'
import {
  projectionFailures,
  projectionStatus,
  resetProjection,
  setPaused,
  type ProjectionFailure,
  type ProjectionStatus,
} from './admin.js'
import type {
  AnyProjection,
  ProjectionDefinition,
  RunnableProjection,
} from './define-projection.js'
import { InlineProjections } from './inline.js'
import { ProjectionRunner } from './projection-runner.js'
import type { RunProjectionOptions } from './runner-types.js'
import { versionSchema } from './read-model.js'
import { projectionSql, type ProjectionSql } from './sql.js'

/**
 * The projections of one store, as the facade offers them: runners (stopped by store.close()),
 * inline projections (a transactional hook of the store's appends), status and administration,
 * and kysely on the serving read model.
 */
export class StoreProjections {
  readonly #store: StoreCore
  readonly #sql: ProjectionSql
  #inline: InlineProjections | undefined
  #kysely: Kysely<unknown> | undefined

  constructor(store: StoreCore) {
    this.#store = store
    this.#sql = projectionSql(store.schema)
    // Read models are read through the store's pool; destroying kysely leaves the pool open.
    store.onClose(async () => {
      await this.#kysely?.destroy()
    })
  }

  run(projection: RunnableProjection, options: RunProjectionOptions): ProjectionRunner {
    const runner = new ProjectionRunner(
      this.#store,
      projection as unknown as AnyProjection,
      options,
    )
    const unregister = this.#store.onClose(() => runner.stop())
    void runner.done.finally(unregister).catch(() => undefined)
    return runner
  }

  async addInline(projection: RunnableProjection): Promise<void> {
    if (this.#inline === undefined) {
      this.#inline = new InlineProjections(this.#store, this.#sql)
      this.#store.addTransactionalHook(this.#inline)
    }
    const client = await checkOut(this.#store.pool)
    try {
      await this.#inline.add(clientExecutor(client), projection as unknown as AnyProjection)
    } finally {
      client.release()
    }
  }

  async status(name: string | undefined): Promise<ProjectionStatus[]> {
    const head = await this.#store.headPosition()
    return projectionStatus(this.#store.pool, this.#sql, head, name)
  }

  failures(name: string, version: number, limit?: number): Promise<ProjectionFailure[]> {
    return projectionFailures(this.#store.pool, this.#sql, name, version, limit)
  }

  setPaused(name: string, version: number | undefined, paused: boolean): Promise<number[]> {
    return setPaused(this.#store.pool, this.#sql, name, version, paused)
  }

  reset(name: string, version: number, from: bigint | Date): Promise<void> {
    return resetProjection(this.#store.pool, this.#sql, this.#store.schema, name, version, from)
  }

  async readModel<DB>(
    projection: ProjectionDefinition<EventRegistry, DB> | string,
  ): Promise<Kysely<DB> | null> {
    const name = typeof projection === 'string' ? projection : projection.name
    const { rows } = await this.#store.pool.query<{ version: number }>(this.#sql.activeVersion, [
      name,
    ])
    const version = rows[0]?.version
    if (version === undefined) return null
    this.#kysely ??= kyselyOnPool<unknown>(this.#store.pool)
    return (this.#kysely as Kysely<DB>).withSchema(versionSchema(name, version))
  }
}
