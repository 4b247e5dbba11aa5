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

export function toJsonText(value: unknown, rootPath: string): string {
  if (value === undefined)
    throw new JsonShapeError(rootPath, 'is required (undefined is not JSON)', value)
  check(value, rootPath, [])
  return JSON.stringify(value)
}

function check(value: unknown, path: string, ancestors: object[]): void {
  switch (typeof value) {
    case 'string':
      checkString(value, path, '')
      return
    case 'number':
      if (!Number.isFinite(value))
        throw new JsonShapeError(path, `${value} is not a JSON number`, value)
      return
    case 'boolean':
      return
    case 'bigint':
      throw new JsonShapeError(
        path,
        'BigInt is not JSON-serialisable (store it as a string)',
        value,
      )
    case 'function':
    case 'symbol':
      throw new JsonShapeError(path, `a ${typeof value} is not JSON-serialisable`, value)
    case 'undefined':
      return // dropped from objects, null in arrays: what JSON.stringify does
    case 'object':
      break
  }
  if (value === null) return
  const object = value
  if (ancestors.includes(object)) throw new JsonShapeError(path, 'is a circular reference', value)
  const toJSON = (object as { toJSON?: unknown }).toJSON
  if (typeof toJSON === 'function') {
    check(toJSON.call(object, ''), path, ancestors)
    return
  }
  ancestors.push(object)
  if (Array.isArray(object)) {
    for (let i = 0; i < object.length; i++) check(object[i], `${path}[${i}]`, ancestors)
  } else {
    const proto: unknown = Object.getPrototypeOf(object)
    if (proto !== Object.prototype && proto !== null) {
      const name = (object as { constructor?: { name?: string } }).constructor?.name ?? 'object'
      throw new JsonShapeError(
        path,
        `a ${name} is not plain JSON (it would be stored as {})`,
        value,
      )
    }
    for (const key of Object.keys(object)) {
      const childPath = /^[A-Za-z_$][\w$]*$/.test(key)
        ? `${path}.${key}`
        : `${path}[${JSON.stringify(key)}]`
      checkString(key, childPath, 'key ')
      check((object as Record<string, unknown>)[key], childPath, ancestors)
    }
  }
  ancestors.pop()
}

function checkString(text: string, path: string, what: '' | 'key '): void {
  if (text.includes('\u0000')) {
    throw new JsonShapeError(
      path,
      `${what}contains \\u0000, which Postgres jsonb cannot store`,
      text,
    )
  }
  const surrogate = loneSurrogate(text)
  if (surrogate !== undefined) {
    throw new JsonShapeError(
      path,
      `${what}contains ${surrogate}, which Postgres jsonb cannot store`,
      text,
    )
  }
}
