import { isTimestamp, TIMESTAMP_RULE } from '../config/index.js'
import { type ConfigError, InvalidArgumentError } from '../errors.js'
import type { ResetTarget } from './types.js'

/** A cursor to start from, as consumer_group_start_cursor takes it. */
export interface StartPoint {
  readonly kind: 'start' | 'end' | 'position' | 'time'
  readonly position: bigint | null
  readonly time: Date | null
}

/**
 * Checks where a group starts (or is reset to). `errorClass` is ConfigError for options and
 * InvalidArgumentError for arguments.
 */
export function checkStartFrom(
  option: string,
  value: unknown,
  errorClass: typeof ConfigError | typeof InvalidArgumentError,
): StartPoint {
  if (value === 'start') return { kind: 'start', position: null, time: null }
  if (value === 'end') return { kind: 'end', position: null, time: null }
  if (typeof value === 'bigint' || typeof value === 'number') {
    const position = toPosition(value)
    if (position === undefined) {
      throw new errorClass(option, value, POSITION_RULE)
    }
    return position === 0n
      ? { kind: 'start', position: null, time: null }
      : { kind: 'position', position, time: null }
  }
  if (value instanceof Date) {
    if (!isTimestamp(value)) throw new errorClass(option, value, TIMESTAMP_RULE)
    return { kind: 'time', position: null, time: value }
  }
  throw new errorClass(option, value, "must be 'start', 'end', a position (bigint) or a Date")
}

/** What a position may be: see {@link toPosition}. */
export const POSITION_RULE = 'a position must be a bigint >= 0n or a non-negative safe integer'

/**
 * A position as a bigint: a bigint from 0n to the int8 maximum, or a number that is a
 * non-negative safe integer. Undefined for anything else.
 */
export function toPosition(value: unknown): bigint | undefined {
  if (typeof value === 'bigint') {
    return value >= 0n && value <= 9223372036854775807n ? value : undefined
  }
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return BigInt(value)
  return undefined
}

/**
 * Checks the target of a reset.
 * @throws InvalidArgumentError naming the value.
 */
export function checkResetTarget(target: ResetTarget): StartPoint {
  if (typeof target === 'object' && target !== null && !(target instanceof Date)) {
    for (const key of Object.keys(target)) {
      if (key !== 'position' && key !== 'time') {
        throw new InvalidArgumentError(
          `to.${key}`,
          (target as Record<string, unknown>)[key],
          'is not a reset target: give { position } or { time }',
        )
      }
    }
    if ('position' in target && 'time' in target) {
      throw new InvalidArgumentError('to', target, 'give { position } or { time }, not both')
    }
    if ('position' in target)
      return checkStartFrom('to.position', target.position, InvalidArgumentError)
    if ('time' in target) {
      if (!(target.time instanceof Date)) {
        throw new InvalidArgumentError('to.time', target.time, 'must be a Date')
      }
      return checkStartFrom('to.time', target.time, InvalidArgumentError)
    }
  }
  return checkStartFrom('to', target, InvalidArgumentError)
}
