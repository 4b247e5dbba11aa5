import type pg from 'pg'
import {
  type SqlExecutor,
  toBigInt,
  toBigIntOrNull,
  isDatabaseError,
  STRATA_SQLSTATE,
} from '../db/index.js'
import {
  EventSerializationError,
  InvalidArgumentError,
  StreamDeletedError,
  WrongExpectedVersionError,
} from '../errors.js'
import { checkKnownKeys } from '../config/index.js'
import { JsonShapeError, toJsonText } from '../events/index.js'
import type { StoreSql } from './sql.js'
import type { ExpectedVersion, ScavengeResult, StreamInfo, StreamMetadata } from './types.js'
import { checkExpectedVersion } from './validate.js'

interface StreamRow {
  version: string
  deleted: boolean
  tombstoned: boolean
  created_at: Date | null
  updated_at: Date | null
  max_count: string | null
  max_age_seconds: string | null
  truncate_before: string | null
  metadata: Record<string, unknown> | null
  first_event_at: Date | null
  last_event_at: Date | null
}

export async function getStreamInfo(
  pool: pg.Pool,
  sql: StoreSql,
  streamId: string,
): Promise<StreamInfo> {
  const { rows } = await pool.query<StreamRow>(sql.streamInfo, [streamId])
  const row = rows[0]
  if (row === undefined) throw new Error('stream_state returned no row')
  const deleted = row.tombstoned ? 'tombstoned' : row.deleted ? 'soft' : 'no'
  const version = toBigInt(row.version)
  return {
    streamId,
    version,
    exists: version > 0n && deleted === 'no',
    createdAt: earliest(row.created_at, row.first_event_at),
    updatedAt: latest(row.updated_at, row.last_event_at),
    deleted,
    metadata: {
      maxCount: row.max_count === null ? null : Number(row.max_count),
      maxAgeSeconds: row.max_age_seconds === null ? null : Number(row.max_age_seconds),
      truncateBefore: toBigIntOrNull(row.truncate_before),
      custom: row.metadata ?? {},
    },
  }
}

function earliest(a: Date | null, b: Date | null): Date | null {
  return a === null ? b : b === null ? a : a < b ? a : b
}

function latest(a: Date | null, b: Date | null): Date | null {
  return a === null ? b : b === null ? a : a > b ? a : b
}

export async function setStreamMetadata(
  db: SqlExecutor,
  sql: StoreSql,
  streamId: string,
  metadata: StreamMetadata,
): Promise<void> {
  const checked = checkStreamMetadata(metadata)
  const { rows } = await db.query(sql.setStreamMetadata, [
    streamId,
    checked.maxCount,
    checked.maxAgeSeconds,
    checked.truncateBefore?.toString() ?? null,
    checked.custom,
  ])
  if (rows.length === 0) throw new StreamDeletedError(streamId)
}

const METADATA_KEYS = ['maxCount', 'maxAgeSeconds', 'truncateBefore', 'custom'] as const

function checkStreamMetadata(metadata: StreamMetadata) {
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) {
    throw new InvalidArgumentError('stream metadata', metadata, 'must be an object')
  }
  checkKnownKeys(
    metadata,
    METADATA_KEYS,
    'a stream metadata key (put your own keys in custom)',
    { maxAge: 'is not a metadata key: the maximum age, in seconds, is maxAgeSeconds' },
    'stream metadata ',
    InvalidArgumentError,
  )
  const positiveOrNull = (name: string, value: unknown): number | null => {
    if (value === undefined || value === null) return null
    const ok =
      (typeof value === 'number' && Number.isSafeInteger(value) && value >= 1) ||
      (typeof value === 'bigint' && value >= 1n && value <= BigInt(Number.MAX_SAFE_INTEGER))
    if (!ok) {
      throw new InvalidArgumentError(
        `stream metadata ${name}`,
        value,
        'must be a positive integer or null',
      )
    }
    return Number(value)
  }
  const truncateBefore = metadata.truncateBefore ?? null
  const truncateOk =
    truncateBefore === null ||
    (typeof truncateBefore === 'bigint' &&
      truncateBefore >= 0n &&
      truncateBefore <= 9223372036854775807n) ||
    (typeof truncateBefore === 'number' &&
      Number.isSafeInteger(truncateBefore) &&
      truncateBefore >= 0)
  if (!truncateOk) {
    throw new InvalidArgumentError(
      'stream metadata truncateBefore',
      truncateBefore,
      'must be a bigint >= 0n or null',
    )
  }
  const maxAgeSeconds = positiveOrNull('maxAgeSeconds', metadata.maxAgeSeconds)
  const custom = metadata.custom ?? {}
  if (typeof custom !== 'object' || custom === null || Array.isArray(custom)) {
    throw new InvalidArgumentError('stream metadata custom', custom, 'must be a JSON object')
  }
  let customText: string
  try {
    customText = toJsonText(custom, 'custom')
  } catch (error) {
    if (error instanceof JsonShapeError) {
      throw new EventSerializationError('stream metadata', error.path, error.reason, error.value)
    }
    throw error
  }
  return {
    maxCount: positiveOrNull('maxCount', metadata.maxCount),
    maxAgeSeconds,
    truncateBefore: truncateBefore === null ? null : BigInt(truncateBefore),
    custom: customText,
  }
}

/**
 * Soft delete or tombstone, under the stream's lock so the expected version is exact.
 * Soft-deleting a stream that has no events does nothing.
 */
export async function deleteStream(
  db: SqlExecutor,
  sql: StoreSql,
  streamId: string,
  mode: 'soft' | 'tombstone',
  expectedVersion: ExpectedVersion | undefined,
): Promise<void> {
  const expected = checkExpectedVersion(expectedVersion)
  try {
    await db.query(sql.deleteStream, [
      streamId,
      mode,
      expected.kind,
      expected.version?.toString() ?? null,
    ])
  } catch (error) {
    if (isDatabaseError(error) && error.code === STRATA_SQLSTATE.wrongExpectedVersion) {
      throw new WrongExpectedVersionError(
        streamId,
        expectedVersion ?? 'any',
        toBigInt(error.detail ?? '0'),
      )
    }
    if (isDatabaseError(error) && error.code === STRATA_SQLSTATE.streamTombstoned) {
      throw new StreamDeletedError(streamId)
    }
    throw error
  }
}

export interface ScavengeOptions {
  /** Events deleted per transaction (default 10,000). */
  batchSize?: number
  /** Called after each batch with the running totals. */
  onProgress?: (progress: ScavengeResult) => void
  signal?: AbortSignal
}

/**
 * Physically removes the events that retention (maxCount, maxAgeSeconds, truncateBefore) and deletion
 * hide from reads. The only code path that deletes events; it runs in batches so it never holds
 * long locks, and can be stopped with the signal between batches.
 */
export async function scavenge(
  pool: pg.Pool,
  sql: StoreSql,
  options: ScavengeOptions = {},
): Promise<ScavengeResult> {
  const batchSize = options.batchSize ?? 10_000
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new InvalidArgumentError('batchSize', batchSize, 'must be a positive integer')
  }
  let deletedEvents = 0
  const streams = new Set<string>()
  for (;;) {
    options.signal?.throwIfAborted()
    const { rows } = await pool.query<{ stream_id: string; deleted: string }>(sql.scavengeBatch, [
      batchSize,
    ])
    let removed = 0
    for (const row of rows) {
      streams.add(row.stream_id)
      removed += Number(row.deleted)
    }
    deletedEvents += removed
    options.onProgress?.({ deletedEvents, streams: streams.size })
    if (removed < batchSize) break
  }
  return { deletedEvents, streams: streams.size }
}
