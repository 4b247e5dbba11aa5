import { ConfigError } from '../errors.js'
import { checkKnownKeys } from './known-keys.js'
import { numberOption } from './numbers.js'

/**
 * Exponential backoff between attempts: `initialMs × multiplier^(attempt-1)`, capped at `maxMs`,
 * jittered. The one shape of every retry policy of the API (consumer groups, task queues,
 * subscriptions, projections).
 */
export interface BackoffOptions {
  /** Delay after the first failure. */
  readonly initialMs?: number
  /** Largest delay. */
  readonly maxMs?: number
  /** Growth per attempt (default 2). */
  readonly multiplier?: number
  /**
   * Share of the delay that is random, from 0 (none) to 1 (anywhere between 0 and the delay);
   * default 0.5, so retries of many clients that failed together spread out.
   */
  readonly jitter?: number
}

/** A backoff with every value set. */
export type Backoff = Required<BackoffOptions>

/** A backoff and how many attempts it allows (the first one included). */
export interface RetryOptions extends BackoffOptions {
  /** Attempts before giving up: an integer >= 1, or Infinity to retry forever. */
  readonly maxAttempts?: number
}

/** A retry policy with every value set. */
export interface Retry extends Backoff {
  readonly maxAttempts: number
}

/**
 * Reconnecting background work (consumers, projection runners, the relay, the LISTEN
 * connection) after a transient failure: 50 ms doubling to 5 s, jittered.
 */
export const RECONNECT_BACKOFF: Backoff = { initialMs: 50, maxMs: 5000, multiplier: 2, jitter: 0.5 }

/** Largest delay a Node.js timer takes (a longer one fires at once). */
export const MAX_TIMER_MS = 2 ** 31 - 1

/**
 * The delay before attempt `attempt + 1` after attempt `attempt` failed: exponential, capped at
 * `maxMs`, then reduced by a random share of up to `jitter` so clients that failed together do
 * not come back together. The result lies in `[capped × (1 - jitter), capped]`, never above
 * maxMs, never negative.
 *
 * @param random a source of numbers in [0, 1) (tests pass their own).
 */
export function backoffDelay(
  attempt: number,
  backoff: Backoff,
  random: () => number = Math.random,
): number {
  const exponential = backoff.initialMs * backoff.multiplier ** Math.max(0, attempt - 1)
  const capped = Number.isFinite(exponential) ? Math.min(backoff.maxMs, exponential) : backoff.maxMs
  return Math.max(0, Math.round(capped * (1 - backoff.jitter * random())))
}

/** Resolves after `ms` (for retries that no signal cuts short). */
export function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.min(ms, MAX_TIMER_MS)))
}

/** Names other retry policies used once; refused with the name to use instead. */
const RENAMED: Readonly<Record<string, string>> = {
  initialDelayMs: 'initialMs',
  maxDelayMs: 'maxMs',
}

/**
 * Checks the backoff part of a retry policy (the keys `initialMs`, `maxMs`, `multiplier`,
 * `jitter` of `given`, which may hold others listed in `otherKeys`) and applies defaults.
 * @throws ConfigError naming the option (`<prefix>initialMs`) and the value; an old name
 *   (`initialDelayMs`) is refused naming the new one.
 */
export function checkBackoff(
  given: object | undefined,
  defaults: Backoff,
  prefix: string,
  otherKeys: readonly string[] = [],
): Backoff {
  if (given === undefined) return defaults
  if (typeof given !== 'object' || given === null) {
    throw new ConfigError(prefix.replace(/\.$/, ''), given, 'must be an object')
  }
  const elsewhere: Record<string, string> = {}
  for (const [old, name] of Object.entries(RENAMED)) {
    elsewhere[old] =
      `is now called ${prefix}${name} (every retry policy uses initialMs, maxMs, multiplier, jitter)`
  }
  checkKnownKeys(given, [...BACKOFF_KEYS, ...otherKeys], 'a retry option', elsewhere, prefix)
  const options = given as BackoffOptions
  const initialMs = numberOption(
    `${prefix}initialMs`,
    options.initialMs,
    defaults.initialMs,
    0,
    24 * 3600_000,
  )
  const maxMs = numberOption(
    `${prefix}maxMs`,
    options.maxMs,
    Math.max(defaults.maxMs, initialMs),
    initialMs,
    MAX_TIMER_MS,
  )
  const multiplier = numberOption(
    `${prefix}multiplier`,
    options.multiplier,
    defaults.multiplier,
    1,
    1000,
  )
  const jitter = numberOption(`${prefix}jitter`, options.jitter, defaults.jitter, 0, 1)
  return { initialMs, maxMs, multiplier, jitter }
}

const BACKOFF_KEYS = ['initialMs', 'maxMs', 'multiplier', 'jitter'] as const

/**
 * Checks a retry policy ({@link RetryOptions}, and the keys in `otherKeys` the caller checks
 * itself) and applies defaults.
 * @throws ConfigError naming the option, as checkBackoff.
 */
export function checkRetry(
  given: object | undefined,
  defaults: Retry,
  prefix: string,
  otherKeys: readonly string[] = [],
): Retry {
  const backoff = checkBackoff(given, defaults, prefix, ['maxAttempts', ...otherKeys])
  const maxAttempts = (given as RetryOptions | undefined)?.maxAttempts ?? defaults.maxAttempts
  if (
    maxAttempts !== Infinity &&
    (typeof maxAttempts !== 'number' || !Number.isInteger(maxAttempts) || maxAttempts < 1)
  ) {
    throw new ConfigError(
      `${prefix}maxAttempts`,
      maxAttempts,
      'must be an integer >= 1 or Infinity',
    )
  }
  return { ...backoff, maxAttempts }
}
