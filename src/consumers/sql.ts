import { quoteIdent } from '../db/index.js'

/**
 * The runtime statements of consumer groups, bound to one (checked) schema. The functions they
 * call live in migrations/0003_consumer_groups.sql, which explains each one's concurrency
 * argument. Values are always parameters.
 */
export function consumerSql(schema: string) {
  const s = quoteIdent(schema)
  return {
    /**
     * $1 name, $2 category, $3 event types, $4 stream ids, $5 stream prefix, $6 strategy,
     * $7 hold parked streams, $8 start kind, $9 start position, $10 start time.
     * Returns the group's row, created if absent.
     */
    ensure: `SELECT id, name, source_category, source_event_types, source_stream_ids,
                    source_stream_prefix, strategy, hold_parked_streams, cursor_position
               FROM ${s}.consumer_group_ensure($1, $2, $3::text[], $4::text[], $5, $6, $7, $8,
                                                 $9::bigint, $10::timestamptz)`,

    /**
     * $1 group id, $2 window size, $3 scan limit, $4 max wait ms. One row: status, admitted,
     * cursor. Raises SX020 first when the group's cursor is inside an archived range.
     */
    admit: `SELECT status, admitted, cursor_position
              FROM ${s}.consumer_group_admit($1, $2, $3, $4)
             WHERE ${s}.assert_not_archived((SELECT g.cursor_position FROM ${s}.consumer_groups g WHERE g.id = $1))`,

    // ---- admission with the log read on a replica (migrations/0014) ----------------------

    /** $1 group id. On the primary: where admission continues. */
    groupCursor: `SELECT cursor_position FROM ${s}.consumer_groups WHERE id = $1`,

    /**
     * On the replica: $1 cursor, $2 scan limit. The end of the run of positions directly after
     * the cursor (final without a horizon), or null.
     */
    contiguousRun: `SELECT max(c.position) AS upto
       FROM (SELECT e.position, e.position - row_number() OVER (ORDER BY e.position) AS base
               FROM (SELECT position FROM ${s}.events WHERE position > $1 AND (SELECT ${s}.assert_not_archived($1))
                      ORDER BY position LIMIT $2) e) c
      WHERE c.base = $1`,

    /**
     * On the replica: $1 cursor (exclusive), $2 up to (inclusive), $3..$6 the group's source
     * (category, event types, stream ids, stream prefix), $7 limit. What admission needs of them.
     */
    sourceEvents: `SELECT e.position, e.stream_id, e.created_at::text AS created_at,
            e.metadata::text AS metadata
       FROM ${s}.events e
      WHERE e.position > $1 AND e.position <= $2 AND (SELECT ${s}.assert_not_archived($1))
        AND ${s}.consumer_group_source_matches($3, $4::text[], $5::text[], $6, e.stream_id, e.type)
      ORDER BY e.position LIMIT $7`,

    /**
     * On the primary: $1 group id, $2 window size, $3 cursor read from, $4 up to, $5 the horizon
     * (or null), $6..$9 positions, stream ids, created_at and metadata of the events read.
     */
    admitRows: `SELECT status, admitted, cursor_position
       FROM ${s}.consumer_group_admit_rows($1, $2, $3, $4, $5, $6::bigint[], $7::text[],
                                           $8::timestamptz[], $9::jsonb[])`,

    /**
     * $1 group id, $2 consumer id, $3 lease token, $4 limit, $5 lease ms, $6 per-stream,
     * $7 hold parked streams, $8 max in flight (or null), $9 max per second (or null).
     * Rows: claimed messages with their events; then, when fewer than $4, a row with a null
     * position and wait_ms.
     */
    claim: `SELECT position, attempts, last_error, stream_id, version, id, type, data, metadata,
                   data_version, created_at, wait_ms
              FROM ${s}.consumer_group_claim($1, $2, $3, $4, $5, $6, $7, $8, $9)`,

    /** $1 group id, $2 positions, $3 lease tokens. Rows: the positions acked. */
    ack: `SELECT p AS position FROM ${s}.consumer_group_ack($1, $2::bigint[], $3::uuid[]) AS p`,

    /**
     * $1 group id, $2 positions, $3 lease tokens, $4 delays ms, $5 errors (jsonb), $6 uncount.
     * Rows: the positions whose leases ended.
     */
    retry: `SELECT p AS position
              FROM ${s}.consumer_group_retry($1, $2::bigint[], $3::uuid[], $4::int[], $5::jsonb[],
                                             $6::boolean[]) AS p`,

    /**
     * $1 group id, $2 consumer id, $3 label, $4 concurrency, $5 ttl ms, $6 positions,
     * $7 lease tokens, $8 lease ms. Rows: the positions whose leases were extended.
     */
    heartbeat: `SELECT p AS position
                  FROM ${s}.consumer_group_heartbeat($1, $2, $3, $4, $5, $6::bigint[], $7::uuid[], $8) AS p`,

    /** $1 group id, $2 consumer id. */
    unregister: `SELECT ${s}.consumer_group_unregister($1::int, $2::uuid)`,

    /** $1 group id, $2 position, $3 lease token (or null), $4 reason, $5 error (jsonb). */
    park: `SELECT ${s}.consumer_group_park($1, $2, $3, $4, $5::jsonb) AS parked`,

    /** $1 group id, $2 positions (or null for all), $3 discard. */
    unpark: `SELECT ${s}.consumer_group_unpark($1, $2::bigint[], $3) AS count`,

    /** $1 group id, $2 kind, $3 position, $4 time. */
    reset: `SELECT cursor_position, removed
              FROM ${s}.consumer_group_reset($1, $2, $3::bigint, $4::timestamptz)`,

    /** $1 name, $2 category, $3 event types, $4 stream ids, $5 prefix. No row: no such group. */
    changeSource: `SELECT old_category, old_event_types, old_stream_ids, old_stream_prefix,
                          cursor_position
                     FROM ${s}.consumer_group_change_source($1, $2, $3::text[], $4::text[], $5)`,

    /** $1 name. */
    delete: `SELECT ${s}.consumer_group_delete($1) AS existed`,

    /** $1 group id. One row of counts, the position and the head. */
    status: `SELECT g.cursor_position,
                    (SELECT CASE WHEN is_called THEN last_value ELSE 0 END
                       FROM ${s}.events_position_seq) AS head,
                    count(m.position) FILTER (WHERE m.parked_at IS NULL AND m.lease_expires_at > now()) AS in_flight,
                    count(m.position) FILTER (WHERE m.parked_at IS NULL
                                                AND (m.lease_expires_at IS NULL OR m.lease_expires_at <= now())
                                                AND m.attempts > 0) AS retrying,
                    count(m.position) FILTER (WHERE m.parked_at IS NULL
                                                AND (m.lease_expires_at IS NULL OR m.lease_expires_at <= now())
                                                AND m.attempts = 0 AND m.available_at <= now()) AS pending,
                    count(m.position) FILTER (WHERE m.parked_at IS NULL
                                                AND (m.lease_expires_at IS NULL OR m.lease_expires_at <= now())
                                                AND m.attempts = 0 AND m.available_at > now()) AS delayed,
                    count(m.position) FILTER (WHERE m.parked_at IS NOT NULL) AS parked
               FROM ${s}.consumer_groups g
               LEFT JOIN ${s}.consumer_group_messages m ON m.group_id = g.id
              WHERE g.id = $1
              GROUP BY g.id`,

    /** $1 group id. Consumers whose heartbeat has not expired. */
    consumers: `SELECT consumer_id, label, concurrency, started_at, last_seen_at
                  FROM ${s}.consumer_group_consumers
                 WHERE group_id = $1 AND expires_at >= now()
                 ORDER BY started_at, consumer_id`,

    /** $1 group id, $2 after position, $3 limit, $4 stream id (or null). Dead letters with events. */
    listParked: `SELECT m.position, m.stream_id, m.attempts, m.park_reason, m.last_error,
                        m.parked_at, m.delivered_at,
                        e.version, e.id, e.type, e.data, e.metadata, e.data_version, e.created_at
                   FROM ${s}.consumer_group_messages m
                   LEFT JOIN ${s}.events e ON e.position = m.position
                  WHERE m.group_id = $1 AND m.parked_at IS NOT NULL AND m.position > $2
                    AND ($4::text IS NULL OR m.stream_id = $4::text)
                  ORDER BY m.position
                  LIMIT $3`,

    /** $1 group id, $2 position. One dead letter with its event. */
    inspectParked: `SELECT m.position, m.stream_id, m.attempts, m.park_reason, m.last_error,
                           m.parked_at, m.delivered_at,
                           e.version, e.id, e.type, e.data, e.metadata, e.data_version, e.created_at
                      FROM ${s}.consumer_group_messages m
                      LEFT JOIN ${s}.events e ON e.position = m.position
                     WHERE m.group_id = $1 AND m.position = $2 AND m.parked_at IS NOT NULL`,

    /** $1 group id. */
    countParked: `SELECT count(*) AS count FROM ${s}.consumer_group_messages
                   WHERE group_id = $1 AND parked_at IS NOT NULL`,

    /**
     * Reclaims the space of acked (deleted) messages for reuse; never blocks reads or writes,
     * and skips a table another VACUUM is working on. Not inside a transaction.
     */
    vacuum: `VACUUM (SKIP_LOCKED) ${s}.consumer_group_messages, ${s}.consumer_groups,
                                  ${s}.consumer_group_consumers`,

    /** $1 event ids. Their positions. */
    positionsOfIds: `SELECT id, position FROM ${s}.events WHERE id = ANY ($1::uuid[])`,
  }
}

export type ConsumerSql = ReturnType<typeof consumerSql>
