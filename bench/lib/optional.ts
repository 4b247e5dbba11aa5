import { existsSync } from 'node:fs'
import { fileURLToPath, pathToFileURL } from 'node:url'
import type { Scenario } from './types.js'

/**
 * A scenario module that another change delivers (bench/scenarios/<name>.ts), or undefined while
 * it does not exist yet. Loaded at run time so the harness typechecks and runs without it; a
 * module that exists but fails to load is an error, not a skip.
 */
export async function optionalScenarioModule(
  name: string,
): Promise<Record<string, unknown> | undefined> {
  const path = fileURLToPath(new URL(`../scenarios/${name}.ts`, import.meta.url))
  if (!existsSync(path)) return undefined
  return (await import(pathToFileURL(path).href)) as Record<string, unknown>
}

/** Whether a value has the shape of a {@link Scenario}. */
export function isScenario(value: unknown): value is Scenario {
  if (typeof value !== 'object' || value === null) return false
  const s = value as Record<string, unknown>
  return (
    typeof s.name === 'string' &&
    typeof s.title === 'string' &&
    typeof s.limits === 'string' &&
    typeof s.run === 'function'
  )
}

/** The first export of a module that is a scenario. */
export function scenarioExport(module: Record<string, unknown> | undefined): Scenario | undefined {
  return Object.values(module ?? {}).find(isScenario)
}
