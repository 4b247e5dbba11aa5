import { quoteIdent } from '../db/identifiers.js'

/** The store's runtime statements, bound to one (checked) schema. DDL lives in migrations/. */
export function storeSql(schema: string) {
  const s = quoteIdent(schema)
  const eventColumns = `position, stream_id, version, id, type, data, metadata, data_version, created_at`

  // The events of a stream visible under its retention (truncateBefore, maxCount, maxAge) and
  // deletion state. $1 stream id. Used as a CTE by the stream reads.
  const visibleFrom = `WITH s AS (
    SELECT CASE WHEN tombstoned_at IS NOT NULL THEN version + 1
                ELSE GREATEST(COALESCE(truncate_before, 0),
                              CASE WHEN max_count IS NULL THEN 0 ELSE version - max_count + 1 END)
           END AS min_version,
           CASE WHEN max_age_seconds IS NULL THEN '-infinity'::timestamptz
                ELSE now() - make_interval(secs => max_age_seconds) END AS min_created_at
      FROM ${s}.streams WHERE stream_id = $1)`

  return {
    schema,
    notifyChannel: `${schema}_events`,

    /** $1..$9 as the append_to_stream function takes them (see migrations/0001). */
    appendToStream: `SELECT next_version, last_position, retried
      FROM ${s}.append_to_stream($1, $2, $3, $4::uuid[], $5::text[], $6::jsonb[], $7::jsonb[], $8::int[], $9)`,

    /** $1 max wait in ms. */
    safeHorizon: `SELECT ${s}.safe_horizon($1) AS horizon`,

    /** $1 stream id, $2 first version (inclusive), $3 limit. */
    readStreamForward: `${visibleFrom}
      SELECT ${eventColumns} FROM ${s}.events e, s
       WHERE e.stream_id = $1 AND e.version >= GREATEST($2::bigint, s.min_version)
         AND e.created_at >= s.min_created_at
       ORDER BY e.version LIMIT $3`,

    /** $1 stream id, $2 first version going down (inclusive), $3 limit. */
    readStreamBackward: `${visibleFrom}
      SELECT ${eventColumns} FROM ${s}.events e, s
       WHERE e.stream_id = $1 AND e.version <= $2::bigint AND e.version >= s.min_version
         AND e.created_at >= s.min_created_at
       ORDER BY e.version DESC LIMIT $3`,

    /** $1 after (exclusive), $2 limit. The caller decides how much of the page is safe. */
    readAllAfter: `SELECT ${eventColumns} FROM ${s}.events
       WHERE position > $1 ORDER BY position LIMIT $2`,

    /**
     * $1 after (exclusive), $2 up to (inclusive, a safe horizon), $3 limit, $4 event types or
     * null, $5 category or null, $6 stream-id prefix (a LIKE pattern) or null.
     */
    readAllFiltered: `SELECT ${eventColumns} FROM ${s}.events
       WHERE position > $1 AND position <= $2
         AND ($4::text[] IS NULL OR type = ANY ($4::text[]))
         AND ($5::text IS NULL OR split_part(stream_id, '-', 1) = $5::text)
         AND ($6::text IS NULL OR stream_id LIKE $6::text)
       ORDER BY position LIMIT $3`,

    /** $1 stream id. */
    streamInfo: `SELECT stream_id, version, created_at, updated_at, deleted_at, tombstoned_at,
            max_count, max_age_seconds, truncate_before, metadata
       FROM ${s}.streams WHERE stream_id = $1`,

    /**
     * $1 stream ids. Locks the existing rows in one order (by id) before a multi-stream append,
     * so two such appends over the same streams cannot deadlock.
     */
    lockStreams: `SELECT 1 FROM ${s}.streams WHERE stream_id = ANY ($1::text[])
       ORDER BY stream_id FOR UPDATE`,

    /** $1 stream id. Locks the stream's row for a delete. */
    lockStream: `SELECT version, tombstoned_at IS NOT NULL AS tombstoned, deleted_at IS NOT NULL AS deleted
       FROM ${s}.streams WHERE stream_id = $1 FOR UPDATE`,

    /** $1 stream id, $2 max count, $3 max age seconds, $4 truncate before, $5 custom metadata. */
    setStreamMetadata: `INSERT INTO ${s}.streams AS t (stream_id, max_count, max_age_seconds, truncate_before, metadata)
      VALUES ($1, $2, $3, $4, $5::jsonb)
      ON CONFLICT (stream_id) DO UPDATE
        SET max_count = EXCLUDED.max_count, max_age_seconds = EXCLUDED.max_age_seconds,
            truncate_before = EXCLUDED.truncate_before, metadata = EXCLUDED.metadata,
            updated_at = clock_timestamp()
      WHERE t.tombstoned_at IS NULL
      RETURNING version`,

    /**
     * Soft delete: hide every event so far; the next append starts the stream again.
     * $1 stream id, $2 expected version or null.
     */
    softDeleteStream: `UPDATE ${s}.streams
        SET deleted_at = clock_timestamp(), truncate_before = version + 1, updated_at = clock_timestamp()
      WHERE stream_id = $1 AND tombstoned_at IS NULL AND ($2::bigint IS NULL OR version = $2::bigint)
      RETURNING version`,

    /** Tombstone: never writable again. $1 stream id, $2 expected version or null. */
    tombstoneStream: `INSERT INTO ${s}.streams AS t (stream_id, tombstoned_at, deleted_at)
      VALUES ($1, clock_timestamp(), clock_timestamp())
      ON CONFLICT (stream_id) DO UPDATE
        SET tombstoned_at = COALESCE(t.tombstoned_at, clock_timestamp()),
            deleted_at = COALESCE(t.deleted_at, clock_timestamp()), updated_at = clock_timestamp()
      WHERE $2::bigint IS NULL OR t.version = $2::bigint
      RETURNING version`,

    /** Lets this transaction delete events (the immutability trigger checks it). */
    allowEventDelete: `SELECT set_config('strata.allow_event_delete', 'on', true)`,

    /**
     * Scavenge one batch: events hidden by retention or deletion. $1 batch size.
     * Tombstoned and soft-deleted streams lose all events below their truncation point.
     */
    scavengeBatch: `WITH doomed AS (
        SELECT e.position, e.stream_id FROM ${s}.streams st
          JOIN ${s}.events e ON e.stream_id = st.stream_id
         WHERE (st.tombstoned_at IS NOT NULL)
            OR (st.truncate_before IS NOT NULL AND e.version < st.truncate_before)
            OR (st.max_count IS NOT NULL AND e.version <= st.version - st.max_count)
            OR (st.max_age_seconds IS NOT NULL
                AND e.created_at < now() - make_interval(secs => st.max_age_seconds))
         LIMIT $1)
      DELETE FROM ${s}.events e USING doomed d WHERE e.position = d.position
      RETURNING e.stream_id`,

    /** The last position handed out (may be uncommitted or rolled back). */
    headPosition: `SELECT CASE WHEN is_called THEN last_value ELSE 0 END AS head
      FROM ${s}.events_position_seq`,

    /** $1 pg_notify payload. */
    notify: `SELECT pg_notify('${schema}_events', $1)`,
  }
}

export type StoreSql = ReturnType<typeof storeSql>
