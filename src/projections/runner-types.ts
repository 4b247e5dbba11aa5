import type { ReadFrom } from '../store/index.js'

export interface RunProjectionOptions {
  /**
   * How long the runner's lease lasts without renewal (default 5000 ms). A standby takes over
   * within about this long after the active runner dies.
   */
  leaseMs?: number
  /** Events applied per transaction (default 500). */
  batchSize?: number
  /** Polling interval when caught up or on standby (default 500 ms). */
  pollIntervalMs?: number
  /** Stops the runner when aborted. */
  signal?: AbortSignal
  /** Errors the runner recovers from (lost connections, a lost lease); default: ignored. */
  onError?: (error: unknown) => void
  /**
   * Read the events (catch-up, rebuilds and live) from the primary or from one of the store's
   * replicas (default: the store's `replicas.readAllFrom`; the primary without replicas). The
   * lease, the read model and its position stay on the primary.
   */
  readFrom?: ReadFrom
}

/**
 * - `starting`; `standby`: another runner holds the lease; `catching-up`; `live`: caught up,
 *   following new events; `paused`; `stopped`: by stop() or the signal; `failed`: stopped on an
 *   event (error policy 'stop') or by setup; `retired`: a newer version took over.
 */
export type RunnerState =
  'starting' | 'standby' | 'catching-up' | 'live' | 'paused' | 'stopped' | 'failed' | 'retired'

/** Progress of a runner, in positions of $all (for a rebuild: done, total, rate, ETA). */
export interface ProjectionProgress {
  readonly name: string
  readonly version: number
  readonly position: bigint
  /** Positions processed since this version started (or was reset). */
  readonly done: bigint
  /** Positions to process to reach the head as of this moment. */
  readonly total: bigint
  /** Positions per second over the last seconds. */
  readonly rate: number
  /** Seconds until caught up at the current rate (0 when caught up, null when unknown). */
  readonly etaSeconds: number | null
  /** When it should catch up at the current rate: now + etaSeconds (null when unknown). */
  readonly eta: Date | null
  readonly state: RunnerState
}
