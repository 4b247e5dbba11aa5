import { quoteIdent } from '../db/index.js'

/** The partitioning statements of one (checked) schema; the functions are in migrations/0015. */
export function partitionSql(schema: string) {
  const s = quoteIdent(schema)
  return {
    /** $1 partition size, $2 partitions ahead. True when it partitioned the table now. */
    enable: `SELECT ${s}.enable_event_partitioning($1::bigint, $2::int) AS enabled`,
    /** $1 partitions ahead, $2 lock timeout ms. The partitions made. */
    create: `SELECT name FROM ${s}.create_event_partitions($1::int, $2::int) AS name`,
    partitioned: `SELECT ${s}.events_partitioned() AS partitioned,
            (SELECT partition_size FROM ${s}.event_partitioning) AS partition_size,
            (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM ${s}.events_position_seq) AS head`,
    /**
     * The attached partitions, with an estimate of their rows (the planner's, cheap) and the time
     * of their last event (by position, through the events' key: a probe per partition).
     */
    partitions: `SELECT p.partition_name, p.from_position, p.to_position, p.detach_pending,
            GREATEST(c.reltuples, 0)::bigint AS estimated_events,
            (SELECT e.created_at FROM ${s}.events e
              WHERE e.position >= p.from_position AND (p.to_position IS NULL OR e.position < p.to_position)
              ORDER BY e.position DESC LIMIT 1) AS last_event_at
       FROM ${s}.event_partitions() p
       JOIN pg_class c ON c.oid = to_regclass(format('%I.%I', '${schema}', p.partition_name))
      ORDER BY p.from_position`,
    archived: `SELECT partition_name, from_position, to_position, events, state, archived_at
       FROM ${s}.event_archive ORDER BY from_position`,
    /** $1 partition name, $2 force. Raises SX023 when readers still need it. */
    prepareArchive: `SELECT from_position, to_position, events
       FROM ${s}.archive_event_partition($1::text, $2::boolean)`,
    /** $1 partition name, $2 drop. */
    finishArchive: `SELECT ${s}.archive_event_partition_done($1::text, $2::boolean) AS state`,
    /** Cannot run inside a transaction block: on a connection of its own, in autocommit. */
    detach: (partition: string) =>
      `ALTER TABLE ${s}.events DETACH PARTITION ${s}.${quoteIdent(partition)} CONCURRENTLY`,
    /** Completes a DETACH ... CONCURRENTLY that was interrupted. */
    finalize: (partition: string) =>
      `ALTER TABLE ${s}.events DETACH PARTITION ${s}.${quoteIdent(partition)} FINALIZE`,
  }
}
