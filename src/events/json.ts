import { describeText } from '../errors.js'
/**
 * Turns event data or metadata into the JSON text stored as jsonb, refusing what JSON would
 * silently change (NaN, Map, undefined at the top) and what jsonb refuses (\u0000, lone UTF-16
 * surrogates), with the path of the offending value.
 */
export class JsonShapeError extends Error {
  constructor(
    readonly path: string,
    readonly reason: string,
    readonly value: unknown,
  ) {
    super(`${path}: ${reason}`)
  }
}

const isWellFormed = (String.prototype as { isWellFormed?: (this: string) => boolean }).isWellFormed
// With the u flag a regex reads surrogate pairs as one code point: \p{Surrogate} only matches
// lone halves.
const LONE_SURROGATE = /\p{Surrogate}/u

/**
 * Describes the first lone UTF-16 surrogate in `text`, or returns undefined when there is none.
 * UTF-8 cannot carry a lone surrogate: Postgres refuses it in jsonb, and the driver turns it into
 * U+FFFD in text, so such a string would not be stored as given.
 */
export function loneSurrogate(text: string): string | undefined {
  if (isWellFormed !== undefined ? isWellFormed.call(text) : !LONE_SURROGATE.test(text)) {
    return undefined
  }
  const match = LONE_SURROGATE.exec(text)
  if (match === null) return undefined
  const unit = text.charCodeAt(match.index).toString(16)
  return `a lone UTF-16 surrogate (\\u${unit} at index ${match.index})`
}

/**
 * Deepest nesting of objects and arrays accepted. Far beyond what event data needs, and well
 * inside what the JSON serialiser, this check and Postgres' jsonb parser recurse through.
 */
export const MAX_JSON_DEPTH = 1000

export function toJsonText(value: unknown, rootPath: string): string {
  if (value === undefined)
    throw new JsonShapeError(rootPath, 'is required (undefined is not JSON)', value)
  check(value, { root: rootPath, keys: [] }, [])
  return JSON.stringify(value)
}

/**
 * Where the check is: the keys from the root. Turned into text only when an error names it, so
 * a long key or a deep value costs nothing until then.
 */
interface Path {
  readonly root: string
  readonly keys: Array<string | number>
}

function pathText(path: Path): string {
  let out = path.root
  for (const key of path.keys) {
    if (typeof key === 'number') out += `[${key}]`
    else if (/^[A-Za-z_$][\w$]*$/.test(key) && key.length <= 80) out += `.${key}`
    else out += `[${describeText(key)}]`
  }
  return out
}

function fail(path: Path, reason: string, value: unknown): never {
  throw new JsonShapeError(pathText(path), reason, value)
}

function check(value: unknown, path: Path, ancestors: object[]): void {
  switch (typeof value) {
    case 'string':
      checkString(value, path, '')
      return
    case 'number':
      if (!Number.isFinite(value)) fail(path, `${value} is not a JSON number`, value)
      return
    case 'boolean':
      return
    case 'bigint':
      return fail(path, 'BigInt is not JSON-serialisable (store it as a string)', value)
    case 'function':
    case 'symbol':
      return fail(path, `a ${typeof value} is not JSON-serialisable`, value)
    case 'undefined':
      return // dropped from objects, null in arrays: what JSON.stringify does
    case 'object':
      break
  }
  if (value === null) return
  const object = value
  if (ancestors.includes(object)) fail(path, 'is a circular reference', value)
  if (ancestors.length >= MAX_JSON_DEPTH) {
    fail(path, `nests objects and arrays deeper than ${MAX_JSON_DEPTH} levels`, value)
  }
  const toJSON = (object as { toJSON?: unknown }).toJSON
  if (typeof toJSON === 'function') {
    check(toJSON.call(object, ''), path, ancestors)
    return
  }
  ancestors.push(object)
  if (Array.isArray(object)) {
    for (let i = 0; i < object.length; i++) {
      path.keys.push(i)
      check(object[i], path, ancestors)
      path.keys.pop()
    }
  } else {
    const proto: unknown = Object.getPrototypeOf(object)
    if (proto !== Object.prototype && proto !== null) {
      const name = (object as { constructor?: { name?: string } }).constructor?.name ?? 'object'
      fail(path, `a ${name.slice(0, 80)} is not plain JSON (it would be stored as {})`, value)
    }
    for (const key of Object.keys(object)) {
      path.keys.push(key)
      checkString(key, path, 'key ')
      check((object as Record<string, unknown>)[key], path, ancestors)
      path.keys.pop()
    }
  }
  ancestors.pop()
}

function checkString(text: string, path: Path, what: '' | 'key '): void {
  if (text.includes('\u0000')) {
    fail(path, `${what}contains \\u0000, which Postgres jsonb cannot store`, text)
  }
  const surrogate = loneSurrogate(text)
  if (surrogate !== undefined) {
    fail(path, `${what}contains ${surrogate}, which Postgres jsonb cannot store`, text)
  }
}
