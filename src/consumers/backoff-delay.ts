import type { BackoffOptions } from './types.js'

/**
 * The delay before attempt `attempt + 1` after attempt `attempt` failed: exponential
 * (`initialMs × multiplier^(attempt-1)`), capped at `maxMs`, then reduced by a random share of
 * up to `jitter` so messages that failed together do not come back together. The result lies in
 * `[capped × (1 - jitter), capped]`, never above maxMs, never negative.
 *
 * @param random a source of numbers in [0, 1) (tests pass their own).
 */
export function backoffDelay(
  attempt: number,
  backoff: Required<BackoffOptions>,
  random: () => number = Math.random,
): number {
  const exponential = backoff.initialMs * backoff.multiplier ** Math.max(0, attempt - 1)
  const capped = Number.isFinite(exponential) ? Math.min(backoff.maxMs, exponential) : backoff.maxMs
  return Math.max(0, Math.round(capped * (1 - backoff.jitter * random())))
}
