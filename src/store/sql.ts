import { quoteIdent } from '../db/index.js'

export interface StoreSqlOptions {
  /** append_events' p_lock_timeout_ms (0: none), a checked integer written into the statement. */
  readonly lockTimeoutMs: number
}

/** The store's runtime statements, bound to one (checked) schema. DDL lives in migrations/. */
export function storeSql(schema: string, options: StoreSqlOptions = { lockTimeoutMs: 0 }) {
  const s = quoteIdent(schema)
  const lockTimeoutMs = Math.trunc(options.lockTimeoutMs)
  const eventColumns = `position, stream_id, version, id, type, data, metadata, data_version, created_at`

  return {
    schema,
    notifyChannel: `${schema}_events`,

    /**
     * $1..$11 as the append_events function takes them (see migrations/0001); the lock timeout
     * (migrations/0011) is the store's, so the statement text carries it.
     */
    appendEvents: `SELECT status, next_version, last_position, detail
      FROM ${s}.append_events($1::text[], $2::text[], $3::bigint[], $4::int[], $5::boolean[],
                              $6::uuid[], $7::text[], $8::jsonb[], $9::jsonb[], $10::int[], $11,
                              ${lockTimeoutMs})`,

    /**
     * One event to one stream with a generated id (migrations/0016): $1 stream id, $2 expected
     * kind, $3 expected version, $4 id, $5 type, $6 data, $7 metadata, $8 data version, $9
     * atomic. One composite column: its text form, parsed by append.ts.
     */
    appendEvent: `SELECT ${s}.append_event($1::text, $2::text, $3::bigint, $4::uuid, $5::text,
                                           $6::jsonb, $7::jsonb, $8::int, $9::boolean,
                                           ${lockTimeoutMs}) AS r`,

    /** The lock timeout the appends take, in ms (0: none). */
    lockTimeoutMs,

    /** $1 max wait in ms. */
    safeHorizon: `SELECT ${s}.safe_horizon($1) AS horizon`,

    /**
     * $1 stream id, $2 first version (inclusive; going down when backward), $3 limit, $4 backward.
     * The stream's visible events: retention and deletion apply (migrations/0006_stream_visibility.sql).
     */
    readStream: `SELECT ${eventColumns} FROM ${s}.read_stream($1::text, $2::bigint, $3::bigint, $4::boolean)`,

    /**
     * $1 after (exclusive), $2 limit. The caller decides how much of the page is safe.
     * assert_not_archived raises SX020 (in the page's snapshot, once) when the page would skip
     * archived events (migrations/0015).
     */
    readAllAfter: `SELECT ${eventColumns} FROM ${s}.events
       WHERE position > $1 AND (SELECT ${s}.assert_not_archived($1)) ORDER BY position LIMIT $2`,

    /**
     * $1 after (exclusive), $2 up to (inclusive, a safe horizon), $3 limit, $4 event types or
     * null, $5 category or null, $6 stream-id prefix (a LIKE pattern) or null.
     */
    readAllFiltered: `SELECT ${eventColumns} FROM ${s}.events
       WHERE position > $1 AND position <= $2 AND (SELECT ${s}.assert_not_archived($1))
         AND ($4::text[] IS NULL OR type = ANY ($4::text[]))
         AND ($5::text IS NULL OR split_part(stream_id, '-', 1) = $5::text)
         AND ($6::text IS NULL OR stream_id LIKE $6::text)
       ORDER BY position LIMIT $3`,

    /** $1 event ids. The recorded events, in position order (inline projections). */
    eventsByIds: `SELECT ${eventColumns} FROM ${s}.events WHERE id = ANY ($1::uuid[]) ORDER BY position`,

    /** $1 stream id. */
    streamInfo: `SELECT st.version, st.deleted, st.tombstoned,
            r.created_at, r.updated_at, r.max_count, r.max_age_seconds, r.truncate_before, r.metadata,
            (SELECT e.created_at FROM ${s}.events e WHERE e.stream_id = $1 ORDER BY e.version LIMIT 1) AS first_event_at,
            (SELECT e.created_at FROM ${s}.events e WHERE e.stream_id = $1 ORDER BY e.version DESC LIMIT 1) AS last_event_at
       FROM ${s}.stream_state($1) st LEFT JOIN ${s}.streams r ON r.stream_id = $1`,

    /**
     * $1 stream id, $2 max count, $3 max age seconds, $4 truncate before, $5 custom metadata.
     * Returns no row for a tombstoned stream.
     */
    // Under the stream's lock, like appends and deletes, never below what a delete hid
    // (set_stream_metadata in migrations/0011).
    setStreamMetadata: `SELECT stream_id
      FROM ${s}.set_stream_metadata($1::text, $2::bigint, $3::bigint, $4::bigint, $5::jsonb)`,

    /** $1 stream id, $2 'soft' | 'tombstone', $3 expected kind, $4 expected version. */
    deleteStream: `SELECT ${s}.delete_stream($1, $2, $3, $4) AS version`,

    /** $1 batch size. Deletes what retention and deletion hide; rows per stream touched. */
    scavengeBatch: `SELECT stream_id, deleted FROM ${s}.scavenge_batch($1)`,

    /** The last position handed out (may be uncommitted or rolled back). */
    headPosition: `SELECT CASE WHEN is_called THEN last_value ELSE 0 END AS head
      FROM ${s}.events_position_seq`,

    /** A tenant store's head: its last visible event (row-level security keeps to the tenant). */
    tenantHeadPosition: `SELECT COALESCE(max(position), 0) AS head FROM ${s}.events`,

    /** $1 stream id. A row when the caller's tenant sees any of the stream (row-level security). */
    visibleStream: `SELECT 1 FROM ${s}.events WHERE stream_id = $1
      UNION ALL SELECT 1 FROM ${s}.streams WHERE stream_id = $1 LIMIT 1`,

    /** $1 position. A row when the caller's tenant sees the event there (row-level security). */
    visiblePosition: `SELECT 1 FROM ${s}.events WHERE position = $1`,

    /** Whether this session may act without a tenant on a tenant schema (migrations/0013). */
    tenantAdmin: `SELECT ${s}.tenant_admin() AS admin`,

    /** Whether the schema keeps tenants apart (enable_tenants(), migrations/0013, ran). */
    tenancy: `SELECT c.relrowsecurity AS tenants FROM pg_class c
      JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = '${schema}' AND c.relname = 'events'`,

    /** $1 pg_notify payload. */
    notify: `SELECT pg_notify('${schema}_events', $1)`,

    // ---- replicas (migrations/0014; docs/guarantees.md, "Reading from replicas") ----------

    /** On the primary: $1 max wait for appends in flight (ms), $2 heartbeat (ms). */
    publishHorizon: `SELECT ${s}.publish_horizon($1, $2) AS position`,

    /** On the primary: a WAL position at or after every commit that returned before it. */
    walInsertLsn: `SELECT pg_current_wal_insert_lsn()::text AS lsn`,

    /**
     * On a replica: the published horizon, the age of the view (ms; null before the first
     * publication) and whether WAL up to $1 (an LSN, or null) was replayed. On a server that is
     * not in recovery every LSN counts as replayed.
     */
    replicaView: `SELECT h.position,
            CASE WHEN isfinite(h.published_at)
                 THEN (extract(epoch FROM clock_timestamp() - h.published_at) * 1000)::float8 END AS lag_ms,
            ($1::pg_lsn IS NULL OR NOT pg_is_in_recovery()
              OR pg_last_wal_replay_lsn() >= $1::pg_lsn) AS at_lsn
       FROM ${s}.published_horizon h`,

    /** On a replica: the published horizon alone (polled while a page waits for the next one). */
    publishedPosition: `SELECT position FROM ${s}.published_horizon`,

    /** $1 position. Whether any event above it is visible. */
    anyEventAfter: `SELECT EXISTS (SELECT 1 FROM ${s}.events WHERE position > $1) AS found`,
  }
}

export type StoreSql = ReturnType<typeof storeSql>
