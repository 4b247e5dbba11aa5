import type { ProjectionProgress, RunnerState } from './runner-types.js'

/** How far the rate looks back. */
const WINDOW_MS = 5000

/**
 * Turns a runner's positions into progress: done and total since it started, the rate over the
 * last seconds, and the time left at that rate (what a progress bar draws).
 */
export class ProgressMeter {
  #samples: Array<{ at: number; position: bigint }> = []

  constructor(
    private readonly name: string,
    private readonly version: number,
  ) {}

  /** Progress at `position`, with `head` the highest position known to be final. */
  measure(
    position: bigint,
    startedFrom: bigint,
    knownHead: bigint,
    state: RunnerState,
  ): ProjectionProgress {
    const now = Date.now()
    this.#samples.push({ at: now, position })
    this.#samples = this.#samples.filter((s) => now - s.at <= WINDOW_MS)
    const first = this.#samples[0]!
    const seconds = (now - first.at) / 1000
    const rate = seconds > 0 ? Number(position - first.position) / seconds : 0
    const head = knownHead > position ? knownHead : position
    const etaSeconds = head === position ? 0 : rate > 0 ? Number(head - position) / rate : null
    return {
      name: this.name,
      version: this.version,
      position,
      done: position - startedFrom,
      total: head - startedFrom,
      rate,
      etaSeconds,
      eta: etaSeconds === null ? null : new Date(now + etaSeconds * 1000),
      state,
    }
  }
}
