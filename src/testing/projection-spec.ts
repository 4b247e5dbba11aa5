import { randomBytes, randomUUID } from 'node:crypto'
import { isDeepStrictEqual } from 'node:util'
import { checkOut, clientExecutor, quoteIdent, kyselyOn } from '../db/index.js'
import {
  type ReadModelDb,
  type RunnableProjection,
  readModelSearchPath,
} from '../projections/index.js'
import {
  EventTypes,
  type EventInputOf,
  type EventRegistry,
  type EventTypeOf,
} from '../events/index.js'
import type { EventStore } from '../event-store.js'
import type { EventMetadata, RecordedEvent } from '../store/index.js'
import { SpecAssertionError } from './spec-assertion-error.js'

/** An event of a registry as a projection spec takes it: a stream id, `type`, `data` in the zod input shape. */
type TypedSpecEvent<R extends EventRegistry> = {
  [K in EventTypeOf<R>]: {
    readonly streamId: string
    readonly type: K
    readonly data: EventInputOf<R, K>
    readonly metadata?: EventMetadata
  }
}[EventTypeOf<R>]

/** An event of any type, as a spec of a store without a registry (or allowing others) takes it. */
interface UntypedSpecEvent {
  readonly streamId: string
  readonly type: string
  readonly data: unknown
  readonly metadata?: EventMetadata
}

/**
 * An event given to a projection spec: a stream id, a type, data (and optional metadata), typed
 * from the registry as an append is: a type the registry does not know, or data of the wrong
 * shape, fails to compile (unless the store allows unregistered types). `R` is the store's
 * registry with the projection's own `events` added; without a registry, any event.
 */
export type ProjectionSpecEvent<
  R extends EventRegistry = Record<never, never>,
  Open extends boolean = false,
> = [EventTypeOf<R>] extends [never]
  ? UntypedSpecEvent
  : Open extends true
    ? TypedSpecEvent<R> | UntypedSpecEvent
    : TypedSpecEvent<R>

/** The event registry of a projection (from its `events` option; none without it). */
type ProjectionEventsOf<P> = P extends { readonly events?: infer PR }
  ? PR extends EventRegistry
    ? PR
    : Record<never, never>
  : Record<never, never>

/** The registry a spec types its given events with: the store's, plus the projection's own types. */
export type ProjectionSpecRegistry<R extends EventRegistry, P> = R &
  Omit<ProjectionEventsOf<P>, keyof R>

/** The first step of a projection spec: the events the projection is given. */
export interface ProjectionSpec<Event> {
  /** The events to apply, in order (given versions and positions as they come). */
  given(events: readonly Event[]): ProjectionThen
}

export interface ProjectionThen {
  /**
   * Asserts the rows of a read-model table after the handlers ran, compared as a set (order
   * ignored) unless `orderBy` names columns to sort by. Only the columns of the expected rows
   * are compared. Throws SpecAssertionError with both row sets (a diff in vitest).
   */
  expectRows(
    table: string,
    rows: ReadonlyArray<Record<string, unknown>>,
    options?: { orderBy?: readonly string[] },
  ): Promise<void>
  /** The rows of a table, to assert on yourself. */
  rows(table: string): Promise<Array<Record<string, unknown>>>
}

/**
 * A projection spec against real Postgres: given events, expect read-model rows. Each spec sets
 * the projection up in a schema of its own, applies its handlers to the given events (validated
 * and normalised by the event registry as an append would be, as recorded events with
 * increasing versions and positions, in one transaction), checks the rows, and drops the
 * schema. Nothing is appended to the store. The given events are typed from the store's
 * registry and the projection's `events`, so a misspelt type or field fails to compile.
 *
 * @example
 * await projectionSpec(store, balances)
 *   .given([{ streamId: 'account-1', type: 'Deposited', data: { amount: 10 } }])
 *   .expectRows('accounts', [{ id: 'account-1', balance: 10 }])
 *
 * @throws (from expectRows and rows) EventValidationError for invalid data, UnknownEventTypeError
 *   for a type neither registry knows, SpecAssertionError when the rows differ.
 */
export function projectionSpec<
  R extends EventRegistry,
  Open extends boolean,
  P extends RunnableProjection,
>(
  store: EventStore<R, Open>,
  projection: P,
): ProjectionSpec<ProjectionSpecEvent<ProjectionSpecRegistry<R, P>, Open>> {
  return {
    given(events): ProjectionThen {
      const given = events as readonly UntypedSpecEvent[]
      return {
        async expectRows(table, expected, options = {}) {
          const actual = project(
            await apply(store, projection, given, table),
            expected,
            options.orderBy,
          )
          const wanted = options.orderBy === undefined ? [...expected].sort(byJson) : [...expected]
          if (!isDeepStrictEqual(actual, wanted)) {
            throw new SpecAssertionError(
              `projection ${projection.name} v${projection.version}: table ${table} does not hold the expected rows`,
              actual,
              wanted,
            )
          }
        },
        rows: (table) => apply(store, projection, given, table),
      }
    },
  }
}

type Handler = (event: RecordedEvent, db: ReadModelDb<unknown>) => void | Promise<void>

async function apply(
  store: EventStore<EventRegistry, boolean>,
  projection: RunnableProjection,
  given: readonly UntypedSpecEvent[],
  table: string,
): Promise<Array<Record<string, unknown>>> {
  const definition = projection as RunnableProjection & {
    setup?: (db: ReadModelDb<unknown>) => Promise<void>
    handlers: Record<string, Handler>
    events?: EventRegistry
  }
  // Given events go through the registry as an append would (zod validation, defaults and
  // transforms, then JSON), so handlers see what they would see in production.
  const own = definition.events === undefined ? undefined : new EventTypes(definition.events, true)
  const payloads = given.map((event, index) => {
    const types =
      !store.eventTypes.has(event.type) && own?.has(event.type) === true ? own : store.eventTypes
    const data = types.parse(event.type, event.data, index)
    return JSON.parse(JSON.stringify(data ?? null)) as unknown
  })
  const schema = `${projection.name}_spec_${randomBytes(4).toString('hex')}`
  const client = await checkOut(store.pool)
  const db = clientExecutor(client)
  try {
    await db.query('BEGIN')
    await db.query(`CREATE SCHEMA ${quoteIdent(schema)}`)
    await db.query(readModelSearchPath(schema)) // hand-written SQL lands here, as in a runner
    const readModel = kyselyOn<unknown>(db).withSchema(schema)
    await definition.setup?.(readModel)
    const versions = new Map<string, bigint>()
    let position = 0n
    for (const [index, event] of given.entries()) {
      const version = (versions.get(event.streamId) ?? 0n) + 1n
      versions.set(event.streamId, version)
      position++
      const recorded: RecordedEvent = {
        id: randomUUID(),
        streamId: event.streamId,
        version,
        position,
        type: event.type,
        data: payloads[index],
        metadata: event.metadata ?? {},
        createdAt: new Date(),
      }
      await definition.handlers[event.type]?.(recorded, readModel)
    }
    const { rows } = await db.query<Record<string, unknown>>(
      `SELECT * FROM ${quoteIdent(schema)}.${quoteIdent(table)}`,
    )
    return rows
  } finally {
    await db.query('ROLLBACK').catch(() => undefined) // the schema and its rows vanish with it
    client.release()
  }
}

/** Keeps the expected columns of each row, in the requested order (or sorted as a set). */
function project(
  rows: ReadonlyArray<Record<string, unknown>>,
  expected: ReadonlyArray<Record<string, unknown>>,
  orderBy: readonly string[] | undefined,
): Array<Record<string, unknown>> {
  const columns = [...new Set(expected.flatMap((row) => Object.keys(row)))]
  const picked = rows.map((row) => Object.fromEntries(columns.map((c) => [c, row[c]])))
  if (orderBy === undefined) return picked.sort(byJson)
  return picked.sort((a, b) => {
    for (const column of orderBy) {
      const order = compare(a[column], b[column])
      if (order !== 0) return order
    }
    return 0
  })
}

function compare(a: unknown, b: unknown): number {
  if (
    typeof a === typeof b &&
    (typeof a === 'number' || typeof a === 'bigint' || typeof a === 'string')
  ) {
    return (a as number) < (b as number) ? -1 : (a as number) > (b as number) ? 1 : 0
  }
  return byJson(a, b)
}

function byJson(a: unknown, b: unknown): number {
  const x = JSON.stringify(a, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))
  const y = JSON.stringify(b, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))
  return x < y ? -1 : x > y ? 1 : 0
}
