/** The earliest instant a Postgres timestamptz holds: 24 November 4714 BC, 00:00 UTC. */
const EARLIEST_TIMESTAMP_MS = Date.UTC(-4713, 10, 24)

/** What a Date option or argument must be, for error messages. */
export const A_TIMESTAMP = 'a valid Date, not before 4714 BC'
export const TIMESTAMP_RULE = `must be ${A_TIMESTAMP} (Postgres’s earliest)`

/**
 * Whether `value` is a Date Postgres can take as a timestamptz: valid, and not before its
 * earliest instant (JavaScript's latest Date, in 275760 AD, is well within Postgres's range).
 * An earlier one would reach SQL and come back as a raw "timestamp out of range" error.
 */
export function isTimestamp(value: unknown): value is Date {
  return (
    value instanceof Date &&
    !Number.isNaN(value.getTime()) &&
    value.getTime() >= EARLIEST_TIMESTAMP_MS
  )
}
