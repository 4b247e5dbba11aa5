import { checkOptions } from '../config/index.js'
import type pg from 'pg'
import {
  clientExecutor,
  executorFor,
  inTenantTransaction,
  type ExternalTransaction,
  toBigInt,
} from '../db/index.js'
import { checkName, checkPosition, type StoreCore } from '../store/index.js'
import { subscriptionSql, type SubscriptionSql } from './sql.js'

export interface Checkpoint {
  readonly name: string
  readonly position: bigint
  readonly updatedAt: Date
}

/**
 * Positions of durable subscriptions, by name. A subscription resumes after its checkpoint.
 * Saving inside your own transaction (`{ transaction }`) commits the checkpoint with your writes:
 * a crash between them can neither apply an event twice nor skip one.
 */
export class CheckpointStore {
  readonly #sql: SubscriptionSql

  constructor(
    private readonly pool: pg.Pool,
    schema: string,
    /** Resolves once the schema is usable (migrated first with `migrate: 'auto'`). */
    private readonly ready: () => Promise<void>,
  ) {
    this.#sql = subscriptionSql(schema)
  }

  /** The saved position, or null when there is none. */
  async load(
    name: string,
    options: { transaction?: ExternalTransaction } = {},
  ): Promise<bigint | null> {
    checkCheckpointName(name)
    checkOptions(options, ['transaction'], 'an option of checkpoints.load()')
    await this.ready()
    const db =
      options.transaction === undefined
        ? clientExecutor(this.pool)
        : inTenantTransaction(executorFor(options.transaction), this.pool)
    const { rows } = await db.query<{ position: string }>(this.#sql.loadCheckpoint, [name])
    return rows[0] === undefined ? null : toBigInt(rows[0].position)
  }

  /**
   * Saves a position. It never moves backwards unless `force` (a reset or replay).
   * @throws InvalidArgumentError for an empty name or a negative position.
   */
  async save(
    name: string,
    position: bigint,
    options: { transaction?: ExternalTransaction; force?: boolean } = {},
  ): Promise<void> {
    checkCheckpointName(name)
    checkOptions(options, ['transaction', 'force'], 'an option of checkpoints.save()')
    checkPosition('position', position)
    await this.ready()
    const db =
      options.transaction === undefined
        ? clientExecutor(this.pool)
        : inTenantTransaction(executorFor(options.transaction), this.pool)
    await db.query(this.#sql.saveCheckpoint, [name, position.toString(), options.force ?? false])
  }

  async delete(name: string): Promise<void> {
    checkCheckpointName(name)
    await this.ready()
    await this.pool.query(this.#sql.deleteCheckpoint, [name])
  }

  async list(): Promise<Checkpoint[]> {
    await this.ready()
    const { rows } = await this.pool.query<{ name: string; position: string; updated_at: Date }>(
      this.#sql.listCheckpoints,
    )
    return rows.map((row) => ({
      name: row.name,
      position: toBigInt(row.position),
      updatedAt: row.updated_at,
    }))
  }
}

/** Longest checkpoint name, in characters. */
export const MAX_CHECKPOINT_NAME_LENGTH = 200

export function checkCheckpointName(name: unknown, argument = 'checkpoint name'): string {
  return checkName(argument, name, MAX_CHECKPOINT_NAME_LENGTH)
}

/** Saves a durable subscription's position in batches as events are handled. */
export class Checkpointer {
  #pending: bigint | undefined
  #count = 0
  #lastSave = Date.now()

  constructor(
    private readonly store: CheckpointStore,
    private readonly name: string,
    private readonly every: number,
    private readonly onError: (error: unknown) => void,
  ) {}

  /** The event was handled: its position may be saved. */
  async handled(position: bigint): Promise<void> {
    this.#pending = position
    this.#count++
    if (this.#count >= this.every || Date.now() - this.#lastSave >= 1000) await this.flush()
  }

  async flush(): Promise<void> {
    const position = this.#pending
    if (position === undefined) return
    this.#pending = undefined
    this.#count = 0
    this.#lastSave = Date.now()
    try {
      await this.store.save(this.name, position)
    } catch (error) {
      // A later save carries a later position; until then a restart repeats a few events.
      if (this.#pending === undefined) this.#pending = position
      this.onError(error)
    }
  }
}

const stores = new WeakMap<StoreCore, CheckpointStore>()

/** The checkpoints of a store: one instance per store, shared by its subscriptions. */
export function checkpointsOf(store: StoreCore): CheckpointStore {
  let checkpoints = stores.get(store)
  if (checkpoints === undefined) {
    checkpoints = new CheckpointStore(store.pool, store.schema, () => store.ready())
    stores.set(store, checkpoints)
  }
  return checkpoints
}
