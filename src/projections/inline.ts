import { type SqlExecutor, quoteIdent, kyselyOn } from '../db/index.js'
import type { EventRow, RecordedEvent } from '../store/index.js'
import type { AnyProjection, ReadModelDb } from './define-projection.js'
import {
  readModelSearchPath,
  repointViews,
  schemaExists,
  searchPathOf,
  versionSchema,
} from './read-model.js'
import type { ProjectionSql } from './sql.js'

type Handler = (event: RecordedEvent, db: ReadModelDb<unknown>) => void | Promise<void>

/** What inline projections need from the store (kept narrow to avoid a cycle). */
export interface InlineStore {
  readonly schema: string
  toRecordedEvent(row: EventRow): RecordedEvent
  readonly sql: { readonly eventsByIds: string }
}

/**
 * Projections applied in the append's own transaction: a read model that is up to date the
 * moment appendToStream returns (read-your-writes), at the cost of running the handlers inside
 * every append of the event types they handle. They apply to appends made through the stores
 * they were added to; events appended before, or by processes without them, are not applied
 * (rebuild them with runProjection).
 */
export class InlineProjections {
  readonly #projections: AnyProjection[] = []
  readonly #types = new Set<string>()

  constructor(
    private readonly store: InlineStore,
    private readonly sql: ProjectionSql,
  ) {}

  get size(): number {
    return this.#projections.length
  }

  /** Registers, sets up (once) and activates a projection for inline application. */
  async add(db: SqlExecutor, projection: AnyProjection): Promise<void> {
    if (this.#projections.some((p) => p.name === projection.name)) {
      throw new Error(`Projection ${projection.name} is already applied inline by this store`)
    }
    await db.query('BEGIN')
    try {
      await db.query(this.sql.registerInline, [projection.name, projection.version])
      await db.query(this.sql.lockProjection, [projection.name])
      const schema = versionSchema(projection.name, projection.version)
      if (!(await schemaExists(db, this.sql, schema))) {
        await db.query(`CREATE SCHEMA ${quoteIdent(schema)}`)
        // Hand-written SQL in setup creates its tables in the version's schema.
        await db.query(readModelSearchPath(schema))
        const setup = projection.setup as ((db: ReadModelDb<unknown>) => Promise<void>) | undefined
        await setup?.(kyselyOn<unknown>(db).withSchema(schema))
      }
      await db.query(this.sql.retireOthers, [projection.name, projection.version])
      await db.query(this.sql.activate, [projection.name, projection.version])
      await repointViews(db, this.sql, projection.name, projection.version)
      await db.query('COMMIT')
    } catch (error) {
      await db.query('ROLLBACK').catch(() => undefined)
      throw error
    }
    this.#projections.push(projection)
    for (const type of projection.eventTypes) this.#types.add(type)
  }

  /** Whether any of these event types has an inline handler. */
  handles(types: Iterable<string>): boolean {
    for (const type of types) if (this.#types.has(type)) return true
    return false
  }

  /** Applies the handlers to the events just appended, inside the same transaction. */
  async apply(db: SqlExecutor, eventIds: readonly string[]): Promise<void> {
    const { rows } = await db.query<EventRow>(this.store.sql.eventsByIds, [eventIds])
    const events = rows.map((row) => this.store.toRecordedEvent(row))
    // Each projection's hand-written SQL resolves in its own schema first (as with the runner);
    // the transaction may be the caller's, so their search_path is put back afterwards, also
    // when a handler throws (a JavaScript error leaves their transaction usable).
    let callersPath: string | undefined
    const restore = async () => {
      if (callersPath === undefined) return
      await db.query(`SELECT set_config('search_path', $1, true)`, [callersPath])
    }
    try {
      for (const projection of this.#projections) {
        const handlers = projection.handlers as unknown as Record<string, Handler>
        if (!events.some((event) => handlers[event.type] !== undefined)) continue
        const schema = versionSchema(projection.name, projection.version)
        if (callersPath === undefined) {
          const { rows: paths } = await db.query<{ path: string }>(
            `SELECT current_setting('search_path') AS path`,
          )
          callersPath = paths[0]!.path
        }
        await db.query(`SELECT set_config('search_path', $1, true)`, [
          searchPathOf(schema, callersPath),
        ])
        const readModel = kyselyOn<unknown>(db).withSchema(schema)
        for (const event of events) await handlers[event.type]?.(event, readModel)
      }
    } catch (error) {
      await restore().catch(() => undefined) // an aborted transaction ends with it anyway
      throw error
    }
    await restore()
  }
}
