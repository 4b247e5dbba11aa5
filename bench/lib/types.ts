import type { Summary } from './stats.js'

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
}

export interface ScenarioContext {
  readonly smoke: boolean
  readonly reps: number
  /** A fresh database on the benchmark server; dropped after the scenario. */
  createDatabase(): Promise<string>
  log(message: string): void
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
