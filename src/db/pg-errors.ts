import pg from 'pg'

/** SQLSTATEs raised by strata's own SQL (migrations/*.sql). */
export const STRATA_SQLSTATE = {
  wrongExpectedVersion: 'SX001',
  duplicateEvent: 'SX002',
  streamTombstoned: 'SX003',
  eventImmutable: 'SX004',
  /** $all after a position inside an archived range (migrations/0015). */
  archivedPositions: 'SX020',
  /** A stream's archived versions (migrations/0015). */
  archivedVersions: 'SX021',
  /** A partitioning command on a store whose events are not partitioned. */
  notPartitioned: 'SX022',
  /** Archiving a partition that readers still need. */
  partitionInUse: 'SX023',
} as const

export function isDatabaseError(error: unknown): error is pg.DatabaseError {
  return (
    error instanceof pg.DatabaseError ||
    (isObject(error) && typeof error.code === 'string' && 'severity' in error)
  )
}

export function isUniqueViolation(error: unknown, constraint: string): boolean {
  return isDatabaseError(error) && error.code === '23505' && error.constraint === constraint
}

/**
 * Errors worth retrying on a fresh connection: the connection dropped, the server is restarting,
 * a serialization failure or a deadlock.
 */
export function isTransientError(error: unknown): boolean {
  if (isDatabaseError(error)) {
    const code = error.code ?? ''
    return (
      code === '40001' || // serialization_failure
      code === '40P01' || // deadlock_detected
      code === '57P01' || // admin_shutdown (pg_terminate_backend)
      code === '57P02' || // crash_shutdown
      code === '57P03' || // cannot_connect_now
      code === '53300' || // too_many_connections
      code.startsWith('08') // connection exceptions
    )
  }
  if (!isObject(error)) return false
  const code = typeof error.code === 'string' ? error.code : ''
  const message = typeof error.message === 'string' ? error.message : ''
  return (
    ['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN'].includes(code) ||
    message.includes('Connection terminated') ||
    message.includes('connection terminated') ||
    message.includes('Client has encountered a connection error') ||
    message.includes('Client was closed and is not queryable') ||
    message.includes('timeout exceeded when trying to connect')
  )
}

/**
 * Whether a transient error may have come after the statement reached the server, so that it
 * may have committed: anything but a connection that was never made (refused, name not
 * resolved, the server starting up or full) and a rollback the server reported.
 */
export function mayHaveCommitted(error: unknown): boolean {
  if (!isTransientError(error)) return false
  if (isDatabaseError(error)) {
    const code = error.code ?? ''
    return !['40001', '40P01', '57P03', '53300', '08001', '08004'].includes(code)
  }
  const code = isObject(error) && typeof error.code === 'string' ? error.code : ''
  const message = isObject(error) && typeof error.message === 'string' ? error.message : ''
  return (
    !['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN'].includes(code) &&
    !message.includes('timeout exceeded when trying to connect') &&
    !message.includes('Client was closed and is not queryable') &&
    !message.includes('Client has encountered a connection error and is not queryable')
  )
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null
}
