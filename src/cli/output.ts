/** How the CLI prints: tables for people, JSON for machines (one document; `tail`: one line per event). */
export interface Output {
  readonly json: boolean
  /** A result: JSON when --json, else the human rendering. */
  result(value: unknown, human: () => string): void
  /** A line of progress or narration (stderr when --json, so stdout stays parseable). */
  note(message: string): void
}

export function createOutput(json: boolean): Output {
  return {
    json,
    result(value, human) {
      process.stdout.write(`${json ? toJson(value) : human()}\n`)
    },
    note(message) {
      ;(json ? process.stderr : process.stdout).write(`${message}\n`)
    },
  }
}

/** JSON with bigints as strings and dates as ISO strings. */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))
}

/** A plain text table with a header row. */
export function table(
  headers: readonly string[],
  rows: ReadonlyArray<ReadonlyArray<unknown>>,
): string {
  const cells = [headers.map(String), ...rows.map((row) => row.map(cell))]
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)))
  return cells
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')
}

function cell(value: unknown): string {
  if (value === null || value === undefined) return '-'
  if (value instanceof Date) return value.toISOString()
  if (typeof value === 'string') return value
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean')
    return `${value}`
  return toJson(value)
}

/** Exit codes: 0 success, 1 failure, 2 usage error. */
export const EXIT = { ok: 0, failure: 1, usage: 2 } as const

/** A mistake in how the command was called: exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError'
}

/** cli-progress's bar, loaded only by the commands that draw one. */
export async function progressBar() {
  return (await import('cli-progress')).SingleBar
}
