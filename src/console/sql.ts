/**
 * The console's own reads, for what the public API has no read for: listing streams, counting
 * events, connections, and every group's counts in one statement. All read-only: the console
 * never writes but through the public API (replay, discard, reset, pause, rebuild).
 */
import type pg from 'pg'
import type { ConsumerGroupStatus } from '../consumers/index.js'
import { checkOut, quoteIdent, toBigInt } from '../db/index.js'

/** A stream as listed: its id, version (what the next append expects) and stored events. */
export interface ListedStream {
  readonly streamId: string
  readonly version: bigint
  readonly events: number
}

export interface ListStreamsOptions {
  /** Only stream ids starting with this (a category is `<category>-`); default: every stream. */
  readonly prefix?: string
  /** Only stream ids sorting after this one (paging: the last id of the previous page). */
  readonly after?: string
  readonly limit: number
}

/** A page of streams. */
export interface StreamPage {
  readonly streams: ListedStream[]
  /** The id to pass as `after` for the next page, or null when this page is the last. */
  readonly next: string | null
  /** False when the scan budget ran out before the page filled (a linguistic collation). */
  readonly complete: boolean
}

/** Distinct stream ids looked at per listing at most when the collation may interleave them. */
const SCAN_BUDGET = 20_000

/**
 * Streams in id order, by a loose index scan of the (stream_id, version) index: one index probe
 * per distinct stream id, never a read of every event. Under a byte-order collation (C, POSIX,
 * C.UTF-8) the ids with a prefix are contiguous and the scan stops at the first that lacks it;
 * under a linguistic collation they may interleave with others (en_US ignores punctuation at
 * first), so the scan goes on, up to SCAN_BUDGET ids; `complete` is false when it stopped there.
 */
export async function listStreams(
  pool: pg.Pool,
  schema: string,
  options: ListStreamsOptions,
): Promise<StreamPage> {
  const s = quoteIdent(schema)
  const prefix = options.prefix ?? ''
  const like = `${prefix.replace(/[\\%_]/g, (c) => `\\${c}`)}%`
  // $1 prefix, $2 its LIKE pattern, $3 limit, $4 after (or null), $5 whether ids with a prefix
  // are contiguous, $6 scan budget. The recursion carries how many ids it looked at and how
  // many matched, and stops at the limit, the budget, or (contiguous) the first id past the
  // prefix: its cost is bounded by those, whatever the number of streams.
  const { rows } = await pool.query<{
    stream_id: string | null
    version: string | null
    events: string | null
    steps: number | null
  }>(
    `WITH RECURSIVE ids AS (
       (SELECT stream_id, 1 AS steps, (stream_id LIKE $2)::int AS matched FROM ${s}.events
         WHERE stream_id >= $1 AND ($4::text IS NULL OR stream_id > $4::text)
         ORDER BY stream_id LIMIT 1)
       UNION ALL
       SELECT nxt.stream_id, ids.steps + 1, ids.matched + (nxt.stream_id LIKE $2)::int
         FROM ids,
              LATERAL (SELECT (SELECT e.stream_id FROM ${s}.events e WHERE e.stream_id > ids.stream_id
                                ORDER BY e.stream_id LIMIT 1) AS stream_id) nxt
        WHERE ids.stream_id IS NOT NULL AND ids.steps < $6 AND ids.matched < $3
          AND (NOT $5::boolean OR ids.stream_id LIKE $2))
     SELECT page.stream_id, st.version,
            (SELECT count(*) FROM ${s}.events e WHERE e.stream_id = page.stream_id) AS events,
            NULL::int AS steps
       FROM (SELECT stream_id FROM ids WHERE stream_id IS NOT NULL AND stream_id LIKE $2
              ORDER BY stream_id LIMIT $3) page,
            LATERAL ${s}.stream_state(page.stream_id) st
     UNION ALL
     SELECT NULL, NULL, NULL, max(steps) FROM ids`,
    [prefix, like, options.limit, options.after ?? null, await idsAreContiguous(pool), SCAN_BUDGET],
  )
  const streams = rows.flatMap((r) =>
    r.stream_id === null
      ? []
      : [{ streamId: r.stream_id, version: toBigInt(r.version ?? '0'), events: Number(r.events) }],
  )
  const steps = rows.find((r) => r.stream_id === null)?.steps ?? 0
  return {
    streams,
    // A full page may have more after it; a short one is the end unless the budget ran out.
    next: streams.length >= options.limit ? (streams[streams.length - 1]?.streamId ?? null) : null,
    complete: streams.length >= options.limit || steps < SCAN_BUDGET,
  }
}

const contiguity = new WeakMap<pg.Pool, Promise<boolean>>()

/** Whether the database sorts text by bytes (code points), so ids sharing a prefix sort together. */
function idsAreContiguous(pool: pg.Pool): Promise<boolean> {
  let known = contiguity.get(pool)
  if (known === undefined) {
    known = pool
      .query<{ contiguous: boolean }>(
        `SELECT lower(datcollate) IN ('c', 'posix') OR lower(datcollate) LIKE 'c.%' AS contiguous
           FROM pg_database WHERE datname = current_database()`,
      )
      .then(({ rows }) => rows[0]?.contiguous === true)
    contiguity.set(pool, known)
    known.catch(() => contiguity.delete(pool))
  }
  return known
}

/** Below this many events the count is exact; above it, the planner's estimate will do. */
const EXACT_COUNT_BELOW = 1_000_000
/** How long an exact count may take when the table was never analysed and may be large. */
const COUNT_TIMEOUT_MS = 10_000

/**
 * How many events there are: counted exactly when the planner's estimate is small or unknown,
 * else the estimate (rows per page at the last ANALYZE or VACUUM times the pages there are
 * now, as Postgres scales it). An unknown estimate with a high head position (the head bounds
 * the count from above) is counted under a statement timeout, and past it reported as the head.
 */
export async function countEvents(
  pool: pg.Pool,
  schema: string,
  head: bigint,
): Promise<{ count: number; exact: boolean }> {
  const table = `${quoteIdent(schema)}.events`
  const { rows } = await pool.query<{ estimate: string | null }>(
    // Summed over the partitions of a partitioned events table (docs/partitioning.md); an empty
    // partition never analysed counts as empty, a non-empty one makes the estimate unknown.
    `SELECT CASE WHEN bool_or(c.reltuples < 0 AND pg_relation_size(c.oid) > 0) OR sum(c.relpages) = 0 THEN NULL
                 ELSE sum(CASE WHEN c.relpages > 0 AND c.reltuples > 0
                               THEN c.reltuples / c.relpages * (pg_relation_size(c.oid) / current_setting('block_size')::int)
                               ELSE 0 END)::bigint END AS estimate
       FROM pg_class c
      WHERE c.relkind <> 'p'
        AND (c.oid = to_regclass($1) OR c.oid IN (SELECT i.inhrelid FROM pg_inherits i WHERE i.inhparent = to_regclass($1)))`,
    [table],
  )
  const estimate = rows[0]?.estimate == null ? null : Number(rows[0].estimate)
  if (estimate !== null && estimate >= EXACT_COUNT_BELOW) return { count: estimate, exact: false }
  const sql = `SELECT count(*) AS n FROM ${table}`
  if (estimate !== null || head < BigInt(EXACT_COUNT_BELOW)) {
    const { rows: counted } = await pool.query<{ n: string }>(sql)
    return { count: Number(counted[0]!.n), exact: true }
  }
  const client = await checkOut(pool)
  try {
    await client.query('BEGIN')
    await client.query(`SET LOCAL statement_timeout = ${COUNT_TIMEOUT_MS}`)
    const { rows: counted } = await client.query<{ n: string }>(sql)
    await client.query('COMMIT')
    return { count: Number(counted[0]!.n), exact: true }
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined)
    if ((error as { code?: unknown }).code !== '57014') throw error // not a query_canceled
    return { count: Number(head), exact: false }
  } finally {
    client.release()
  }
}

/** Connections to this database, from pg_stat_activity. */
export interface ConnectionStats {
  readonly total: number
  readonly active: number
  readonly idle: number
  readonly idleInTransaction: number
  /** The server's max_connections (every database shares it). */
  readonly max: number
  /** Connections by application_name, most first (strata's own are named `strata …`). */
  readonly byApplication: ReadonlyArray<{ readonly name: string; readonly count: number }>
}

/** Client connections to the current database (background workers left out). */
export async function connectionStats(pool: pg.Pool): Promise<ConnectionStats> {
  const { rows } = await pool.query<{ application: string; state: string | null; n: string }>(
    `SELECT application_name AS application, state, count(*) AS n
       FROM pg_stat_activity
      WHERE datname = current_database() AND backend_type = 'client backend'
      GROUP BY 1, 2`,
  )
  const { rows: settings } = await pool.query<{ max: string }>(
    `SELECT current_setting('max_connections') AS max`,
  )
  const byApplication = new Map<string, number>()
  let total = 0
  const byState = { active: 0, idle: 0, 'idle in transaction': 0 }
  for (const row of rows) {
    const n = Number(row.n)
    total += n
    if (row.state !== null && row.state in byState) byState[row.state as keyof typeof byState] += n
    const name = row.application === '' ? '(unnamed)' : row.application
    byApplication.set(name, (byApplication.get(name) ?? 0) + n)
  }
  return {
    total,
    active: byState.active,
    idle: byState.idle,
    idleInTransaction: byState['idle in transaction'],
    max: Number(settings[0]?.max ?? 0),
    byApplication: [...byApplication]
      .map(([name, count]) => ({ name, count }))
      .sort((a, b) => b.count - a.count || (a.name < b.name ? -1 : 1)),
  }
}

/** The counts of a group, as its status() has them. */
export type WindowCounts = Pick<
  ConsumerGroupStatus,
  'pending' | 'delayed' | 'inFlight' | 'retrying' | 'parked' | 'consumers'
>

/** One group's position and counts, for every group at once. */
export interface GroupCounts extends WindowCounts {
  /** The stored name (a task queue's is `$queue:<name>`). */
  readonly storedName: string
  readonly strategy: string
  readonly position: bigint
}

/**
 * Every group's position and counts in one statement. group.status() reads the same per group
 * but creates a group that was deleted meanwhile (its handle ensures it); a console that only
 * looks must never do that, and one statement serves all groups each interval.
 */
export async function groupCounts(pool: pg.Pool, schema: string): Promise<GroupCounts[]> {
  const s = quoteIdent(schema)
  const { rows } = await pool.query<{
    name: string
    strategy: string
    cursor_position: string
    pending: string
    delayed: string
    in_flight: string
    retrying: string
    parked: string
    consumers: string
  }>(
    `SELECT g.name, g.strategy, g.cursor_position,
            coalesce(w.pending, 0) AS pending, coalesce(w.delayed, 0) AS delayed,
            coalesce(w.in_flight, 0) AS in_flight, coalesce(w.retrying, 0) AS retrying,
            coalesce(w.parked, 0) AS parked,
            (SELECT count(*) FROM ${s}.consumer_group_consumers c
              WHERE c.group_id = g.id AND c.expires_at >= now()) AS consumers
       FROM ${s}.consumer_groups g
       LEFT JOIN (
         SELECT m.group_id,
                count(*) FILTER (WHERE m.parked_at IS NOT NULL) AS parked,
                count(*) FILTER (WHERE m.parked_at IS NULL AND m.lease_expires_at > now()) AS in_flight,
                count(*) FILTER (WHERE m.parked_at IS NULL AND m.attempts > 0
                                   AND NOT coalesce(m.lease_expires_at > now(), false)) AS retrying,
                count(*) FILTER (WHERE m.parked_at IS NULL AND m.attempts = 0
                                   AND NOT coalesce(m.lease_expires_at > now(), false)
                                   AND m.available_at <= now()) AS pending,
                count(*) FILTER (WHERE m.parked_at IS NULL AND m.attempts = 0
                                   AND NOT coalesce(m.lease_expires_at > now(), false)
                                   AND m.available_at > now()) AS delayed
           FROM ${s}.consumer_group_messages m
          GROUP BY m.group_id) w ON w.group_id = g.id
      ORDER BY g.name`,
  )
  return rows.map((r) => ({
    storedName: r.name,
    strategy: r.strategy,
    position: toBigInt(r.cursor_position),
    pending: Number(r.pending),
    delayed: Number(r.delayed),
    inFlight: Number(r.in_flight),
    retrying: Number(r.retrying),
    parked: Number(r.parked),
    consumers: Number(r.consumers),
  }))
}
