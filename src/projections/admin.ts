import type pg from 'pg'
import { checkOut, quoteIdent, toBigInt, toBigIntOrNull } from '../db/index.js'
import { A_TIMESTAMP, isTimestamp } from '../config/index.js'
import { InvalidArgumentError } from '../errors.js'
import { subscriptionSql } from '../subscriptions/index.js'
import { versionSchema } from './read-model.js'
import type { ProjectionSql } from './sql.js'

/** Where a projection version stands; lag in positions and in seconds behind the head. */
export interface ProjectionStatus {
  readonly name: string
  readonly version: number
  readonly status: 'building' | 'active' | 'retired'
  /**
   * 'inline': applied in each append's own transaction (through the stores it was added to), so
   * it is never behind: position is the head and behind is 0n. 'async': a runner applies it.
   */
  readonly mode: 'inline' | 'async'
  readonly paused: boolean
  readonly position: bigint
  readonly startedFrom: bigint
  /** The last position handed out in the log. */
  readonly head: bigint
  /** Positions between the projection and the head. */
  readonly behind: bigint
  /** Age of the oldest event not yet applied (0 when caught up). */
  readonly secondsBehind: number
  readonly leaseOwner: string | null
  readonly leaseUntil: Date | null
  /** Set when the projection stopped on an event (error policy 'stop'). */
  readonly failure: {
    readonly position: bigint
    readonly eventId: string
    readonly error: string
    readonly at: Date
  } | null
  readonly activatedAt: Date | null
}

export interface ProjectionFailure {
  readonly position: bigint
  readonly eventId: string
  readonly eventType: string
  readonly error: string
  readonly attempts: number
  readonly skipped: boolean
  readonly recordedAt: Date
}

interface StatusRow {
  name: string
  version: number
  status: 'building' | 'active' | 'retired'
  paused: boolean
  position: string
  started_from: string
  lease_owner: string | null
  lease_until: Date | null
  failed_position: string | null
  failed_event_id: string | null
  failed_error: string | null
  failed_at: Date | null
  activated_at: Date | null
  inline: boolean
  next_event_at: Date | null
}

export async function projectionStatus(
  pool: pg.Pool,
  sql: ProjectionSql,
  head: bigint,
  name?: string,
): Promise<ProjectionStatus[]> {
  const { rows } = await pool.query<StatusRow>(sql.status, [name ?? null])
  const now = Date.now()
  return rows.map((row) => {
    const inline = row.inline && row.status !== 'retired'
    const position = inline ? head : toBigInt(row.position)
    const behind = head > position ? head - position : 0n
    const failedPosition = toBigIntOrNull(row.failed_position)
    return {
      name: row.name,
      version: row.version,
      status: row.status,
      mode: row.inline ? 'inline' : 'async',
      paused: row.paused,
      position,
      startedFrom: toBigInt(row.started_from),
      head,
      behind,
      secondsBehind:
        behind === 0n || row.next_event_at === null
          ? 0
          : Math.max(0, (now - row.next_event_at.getTime()) / 1000),
      leaseOwner: row.lease_owner,
      leaseUntil: row.lease_until,
      failure:
        failedPosition === null
          ? null
          : {
              position: failedPosition,
              eventId: row.failed_event_id ?? '',
              error: row.failed_error ?? '',
              at: row.failed_at!,
            },
      activatedAt: row.activated_at,
    }
  })
}

export async function projectionFailures(
  pool: pg.Pool,
  sql: ProjectionSql,
  name: string,
  version: number,
  limit = 100,
): Promise<ProjectionFailure[]> {
  const { rows } = await pool.query<{
    position: string
    event_id: string
    event_type: string
    error: string
    attempts: number
    skipped: boolean
    recorded_at: Date
  }>(sql.failures, [name, version, limit])
  return rows.map((row) => ({
    position: toBigInt(row.position),
    eventId: row.event_id,
    eventType: row.event_type,
    error: row.error,
    attempts: row.attempts,
    skipped: row.skipped,
    recordedAt: row.recorded_at,
  }))
}

/** Pauses or resumes a projection (every version unless one is named). Returns the versions. */
export async function setPaused(
  pool: pg.Pool,
  sql: ProjectionSql,
  name: string,
  version: number | undefined,
  paused: boolean,
): Promise<number[]> {
  const { rows } = await pool.query<{ version: number }>(sql.setPaused, [
    name,
    version ?? null,
    paused,
  ])
  if (rows.length === 0)
    throw new InvalidArgumentError(
      'projection',
      name,
      'no such projection (or only retired versions)',
    )
  return rows.map((r) => r.version)
}

/**
 * Replays a projection version from a position or a time: drops its tables (its runner sets them
 * up again) and moves its position. For the active version this empties what it serves until it
 * has caught up again; to rebuild without downtime, bump the version instead.
 */
export async function resetProjection(
  pool: pg.Pool,
  sql: ProjectionSql,
  schema: string,
  name: string,
  version: number,
  from: bigint | Date,
): Promise<void> {
  if (!(typeof from === 'bigint' && from >= 0n) && !isTimestamp(from)) {
    throw new InvalidArgumentError(
      'from',
      from,
      `must be a position (a bigint >= 0n) or ${A_TIMESTAMP}`,
    )
  }
  const client = await checkOut(pool)
  try {
    let position: bigint
    if (from instanceof Date) {
      const { rows } = await client.query<{ position: string }>(
        subscriptionSql(schema).positionAtTime,
        [from],
      )
      position = toBigInt(rows[0]?.position ?? '1') - 1n
    } else {
      position = from
    }
    await client.query('BEGIN')
    await client.query(sql.lockProjection, [name])
    const { rows } = await client.query<{ status: string }>(sql.reset, [
      name,
      version,
      position.toString(),
    ])
    if (rows.length === 0)
      throw new InvalidArgumentError(
        'projection',
        `${name} v${version}`,
        'no such projection version',
      )
    await client.query(`DROP SCHEMA IF EXISTS ${quoteIdent(versionSchema(name, version))} CASCADE`)
    await client.query('COMMIT')
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined)
    throw error
  } finally {
    client.release()
  }
}
