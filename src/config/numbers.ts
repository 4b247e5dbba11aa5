import { ConfigError } from '../errors.js'

/** An optional integer option: its value, or `fallback` when absent. @throws ConfigError. */
export function intOption(
  option: string,
  value: unknown,
  fallback: number,
  min: number,
  max: number,
) {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(option, value, `must be an integer from ${min} to ${max}`)
  }
  return value
}

/** An optional finite number option, as intOption. @throws ConfigError. */
export function numberOption(
  option: string,
  value: unknown,
  fallback: number,
  min: number,
  max: number,
) {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw new ConfigError(option, value, `must be a number from ${min} to ${max}`)
  }
  return value
}
