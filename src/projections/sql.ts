import { quoteIdent } from '../db/index.js'

/** Statements of projections, bound to one (checked) schema. $1 name, $2 version throughout. */
export function projectionSql(schema: string) {
  const s = quoteIdent(schema)
  const row = `name = $1 AND version = $2`
  return {
    /** Registers a version (building) if it is new. */
    register: `INSERT INTO ${s}.projections (name, version) VALUES ($1, $2) ON CONFLICT DO NOTHING`,

    /** $1 name, $2 version. A version applied inline (in the appends' transactions). */
    registerInline: `INSERT INTO ${s}.projections AS p (name, version, inline) VALUES ($1, $2, true)
      ON CONFLICT (name, version) DO UPDATE SET inline = true, updated_at = clock_timestamp()`,

    /**
     * $3 owner, $4 lease ms. Takes the lease if it is free, expired or already ours. A retired
     * version is never leased again.
     */
    acquireLease: `UPDATE ${s}.projections
        SET lease_owner = $3, lease_until = clock_timestamp() + $4 * interval '1 millisecond',
            inline = false, updated_at = clock_timestamp()
      WHERE ${row} AND status <> 'retired'
        AND (lease_owner IS NULL OR lease_owner = $3 OR lease_until < clock_timestamp())
      RETURNING position, status, paused, started_from`,

    /** $3 owner, $4 lease ms. Renews our lease; no row means it was lost. */
    renewLease: `UPDATE ${s}.projections
        SET lease_until = clock_timestamp() + $4 * interval '1 millisecond'
      WHERE ${row} AND lease_owner = $3
      RETURNING position, status, paused`,

    /** $3 owner. */
    releaseLease: `UPDATE ${s}.projections SET lease_owner = NULL, lease_until = NULL
      WHERE ${row} AND lease_owner = $3`,

    /**
     * $3 owner. Inside the apply transaction: locks the row and proves we still hold the lease,
     * so a runner that lost it can never commit (fencing).
     */
    fence: `SELECT position, status, paused FROM ${s}.projections
      WHERE ${row} AND lease_owner = $3 FOR UPDATE`,

    /** $3 owner, $4 new position, $5 lease ms. Moves the position and renews the lease. */
    advance: `UPDATE ${s}.projections
        SET position = $4, lease_until = clock_timestamp() + $5 * interval '1 millisecond',
            failed_position = NULL, failed_event_id = NULL, failed_error = NULL, failed_at = NULL,
            updated_at = clock_timestamp()
      WHERE ${row} AND lease_owner = $3`,

    /** $3 position, $4 event id, $5 event type, $6 error, $7 attempts, $8 skipped. */
    recordFailure: `INSERT INTO ${s}.projection_failures
        (name, version, position, event_id, event_type, error, attempts, skipped)
      VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
      ON CONFLICT (name, version, position) DO UPDATE
        SET error = EXCLUDED.error, attempts = EXCLUDED.attempts, skipped = EXCLUDED.skipped,
            recorded_at = clock_timestamp()`,

    /** $3 position, $4 event id, $5 error. The projection stopped on this event. */
    markStopped: `UPDATE ${s}.projections
        SET failed_position = $3, failed_event_id = $4, failed_error = $5, failed_at = clock_timestamp(),
            updated_at = clock_timestamp()
      WHERE ${row}`,

    /** Locks every version of a projection (activation, reset). $1 name. */
    lockProjection: `SELECT version, status FROM ${s}.projections WHERE name = $1 ORDER BY version FOR UPDATE`,

    /** Retires the active version(s) other than $2. */
    retireOthers: `UPDATE ${s}.projections SET status = 'retired', updated_at = clock_timestamp()
      WHERE name = $1 AND version <> $2 AND status = 'active'`,

    /** Retires this version (a newer one is active). */
    retire: `UPDATE ${s}.projections
        SET status = 'retired', lease_owner = NULL, lease_until = NULL, updated_at = clock_timestamp()
      WHERE ${row}`,

    activate: `UPDATE ${s}.projections
        SET status = 'active', activated_at = clock_timestamp(), updated_at = clock_timestamp()
      WHERE ${row}`,

    /** $1 name or null. */
    status: `SELECT p.name, p.version, p.status, p.paused, p.position, p.started_from, p.lease_owner,
            p.lease_until, p.failed_position, p.failed_event_id, p.failed_error, p.failed_at,
            p.activated_at, p.updated_at, p.inline,
            (SELECT e.created_at FROM ${s}.events e WHERE e.position > p.position ORDER BY e.position LIMIT 1)
              AS next_event_at
       FROM ${s}.projections p WHERE $1::text IS NULL OR p.name = $1 ORDER BY p.name, p.version`,

    /** $1 name, $2 version, $3 limit. */
    failures: `SELECT position, event_id, event_type, error, attempts, skipped, recorded_at
       FROM ${s}.projection_failures WHERE ${row} ORDER BY position LIMIT $3`,

    /** $1 name, $2 version or null, $3 paused. */
    setPaused: `UPDATE ${s}.projections SET paused = $3, updated_at = clock_timestamp()
      WHERE name = $1 AND ($2::int IS NULL OR version = $2) AND status <> 'retired'
      RETURNING version`,

    /** $3 position to restart after. Forgets failures; the runner re-runs setup. */
    reset: `UPDATE ${s}.projections
        SET position = $3, started_from = $3, failed_position = NULL, failed_event_id = NULL,
            failed_error = NULL, failed_at = NULL, updated_at = clock_timestamp()
      WHERE ${row}
      RETURNING status`,
    clearFailures: `DELETE FROM ${s}.projection_failures WHERE ${row}`,

    /** $1 read-model schema. Its tables, for the serving views. */
    tablesOf: `SELECT table_name FROM information_schema.tables
      WHERE table_schema = $1 AND table_type = 'BASE TABLE' ORDER BY table_name`,
    /** $1 serving schema. Its views. */
    viewsOf: `SELECT table_name FROM information_schema.views WHERE table_schema = $1 ORDER BY table_name`,
    /** $1 schema. */
    schemaExists: `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1) AS exists`,
    /** $1 name. The active version. */
    activeVersion: `SELECT version FROM ${s}.projections WHERE name = $1 AND status = 'active'`,
  }
}

export type ProjectionSql = ReturnType<typeof projectionSql>
