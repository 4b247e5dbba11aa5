import { inspect } from 'node:util'

/**
 * A given/when/then expectation did not hold. It carries `actual` and `expected` (and
 * `showDiff`), which vitest and mocha print as a diff; in other runners the message itself holds
 * both values.
 */
export class SpecAssertionError extends Error {
  readonly showDiff: boolean
  readonly operator = 'strictEqual'

  constructor(
    message: string,
    readonly actual: unknown,
    readonly expected: unknown,
    options?: ErrorOptions & { showDiff?: boolean },
  ) {
    // Vitest diffs `actual` and `expected` itself, which makes the dump below noise there.
    const runnerDiffs = process.env.VITEST !== undefined
    super(
      runnerDiffs || options?.showDiff === false
        ? message
        : `${message}\n\nexpected: ${show(expected)}\n  actual: ${show(actual)}`,
      options,
    )
    this.name = 'SpecAssertionError'
    this.showDiff = options?.showDiff ?? true
  }
}

function show(value: unknown): string {
  return inspect(value, { depth: 8, breakLength: 100, sorted: true })
}
