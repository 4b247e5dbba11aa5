import { summarize, type Summary } from './stats.js'

/** One measured line of a scenario: a system (strata, raw SQL, a peer) under one setting. */
export interface Row {
  readonly scenario: string
  /** The setting, e.g. "concurrency 16, distinct streams". */
  readonly case: string
  /** Who was measured: "strata", "raw SQL", "Emmett", … */
  readonly system: string
  readonly unit: string
  /** Whether a bigger number is better (throughput) or worse (latency, memory). */
  readonly higherIsBetter: boolean
  readonly summary: Summary
  readonly note?: string
  /**
   * Rows with the same scale key share one scale in the scenario's chart (e.g. one figure at
   * several sizes); by default each case has its own.
   */
  readonly scale?: string
}

export interface ScenarioContext {
  readonly smoke: boolean
  /** Fewer cases at full size (`--quick`): what a before/after comparison of one change needs. */
  readonly quick?: boolean
  readonly reps: number
  /** A fresh database on the benchmark server; dropped after the scenario. */
  readonly createDatabase: () => Promise<string>
  readonly log: (message: string) => void
  /**
   * Records a visible notice that part of the scenario did not run (a peer whose service is
   * absent): shown in the console and in the report, never an error.
   */
  readonly skip: (message: string) => void
}

export interface Scenario {
  readonly name: string
  readonly title: string
  /** What limits the figures, for the report. */
  readonly limits: string
  run(context: ScenarioContext): Promise<Row[]>
}

/** Runs variants interleaved: rep 1 of each, then rep 2 of each, so drift hits all alike. */
export async function interleaved<T extends string>(
  reps: number,
  variants: Record<T, () => Promise<number>>,
  onSample?: (variant: T, rep: number, value: number) => void,
): Promise<Record<T, number[]>> {
  const samples = Object.fromEntries(
    Object.keys(variants).map((k) => [k, [] as number[]]),
  ) as Record<T, number[]>
  for (let rep = 1; rep <= reps; rep++) {
    for (const name of Object.keys(variants) as T[]) {
      const value = await variants[name]()
      samples[name].push(value)
      onSample?.(name, rep, value)
    }
  }
  return samples
}

/** Thrown by a scenario whose peer service is absent: reported as skipped, not an error. */
export class SkipScenario extends Error {}

/** A row from its parts: the summary of `samples` (medians with min–max). */
export function rowOf(fields: Omit<Row, 'summary'>, samples: readonly number[]): Row {
  return { ...fields, summary: summarize(samples) }
}
