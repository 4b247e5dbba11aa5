import { ConfigError, InvalidArgumentError } from '../errors.js'

/**
 * Refuses keys that are not options: a typo (`maxAttempt`) or an option of another call
 * (`concurrency` given to a group) would otherwise be ignored silently.
 * @throws ConfigError (or `errorClass`, for arguments) naming the key, with a hint where it
 *   belongs or what was meant.
 */
export function checkKnownKeys(
  options: object,
  known: readonly string[],
  what: string,
  elsewhere: Readonly<Record<string, string>> = {},
  prefix = '',
  errorClass: typeof ConfigError | typeof InvalidArgumentError = ConfigError,
): void {
  for (const key of Object.keys(options)) {
    if (known.includes(key)) continue
    const value = (options as Record<string, unknown>)[key]
    const hint = Object.hasOwn(elsewhere, key) ? elsewhere[key] : undefined
    if (hint !== undefined) throw new errorClass(`${prefix}${key}`, value, hint)
    const near = closest(key, known)
    throw new errorClass(
      `${prefix}${key}`,
      value,
      `is not ${what}${near === undefined ? '' : ` (did you mean ${near}?)`}; known: ${known.join(', ')}`,
    )
  }
}

/** The known key closest to a misspelt one (case-insensitive, at most 2 edits), if any. */
function closest(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined
  let bestDistance = 3
  for (const candidate of known) {
    const d = editDistance(key.toLowerCase(), candidate.toLowerCase())
    if (d < bestDistance) {
      best = candidate
      bestDistance = d
    }
  }
  return best
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(
        previous[j]! + 1,
        current[j - 1]! + 1,
        previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      )
    }
    previous = current
  }
  return previous[b.length]!
}

/**
 * The option names of an options type, listed once: the compiler refuses a list that misses a
 * key of `T` or names one it does not have, so the runtime check below cannot drift from the type.
 */
export function optionKeys<T extends object>(keys: { readonly [K in keyof Required<T>]: true }) {
  return Object.keys(keys) as unknown as ReadonlyArray<keyof T & string>
}

/**
 * The check every options object of the API goes through (consumer options use checkKnownKeys
 * directly for their nested parts): undefined, or a plain object whose keys are all known. A
 * typo or an option of another call is refused with what was meant, never ignored.
 * @throws InvalidArgumentError (or ConfigError, as `errorClass`) naming the key or the value.
 */
export function checkOptions<T extends object>(
  options: T | undefined,
  known: ReadonlyArray<keyof T & string>,
  what: string,
  {
    elsewhere = {},
    errorClass = InvalidArgumentError,
    argument = 'options',
  }: {
    readonly elsewhere?: Readonly<Record<string, string>>
    readonly errorClass?: typeof ConfigError | typeof InvalidArgumentError
    readonly argument?: string
  } = {},
): T | undefined {
  if (options === undefined) return undefined
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new errorClass(argument, options, 'must be an object')
  }
  checkKnownKeys(
    options,
    known,
    what,
    elsewhere,
    argument === 'options' ? '' : `${argument}.`,
    errorClass,
  )
  return options
}
