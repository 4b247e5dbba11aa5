import type pg from 'pg'
import { clientExecutor, type SqlExecutor, toBigInt } from '../db/index.js'
import type { EventTypes } from '../events/index.js'
import type { SafeHorizon } from './horizon.js'
import type { StoreSql } from './sql.js'
import type { AllFilter, EventMetadata, ReadAllResult, RecordedEvent } from './types.js'

export interface EventRow {
  position: string
  stream_id: string
  version: string
  id: string
  type: string
  data: unknown
  metadata: EventMetadata
  data_version: number
  created_at: Date
}

export function toRecordedEvent(row: EventRow, types: EventTypes): RecordedEvent {
  return {
    id: row.id,
    streamId: row.stream_id,
    version: toBigInt(row.version),
    position: toBigInt(row.position),
    type: row.type,
    data: types.upcast(row.type, row.data, row.data_version),
    metadata: row.metadata,
    createdAt: row.created_at,
  }
}

export interface AllPageRequest {
  readonly after: bigint
  readonly limit: number
  readonly filter: AllFilter | undefined
  readonly maxWaitMs: number
}

/**
 * Reads one page of $all that never skips an event (docs/guarantees.md):
 * - an event is returned only if every position before it is final: either at or below the safe
 *   horizon known *before* the page's snapshot was taken, or contiguous with the previous one;
 * - at a gap above the horizon the horizon is refreshed (waiting for the appends in flight, not
 *   for unrelated transactions) and the page is read again with a new snapshot.
 */
export class AllReader {
  constructor(
    private readonly pool: pg.Pool,
    private readonly sql: StoreSql,
    private readonly horizon: SafeHorizon,
    private readonly types: EventTypes,
  ) {}

  /**
   * Reads one page. `executor` runs the queries (default: the store's pool); live subscriptions
   * pass a connection of their own.
   */
  async read(
    request: AllPageRequest,
    executor?: SqlExecutor,
  ): Promise<ReadAllResult<RecordedEvent>> {
    const db = executor ?? clientExecutor(this.pool)
    return request.filter === undefined || isEmptyFilter(request.filter)
      ? this.#readUnfiltered(request, db)
      : this.#readFiltered(request, request.filter, db)
  }

  async #readUnfiltered(
    { after, limit, maxWaitMs }: AllPageRequest,
    db: SqlExecutor,
  ): Promise<ReadAllResult<RecordedEvent>> {
    const events: RecordedEvent[] = []
    let last = after
    const deadline = Date.now() + maxWaitMs
    for (let refreshes = 0; ; refreshes++) {
      const wanted = limit - events.length
      const safeBelow = this.horizon.known // must be read before the page's snapshot
      const { rows } = await db.query<EventRow>(this.sql.readAllAfter, [last.toString(), wanted])
      const taken = takeBeforeGap(rows, safeBelow, last, this.types, events)
      last = taken.last
      const blocked = taken.blocked
      if (!blocked) return { events, lastPosition: last, isEnd: rows.length < wanted }
      const remaining = deadline - Date.now()
      if (refreshes >= 2 || remaining <= 0) return { events, lastPosition: last, isEnd: false }
      const horizon = await this.horizon.refresh(remaining, db)
      if (horizon === null || horizon <= last) return { events, lastPosition: last, isEnd: false }
    }
  }

  async #readFiltered(
    { after, limit, maxWaitMs }: AllPageRequest,
    filter: AllFilter,
    db: SqlExecutor,
  ): Promise<ReadAllResult<RecordedEvent>> {
    const events: RecordedEvent[] = []
    let last = after
    let refreshed = false
    let writersPending = false
    for (;;) {
      let bound = this.horizon.known
      if (!refreshed) {
        // A filtered page cannot use contiguity (non-matching events leave holes), so it reads up
        // to a fresh horizon; without appends in flight the refresh returns at once.
        refreshed = true
        writersPending = (await this.horizon.refresh(maxWaitMs, db)) === null
        bound = this.horizon.known
      }
      if (bound <= last) return { events, lastPosition: last, isEnd: !writersPending }
      const wanted = limit - events.length
      const { rows } = await db.query<EventRow>(
        this.sql.readAllFiltered,
        filteredPageParams(last, bound, wanted, filter),
      )
      for (const row of rows) events.push(toRecordedEvent(row, this.types))
      if (rows.length === wanted) {
        const lastRow = rows[rows.length - 1]
        return {
          events,
          lastPosition: lastRow === undefined ? last : toBigInt(lastRow.position),
          isEnd: false,
        }
      }
      // Everything up to the bound was scanned: the checkpoint moves past non-matching events.
      last = bound
      if (this.horizon.known <= bound) {
        return { events, lastPosition: last, isEnd: !writersPending }
      }
    }
  }
}

function isEmptyFilter(filter: AllFilter): boolean {
  return (
    filter.eventTypes === undefined &&
    filter.category === undefined &&
    filter.streamIdPrefix === undefined
  )
}

/** A prefix as a LIKE pattern that matches it literally. */
export function escapeLike(prefix: string): string {
  return prefix.replace(/[\\%_]/g, (c) => `\\${c}`)
}

/**
 * Moves `rows` (a page after `last`, in position order) into `events` up to the first one that
 * may still have an unfinished position before it: above `horizon` and not directly after the
 * previous one. Returns the last position taken and whether a gap held the rest back.
 */
export function takeBeforeGap(
  rows: readonly EventRow[],
  horizon: bigint,
  last: bigint,
  types: EventTypes,
  events: RecordedEvent[],
): { last: bigint; blocked: boolean } {
  for (const row of rows) {
    const position = toBigInt(row.position)
    if (position > horizon && position !== last + 1n) return { last, blocked: true }
    events.push(toRecordedEvent(row, types))
    last = position
  }
  return { last, blocked: false }
}

/** The parameters of sql.readAllFiltered: the page after `last` up to `bound`, by `filter`. */
export function filteredPageParams(
  last: bigint,
  bound: bigint,
  wanted: number,
  filter: AllFilter,
): unknown[] {
  return [
    last.toString(),
    bound.toString(),
    wanted,
    filter.eventTypes === undefined ? null : [...filter.eventTypes],
    filter.category ?? null,
    filter.streamIdPrefix === undefined ? null : `${escapeLike(filter.streamIdPrefix)}%`,
  ]
}
