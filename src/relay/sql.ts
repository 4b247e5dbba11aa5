import { quoteIdent } from '../db/index.js'

/**
 * Statements of relays (migrations/0009_relay.sql), bound to one (checked) schema. $1 is the
 * relay name throughout, $2 the instance's owner id where a lease is involved.
 */
export function relaySql(schema: string) {
  const s = quoteIdent(schema)
  return {
    /** $2 target, $3 filter (jsonb), $4 initial position. Creates the relay on first use. */
    register: `SELECT ${s}.relay_register($1::text, $2::text, $3::jsonb, $4::bigint)`,

    /** The relay's target, to refuse a relay name reused for another stream. */
    target: `SELECT target FROM ${s}.relays WHERE name = $1`,

    /**
     * $3 lease ms, $4 filter. Takes the lease when it is free, expired or already ours, and
     * records the filter this instance publishes. No row: another instance holds it.
     */
    acquireLease: `SELECT position, stream_sequence
      FROM ${s}.relay_acquire_lease($1::text, $2::text, $3::float8, $4::jsonb)`,

    /**
     * $3 lease ms, $4 confirmed position, $5 its broker sequence. Renews the lease and moves
     * the checkpoint forward (never back: a late renewal carries an older position). In a SET,
     * `position` on the right is the old value. No row: the lease was lost.
     */
    renew: `SELECT position FROM ${s}.relay_renew($1::text, $2::text, $3::float8, $4::bigint, $5::bigint)`,

    /**
     * $3 position, $4 broker sequence. After a takeover: the checkpoint is what the broker
     * holds, which can be behind the old checkpoint only when the broker lost messages.
     */
    resetCheckpoint: `SELECT position FROM ${s}.relay_reset_checkpoint($1::text, $2::text, $3::bigint, $4::bigint)`,

    /** Gives the lease up at once (a standby takes over without waiting for the expiry). */
    releaseLease: `SELECT ${s}.relay_release_lease($1::text, $2::text)`,

    /**
     * $1 position. The event at a position and the head: does the broker's last message belong
     * to this store's log (not a restored or another database's)?
     */
    eventAt: `SELECT (SELECT id FROM ${s}.events WHERE position = $1) AS id,
            (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM ${s}.events_position_seq) AS head`,

    /** $1 name or null. */
    status: `SELECT name, target, filter, position, stream_sequence, lease_owner, lease_until,
            lease_until > clock_timestamp() AS lease_active, published_at, created_at, updated_at
       FROM ${s}.relays WHERE $1::text IS NULL OR name = $1 ORDER BY name`,

    /**
     * $1 position, $2 cap, $3 event types or null, $4 category or null, $5 stream-id prefix (a
     * LIKE pattern) or null. The events of a filter after a position (counted up to the cap, so
     * a relay far behind costs a bounded scan), and when the first of them was created. The
     * predicate is the one of filtered $all reads (src/store/sql.ts readAllFiltered).
     */
    behind: `WITH pending AS (
        SELECT position, created_at FROM ${s}.events
         WHERE position > $1
           AND ($3::text[] IS NULL OR type = ANY ($3::text[]))
           AND ($4::text IS NULL OR split_part(stream_id, '-', 1) = $4::text)
           AND ($5::text IS NULL OR stream_id LIKE $5::text)
         ORDER BY position LIMIT $2)
      SELECT count(*) AS events,
             (SELECT created_at FROM pending ORDER BY position LIMIT 1) AS oldest
        FROM pending`,
  }
}

export type RelaySql = ReturnType<typeof relaySql>
