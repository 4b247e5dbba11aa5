import { type SqlExecutor, toBigInt } from '../db/index.js'
import type { EventTypes } from '../events/index.js'
import {
  filteredPageParams,
  takeBeforeGap,
  toRecordedEvent,
  type AllPageRequest,
  type EventRow,
} from './read.js'
import type { StoreSql } from './sql.js'
import type { AllFilter, ReadAllResult, RecordedEvent } from './types.js'

/** What a replica connection showed before a read: see ReplicaSet.run. */
export interface ReplicaView {
  /** The published horizon in this replica's view. */
  readonly horizon: bigint
  /** Age of the view in ms (null: nothing was ever published). */
  readonly lagMs: number | null
}

export interface ReplicaPageContext {
  readonly sql: StoreSql
  readonly types: EventTypes
  /** How often to look at the published horizon while a page waits for the next one. */
  readonly pollMs: number
}

/**
 * One page of $all from a replica connection, with the guarantee of the primary's reader
 * (docs/guarantees.md, "Reading from replicas"): an event is returned only if it is at or below
 * the horizon published in this replica's view (every position up to it is final and visible
 * here), or contiguous with the previous one. Every query runs on `db`, one server, so a later
 * snapshot sees at least what the view showed. At a gap above the horizon the page waits (up to
 * maxWaitMs) for the primary to publish a new one, unless it already has events to return.
 */
export async function readReplicaPage(
  db: SqlExecutor,
  context: ReplicaPageContext,
  request: AllPageRequest,
  view: ReplicaView,
): Promise<ReadAllResult<RecordedEvent>> {
  const filter = request.filter
  return filter === undefined ||
    (filter.eventTypes === undefined &&
      filter.category === undefined &&
      filter.streamIdPrefix === undefined)
    ? unfiltered(db, context, request, view.horizon)
    : filtered(db, context, request, filter, view.horizon)
}

async function unfiltered(
  db: SqlExecutor,
  { sql, types, pollMs }: ReplicaPageContext,
  { after, limit, maxWaitMs }: AllPageRequest,
  published: bigint,
): Promise<ReadAllResult<RecordedEvent>> {
  const events: RecordedEvent[] = []
  const deadline = Date.now() + maxWaitMs
  let horizon = published
  let last = after
  for (;;) {
    const wanted = limit - events.length
    const { rows } = await db.query<EventRow>(sql.readAllAfter, [last.toString(), wanted])
    const taken = takeBeforeGap(rows, horizon, last, types, events)
    last = taken.last
    const blocked = taken.blocked
    if (!blocked) return { events, lastPosition: last, isEnd: rows.length < wanted }
    // Held back at a gap the published horizon does not cover yet: what we have goes now.
    if (events.length > 0) return { events, lastPosition: last, isEnd: false }
    const next = await nextPublication(db, sql, horizon, deadline, pollMs)
    if (next <= horizon) return { events, lastPosition: last, isEnd: false }
    horizon = next
  }
}

async function filtered(
  db: SqlExecutor,
  { sql, types, pollMs }: ReplicaPageContext,
  { after, limit, maxWaitMs }: AllPageRequest,
  filter: AllFilter,
  published: bigint,
): Promise<ReadAllResult<RecordedEvent>> {
  // Non-matching events leave holes, so contiguity says nothing: read up to the horizon only.
  const events: RecordedEvent[] = []
  const deadline = Date.now() + maxWaitMs
  let bound = published
  let last = after
  for (;;) {
    if (bound > last) {
      const wanted = limit - events.length
      const { rows } = await db.query<EventRow>(
        sql.readAllFiltered,
        filteredPageParams(last, bound, wanted, filter),
      )
      for (const row of rows) events.push(toRecordedEvent(row, types))
      const lastRow = rows[rows.length - 1]
      if (rows.length === wanted && lastRow !== undefined) {
        return { events, lastPosition: toBigInt(lastRow.position), isEnd: false }
      }
      // Everything up to the bound was scanned: the cursor moves past non-matching events.
      last = bound
    }
    const { rows } = await db.query<{ found: boolean }>(sql.anyEventAfter, [last.toString()])
    if (rows[0]?.found !== true) return { events, lastPosition: last, isEnd: true }
    if (events.length > 0) return { events, lastPosition: last, isEnd: false }
    const next = await nextPublication(db, sql, bound, deadline, pollMs)
    if (next <= bound) return { events, lastPosition: last, isEnd: false }
    bound = next
  }
}

/** Polls this replica's published horizon until it passes `current` or the deadline. */
async function nextPublication(
  db: SqlExecutor,
  sql: StoreSql,
  current: bigint,
  deadline: number,
  pollMs: number,
): Promise<bigint> {
  while (Date.now() < deadline) {
    await new Promise((resolve) =>
      setTimeout(resolve, Math.max(1, Math.min(pollMs, deadline - Date.now()))),
    )
    const { rows } = await db.query<{ position: string }>(sql.publishedPosition)
    const position = toBigInt(rows[0]?.position ?? '0')
    if (position > current) return position
  }
  return current
}
