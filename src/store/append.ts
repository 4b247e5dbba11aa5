import type { SqlExecutor } from '../db/executor.js'
import { toBigInt } from '../db/int8.js'
import { isDatabaseError, isUniqueViolation, STRATA_SQLSTATE } from '../db/pg-errors.js'
import {
  DuplicateEventError,
  EventImmutableError,
  StreamDeletedError,
  WrongExpectedVersionError,
} from '../errors.js'
import type { StoreSql } from './sql.js'
import type { AppendResult, ExpectedVersion } from './types.js'
import type { ExpectedVersionParam, PreparedEvents } from './validate.js'

export interface PreparedAppend {
  readonly streamId: string
  readonly expected: ExpectedVersionParam
  /** As the caller passed it, for error messages. */
  readonly expectedAsGiven: ExpectedVersion
  readonly events: PreparedEvents
}

export interface AppendOutcome extends AppendResult {
  /** The events were already stored by an earlier identical append; nothing was written. */
  readonly retried: boolean
}

/**
 * Runs one append (one statement: the append_to_stream function). `forceIdCheck` makes a retry
 * after a lost connection idempotent even for generated ids.
 */
export async function appendPrepared(
  executor: SqlExecutor,
  sql: StoreSql,
  append: PreparedAppend,
  forceIdCheck = false,
): Promise<AppendOutcome> {
  const { events } = append
  try {
    const { rows } = await executor.query<{
      next_version: string
      last_position: string
      retried: boolean
    }>(sql.appendToStream, [
      append.streamId,
      append.expected.kind,
      append.expected.version?.toString() ?? null,
      events.ids,
      events.types,
      events.data,
      events.metadata,
      events.dataVersions,
      events.idsSupplied || forceIdCheck,
    ])
    const row = rows[0]
    if (row === undefined) throw new Error('append_to_stream returned no row')
    return {
      streamId: append.streamId,
      nextExpectedVersion: toBigInt(row.next_version),
      position: toBigInt(row.last_position),
      retried: row.retried,
    }
  } catch (error) {
    throw mapAppendError(error, append)
  }
}

/** Turns the SQLSTATEs of append_to_stream (and the id constraint) into typed errors. */
export function mapAppendError(error: unknown, append: PreparedAppend): unknown {
  if (!isDatabaseError(error)) return error
  switch (error.code) {
    case STRATA_SQLSTATE.wrongExpectedVersion:
      return new WrongExpectedVersionError(
        append.streamId,
        append.expectedAsGiven,
        toBigInt(error.detail ?? '0'),
      )
    case STRATA_SQLSTATE.duplicateEvent: {
      const detail = parseDetail(error.detail)
      return new DuplicateEventError(
        detail.eventId ?? append.events.ids[0] ?? '',
        append.streamId,
        detail.existingStreamId ?? undefined,
        detail.reason ?? 'the id is already stored',
      )
    }
    case STRATA_SQLSTATE.streamTombstoned:
      return new StreamDeletedError(append.streamId)
    case STRATA_SQLSTATE.eventImmutable:
      return new EventImmutableError(error.message, { cause: error })
  }
  if (isUniqueViolation(error, 'events_id_key')) {
    // A concurrent append to another stream stored one of these ids first.
    const match = /\(id\)=\(([0-9a-f-]+)\)/.exec(error.detail ?? '')
    return new DuplicateEventError(
      match?.[1] ?? append.events.ids[0] ?? '',
      append.streamId,
      undefined,
      'the id belongs to an event appended concurrently',
    )
  }
  return error
}

function parseDetail(detail: string | undefined): {
  eventId?: string
  existingStreamId?: string | null
  reason?: string
} {
  try {
    return JSON.parse(detail ?? '{}') as { eventId?: string; existingStreamId?: string; reason?: string }
  } catch {
    return {}
  }
}
