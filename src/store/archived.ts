import { isDatabaseError, STRATA_SQLSTATE, toBigInt } from '../db/index.js'
import { ArchivedRangeError } from '../errors.js'

/**
 * SX020 and SX021 (a read that needed archived events, migrations/0015) as
 * ArchivedRangeError; any other error as it is.
 */
export function mapArchivedError(error: unknown): unknown {
  if (!isDatabaseError(error)) return error
  if (error.code === STRATA_SQLSTATE.archivedPositions) {
    return new ArchivedRangeError('all', toBigInt(error.detail ?? '0'), undefined, { cause: error })
  }
  if (error.code === STRATA_SQLSTATE.archivedVersions) {
    return new ArchivedRangeError('stream', toBigInt(error.detail ?? '0'), error.hint ?? '', {
      cause: error,
    })
  }
  return error
}

/** Runs `read`, turning the archived-range SQLSTATEs into ArchivedRangeError. */
export async function archivedAware<T>(read: () => Promise<T>): Promise<T> {
  try {
    return await read()
  } catch (error) {
    throw mapArchivedError(error)
  }
}
