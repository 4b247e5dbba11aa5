import type pg from 'pg'
import {
  checkOut,
  checkSchemaName,
  isDatabaseError,
  STRATA_SQLSTATE,
  toBigInt,
} from '../db/index.js'
import { isTimestamp, TIMESTAMP_RULE } from '../config/index.js'
import { InvalidArgumentError, PartitionInUseError } from '../errors.js'
import { partitionSql } from './sql.js'

/** An attached partition of events. */
export interface EventPartition {
  readonly name: string
  /** First position it holds (inclusive). */
  readonly fromPosition: bigint
  /** End of its range (exclusive); null for the tail, which takes every position after. */
  readonly toPosition: bigint | null
  /** A DETACH ... CONCURRENTLY of it was interrupted; `archivePartition` completes it. */
  readonly detachPending: boolean
  /** The planner's estimate of its rows (0 before the first ANALYZE). */
  readonly estimatedEvents: number
  /** When its last event (by position) was written; null while it is empty. */
  readonly lastEventAt: Date | null
}

/** A range of positions whose partition was archived. */
export interface ArchivedPartition {
  readonly name: string
  readonly fromPosition: bigint
  readonly toPosition: bigint
  readonly events: bigint
  /** 'detaching': reads of it already fail, the detach has not finished; 'detached': a plain
   * table of the schema now; 'dropped'. */
  readonly state: 'detaching' | 'detached' | 'dropped'
  readonly archivedAt: Date
}

export interface PartitionsStatus {
  readonly partitioned: boolean
  readonly partitionSize: bigint | null
  /** The last position handed out. */
  readonly headPosition: bigint
  readonly partitions: readonly EventPartition[]
  readonly archived: readonly ArchivedPartition[]
}

export interface EnablePartitioningOptions {
  /** Positions per partition (the first partition holds every event stored before). */
  readonly partitionSize: bigint | number
  /** Partitions to create past the head (default 4). */
  readonly ahead?: number
}

export interface CreatePartitionsOptions {
  /** Partitions to keep past the head (default 4). */
  readonly ahead?: number
  /** How long to wait for the lock on events (default 5000 ms; then Postgres' 55P03). */
  readonly lockTimeoutMs?: number
}

export interface ArchivePartitionOptions {
  /**
   * Archive even though checkpoints, group cursors, projections or relays still need the range
   * (they then fail with ArchivedRangeError). Messages of the range in a group's window block it
   * regardless.
   */
  readonly force?: boolean
  /** Drop the detached table (default: keep it as a plain table of the schema). */
  readonly drop?: boolean
  /** Called before each step, for progress output. */
  readonly onStep?: (step: 'prepare' | 'detach' | 'finish', partition: string) => void
}

export interface ArchivePartitionsOptions extends ArchivePartitionOptions {
  /** Archive the partitions whose every position is at or below this one. */
  readonly through?: bigint
  /** Archive the partitions whose last event was written before this time. */
  readonly writtenBefore?: Date
}

export interface ArchiveResult {
  readonly partition: string
  readonly fromPosition: bigint
  readonly toPosition: bigint
  readonly events: bigint
  readonly state: 'detached' | 'dropped'
}

/**
 * Turns the schema's events table into one range-partitioned by position (run once, as the
 * schema owner; docs/partitioning.md). Resolves to false when it already was, with this size.
 */
export async function enablePartitioning(
  pool: pg.Pool,
  schema: string,
  options: EnablePartitioningOptions,
): Promise<boolean> {
  const size = checkCount('partitionSize', options.partitionSize)
  const ahead = checkAhead(options.ahead)
  const { rows } = await pool.query<{ enabled: boolean }>(
    partitionSql(checkSchemaName(schema)).enable,
    [size.toString(), ahead],
  )
  return rows[0]?.enabled === true
}

/**
 * Creates partitions up to `ahead` partition sizes past the head; a tail that received rows
 * becomes a regular partition. Run it from a scheduler (docs/partitioning.md). Resolves to the
 * partitions made.
 */
export async function createPartitions(
  pool: pg.Pool,
  schema: string,
  options: CreatePartitionsOptions = {},
): Promise<string[]> {
  const lockTimeoutMs = options.lockTimeoutMs ?? 5000
  if (!Number.isInteger(lockTimeoutMs) || lockTimeoutMs < 0 || lockTimeoutMs > 2_147_483_647) {
    throw new InvalidArgumentError('lockTimeoutMs', lockTimeoutMs, 'must be a whole number of ms')
  }
  const client = await checkOut(pool)
  try {
    // One transaction: the lock_timeout it sets ends with it.
    await client.query('BEGIN')
    const { rows } = await client.query<{ name: string }>(
      partitionSql(checkSchemaName(schema)).create,
      [checkAhead(options.ahead), lockTimeoutMs],
    )
    await client.query('COMMIT')
    return rows.map((r) => r.name)
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined)
    throw error
  } finally {
    client.release()
  }
}

/** The partitions of events and the archived ranges. */
export async function partitionsStatus(pool: pg.Pool, schema: string): Promise<PartitionsStatus> {
  const sql = partitionSql(checkSchemaName(schema))
  const { rows } = await pool.query<{
    partitioned: boolean
    partition_size: string | null
    head: string
  }>(sql.partitioned)
  const partitioned = rows[0]?.partitioned === true
  const archived = await pool.query<{
    partition_name: string
    from_position: string
    to_position: string
    events: string
    state: ArchivedPartition['state']
    archived_at: Date
  }>(sql.archived)
  const partitions = partitioned
    ? (
        await pool.query<{
          partition_name: string
          from_position: string
          to_position: string | null
          detach_pending: boolean
          estimated_events: string
          last_event_at: Date | null
        }>(sql.partitions)
      ).rows
    : []
  return {
    partitioned,
    partitionSize: rows[0]?.partition_size == null ? null : toBigInt(rows[0].partition_size),
    headPosition: toBigInt(rows[0]?.head ?? '0'),
    partitions: partitions.map((p) => ({
      name: p.partition_name,
      fromPosition: toBigInt(p.from_position),
      toPosition: p.to_position === null ? null : toBigInt(p.to_position),
      detachPending: p.detach_pending,
      estimatedEvents: Number(p.estimated_events),
      lastEventAt: p.last_event_at,
    })),
    archived: archived.rows.map((a) => ({
      name: a.partition_name,
      fromPosition: toBigInt(a.from_position),
      toPosition: toBigInt(a.to_position),
      events: toBigInt(a.events),
      state: a.state,
      archivedAt: a.archived_at,
    })),
  }
}

/**
 * Archives the oldest partition: checks that no checkpoint, group, projection or relay still
 * needs it (PartitionInUseError, unless `force`), raises its streams' version floors and records
 * the range (reads of it fail from then on with ArchivedRangeError), then runs
 * `ALTER TABLE events DETACH PARTITION … CONCURRENTLY` (appends and reads go on meanwhile) and
 * keeps or drops the detached table. Safe to run again after an interruption: it completes what
 * was started.
 */
export async function archivePartition(
  pool: pg.Pool,
  schema: string,
  partition: string,
  options: ArchivePartitionOptions = {},
): Promise<ArchiveResult> {
  if (typeof partition !== 'string' || !/^events_p[0-9]+$/.test(partition)) {
    throw new InvalidArgumentError('partition', partition, 'must name a partition, events_p<from>')
  }
  return archiveOne(pool, schema, await partitionsStatus(pool, schema), partition, options)
}

/** archivePartition's steps, given the partitions' status read before (one read for many). */
async function archiveOne(
  pool: pg.Pool,
  schema: string,
  status: PartitionsStatus,
  partition: string,
  options: ArchivePartitionOptions,
): Promise<ArchiveResult> {
  const sql = partitionSql(checkSchemaName(schema))
  const attached = status.partitions.find((p) => p.name === partition)
  options.onStep?.('prepare', partition)
  let range: { from_position: string; to_position: string; events: string }
  try {
    const { rows } = await pool.query<typeof range>(sql.prepareArchive, [
      partition,
      options.force === true,
    ])
    range = rows[0]!
  } catch (error) {
    if (isDatabaseError(error) && error.code === STRATA_SQLSTATE.partitionInUse) {
      const readers = (
        JSON.parse(error.detail ?? '[]') as Array<{
          kind: string
          name: string
          position: string | number
        }>
      ).map((r) => ({ kind: r.kind, name: r.name, position: BigInt(r.position) }))
      throw new PartitionInUseError(partition, readers, { cause: error })
    }
    // A partition detached by an interrupted run is no longer attached: finish it below.
    if (attached !== undefined || !status.archived.some((a) => a.name === partition)) throw error
    const done = status.archived.find((a) => a.name === partition)!
    range = {
      from_position: done.fromPosition.toString(),
      to_position: done.toPosition.toString(),
      events: done.events.toString(),
    }
  }
  if (attached !== undefined) {
    options.onStep?.('detach', partition)
    // DETACH ... CONCURRENTLY refuses a transaction block: a connection of its own, autocommit.
    const client = await checkOut(pool)
    try {
      await client.query(attached.detachPending ? sql.finalize(partition) : sql.detach(partition))
    } finally {
      client.release()
    }
  }
  options.onStep?.('finish', partition)
  const { rows } = await pool.query<{ state: 'detached' | 'dropped' }>(sql.finishArchive, [
    partition,
    options.drop === true,
  ])
  return {
    partition,
    fromPosition: toBigInt(range.from_position),
    toPosition: toBigInt(range.to_position),
    events: toBigInt(range.events),
    state: rows[0]?.state ?? 'detached',
  }
}

/**
 * Archives, oldest first, every partition entirely at or below `through` and/or whose last event
 * is older than `writtenBefore` (both, when both are given), with {@link archivePartition}; stops
 * at the first that does not qualify (the archived ranges stay one prefix of the log). The tail
 * is never archived.
 */
export async function archivePartitions(
  pool: pg.Pool,
  schema: string,
  options: ArchivePartitionsOptions,
): Promise<ArchiveResult[]> {
  const { through, writtenBefore } = options
  if (through === undefined && writtenBefore === undefined) {
    throw new InvalidArgumentError('options', options, 'give through, writtenBefore, or both')
  }
  if (through !== undefined && (typeof through !== 'bigint' || through < 0n)) {
    throw new InvalidArgumentError('through', through, 'must be a position (a bigint ≥ 0)')
  }
  if (writtenBefore !== undefined && !isTimestamp(writtenBefore)) {
    throw new InvalidArgumentError('writtenBefore', writtenBefore, TIMESTAMP_RULE)
  }
  const status = await partitionsStatus(pool, schema)
  const { archived } = status
  const results: ArchiveResult[] = []
  // An archive interrupted earlier comes first: it is already out of the readers' reach.
  for (const unfinished of archived.filter((a) => a.state === 'detaching')) {
    results.push(await archiveOne(pool, schema, status, unfinished.name, options))
  }
  for (const partition of partitionsToArchive(status, { through, writtenBefore })) {
    if (archived.some((a) => a.name === partition.name)) continue
    results.push(await archiveOne(pool, schema, status, partition.name, options))
  }
  return results
}

/**
 * The attached partitions `archivePartitions` takes for this selection, oldest first: the run
 * from the oldest that qualifies and whose positions have all been handed out (`--dry-run`
 * shows it).
 */
export function partitionsToArchive(
  { partitions, headPosition }: PartitionsStatus,
  { through, writtenBefore }: { through?: bigint | undefined; writtenBefore?: Date | undefined },
): EventPartition[] {
  const taken: EventPartition[] = []
  for (const partition of partitions) {
    if (partition.toPosition === null || partition.toPosition - 1n > headPosition) break
    const byPosition = through === undefined || partition.toPosition - 1n <= through
    const byTime =
      writtenBefore === undefined ||
      (partition.lastEventAt !== null && partition.lastEventAt < writtenBefore)
    if (!byPosition || !byTime) break
    taken.push(partition)
  }
  return taken
}

function checkCount(name: string, value: unknown): bigint {
  const ok =
    (typeof value === 'number' && Number.isSafeInteger(value) && value >= 1) ||
    (typeof value === 'bigint' && value >= 1n && value <= 9223372036854775807n)
  if (!ok) throw new InvalidArgumentError(name, value, 'must be a positive whole number')
  return BigInt(value)
}

function checkAhead(value: unknown): number {
  if (value === undefined) return 4
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 10_000) {
    throw new InvalidArgumentError('ahead', value, 'must be a whole number from 1 to 10000')
  }
  return value
}
