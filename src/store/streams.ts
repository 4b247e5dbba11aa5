import type pg from 'pg'
import { inTransaction } from '../db/executor.js'
import { toBigInt, toBigIntOrNull } from '../db/int8.js'
import {
  EventSerializationError,
  InvalidArgumentError,
  StreamDeletedError,
  WrongExpectedVersionError,
} from '../errors.js'
import { JsonShapeError, toJsonText } from '../events/json.js'
import type { StoreSql } from './sql.js'
import type { ExpectedVersion, ScavengeResult, StreamInfo, StreamMetadata } from './types.js'
import { checkExpectedVersion } from './validate.js'

interface StreamRow {
  stream_id: string
  version: string
  created_at: Date
  updated_at: Date
  deleted_at: Date | null
  tombstoned_at: Date | null
  max_count: string | null
  max_age_seconds: string | null
  truncate_before: string | null
  metadata: Record<string, unknown>
}

export async function getStreamInfo(pool: pg.Pool, sql: StoreSql, streamId: string): Promise<StreamInfo> {
  const { rows } = await pool.query<StreamRow>(sql.streamInfo, [streamId])
  const row = rows[0]
  if (row === undefined) {
    return {
      streamId,
      version: 0n,
      exists: false,
      createdAt: null,
      updatedAt: null,
      deleted: 'no',
      metadata: { maxCount: null, maxAgeSeconds: null, truncateBefore: null, custom: {} },
    }
  }
  const deleted = row.tombstoned_at !== null ? 'tombstoned' : row.deleted_at !== null ? 'soft' : 'no'
  const version = toBigInt(row.version)
  return {
    streamId,
    version,
    exists: version > 0n && deleted === 'no',
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    deleted,
    metadata: {
      maxCount: row.max_count === null ? null : Number(row.max_count),
      maxAgeSeconds: row.max_age_seconds === null ? null : Number(row.max_age_seconds),
      truncateBefore: toBigIntOrNull(row.truncate_before),
      custom: row.metadata,
    },
  }
}

export async function setStreamMetadata(
  pool: pg.Pool,
  sql: StoreSql,
  streamId: string,
  metadata: StreamMetadata,
): Promise<void> {
  const checked = checkStreamMetadata(metadata)
  const { rows } = await pool.query(sql.setStreamMetadata, [
    streamId,
    checked.maxCount,
    checked.maxAgeSeconds,
    checked.truncateBefore?.toString() ?? null,
    checked.custom,
  ])
  if (rows.length === 0) throw new StreamDeletedError(streamId)
}

function checkStreamMetadata(metadata: StreamMetadata) {
  if (typeof metadata !== 'object' || metadata === null) {
    throw new InvalidArgumentError('stream metadata', metadata, 'must be an object')
  }
  const positiveOrNull = (name: string, value: unknown) => {
    if (value === undefined || value === null) return null
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
      throw new InvalidArgumentError(`stream metadata ${name}`, value, 'must be a positive integer or null')
    }
    return value
  }
  const truncateBefore = metadata.truncateBefore ?? null
  if (truncateBefore !== null && (typeof truncateBefore !== 'bigint' || truncateBefore < 0n)) {
    throw new InvalidArgumentError('stream metadata truncateBefore', truncateBefore, 'must be a bigint >= 0n or null')
  }
  const custom = metadata.custom ?? {}
  if (typeof custom !== 'object' || Array.isArray(custom)) {
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
    maxAgeSeconds: positiveOrNull('maxAgeSeconds', metadata.maxAgeSeconds),
    truncateBefore,
    custom: customText,
  }
}

/**
 * Soft delete or tombstone, under the stream's row lock so the expected version is exact.
 * Soft-deleting a stream that never existed does nothing.
 */
export async function deleteStream(
  pool: pg.Pool,
  sql: StoreSql,
  streamId: string,
  mode: 'soft' | 'tombstone',
  expectedVersion: ExpectedVersion | undefined,
): Promise<void> {
  const expected = checkExpectedVersion(expectedVersion)
  await inTransaction(pool, async (tx) => {
    const { rows } = await tx.query<{ version: string; tombstoned: boolean; deleted: boolean }>(
      sql.lockStream,
      [streamId],
    )
    const row = rows[0]
    if (row?.tombstoned) throw new StreamDeletedError(streamId)
    const actual = row === undefined ? 0n : toBigInt(row.version)
    const ok =
      expected.kind === 'any' ||
      (expected.kind === 'stream_exists' && actual > 0n && row?.deleted === false) ||
      (expected.kind === 'no_stream' && (actual === 0n || row?.deleted === true)) ||
      (expected.kind === 'exact' && expected.version === actual)
    if (!ok) throw new WrongExpectedVersionError(streamId, expectedVersion ?? 'any', actual)
    if (mode === 'soft') {
      if (row !== undefined) await tx.query(sql.softDeleteStream, [streamId, null])
    } else {
      await tx.query(sql.tombstoneStream, [streamId, null])
    }
  })
}

export interface ScavengeOptions {
  /** Events deleted per transaction (default 10,000). */
  batchSize?: number
  /** Called after each batch with the running totals. */
  onProgress?: (progress: ScavengeResult) => void
  signal?: AbortSignal
}

/**
 * Physically removes the events that retention (maxCount, maxAge, truncateBefore) and deletion
 * hide from reads. The only code path that deletes events; it runs in batches so it never holds
 * long locks, and can be stopped with the signal between batches.
 */
export async function scavenge(pool: pg.Pool, sql: StoreSql, options: ScavengeOptions = {}): Promise<ScavengeResult> {
  const batchSize = options.batchSize ?? 10_000
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new InvalidArgumentError('batchSize', batchSize, 'must be a positive integer')
  }
  let deletedEvents = 0
  const streams = new Set<string>()
  for (;;) {
    options.signal?.throwIfAborted()
    const removed = await inTransaction(pool, async (tx) => {
      await tx.query(sql.allowEventDelete)
      const { rows } = await tx.query<{ stream_id: string }>(sql.scavengeBatch, [batchSize])
      return rows
    })
    for (const row of removed) streams.add(row.stream_id)
    deletedEvents += removed.length
    options.onProgress?.({ deletedEvents, streams: streams.size })
    if (removed.length < batchSize) break
  }
  return { deletedEvents, streams: streams.size }
}
