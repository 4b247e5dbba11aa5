import { quoteIdent } from '../db/index.js'

/** Statements of projections, bound to one (checked) schema. $1 name, $2 version throughout. */
export function projectionSql(schema: string) {
  const s = quoteIdent(schema)
  const row = `name = $1 AND version = $2`
  return {
    /** Registers a version (building) if it is new. */
    register: `SELECT ${s}.projection_register($1::text, $2::int, false)`,

    /** $1 name, $2 version. A version applied inline (in the appends' transactions). */
    registerInline: `SELECT ${s}.projection_register($1::text, $2::int, true)`,

    /**
     * $3 owner, $4 lease ms. Takes the lease if it is free, expired or already ours. A retired
     * version is never leased again.
     */
    acquireLease: `SELECT position, status, paused, started_from
      FROM ${s}.projection_acquire_lease($1::text, $2::int, $3::text, $4::float8)`,

    /** $3 owner, $4 lease ms. Renews our lease; no row means it was lost. */
    renewLease: `SELECT position, status, paused
      FROM ${s}.projection_renew_lease($1::text, $2::int, $3::text, $4::float8)`,

    /** $3 owner. */
    releaseLease: `SELECT ${s}.projection_release_lease($1::text, $2::int, $3::text)`,

    /**
     * $3 owner. Inside the apply transaction: locks the row and proves we still hold the lease,
     * so a runner that lost it can never commit (fencing).
     */
    fence: `SELECT position, status, paused FROM ${s}.projection_fence($1::text, $2::int, $3::text)`,

    /** $3 owner, $4 new position, $5 lease ms. Moves the position and renews the lease. */
    advance: `SELECT ${s}.projection_advance($1::text, $2::int, $3::text, $4::bigint, $5::float8)`,

    /** $3 position, $4 event id, $5 event type, $6 error, $7 attempts, $8 skipped. */
    recordFailure: `SELECT ${s}.projection_record_failure($1::text, $2::int, $3::bigint, $4::uuid,
      $5::text, $6::text, $7::int, $8::boolean)`,

    /** $3 position, $4 event id, $5 error. The projection stopped on this event. */
    markStopped: `SELECT ${s}.projection_mark_stopped($1::text, $2::int, $3::bigint, $4::uuid, $5::text)`,

    /** Locks every version of a projection (activation, reset). $1 name. */
    lockProjection: `SELECT version, status FROM ${s}.projection_lock($1::text)`,

    /** Retires the active version(s) other than $2. */
    retireOthers: `SELECT ${s}.projection_set_status($1::text, $2::int, 'retire_others')`,

    /** Retires this version (a newer one is active). */
    retire: `SELECT ${s}.projection_set_status($1::text, $2::int, 'retired')`,

    activate: `SELECT ${s}.projection_set_status($1::text, $2::int, 'active')`,

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
    setPaused: `SELECT version FROM ${s}.projection_set_paused($1::text, $2::int, $3::boolean)`,

    /** $3 position to restart after. Forgets failures too; the runner re-runs setup. */
    reset: `SELECT status FROM ${s}.projection_reset($1::text, $2::int, $3::bigint)`,

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
