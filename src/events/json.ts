/**
 * Turns event data or metadata into the JSON text stored as jsonb, refusing what JSON would
 * silently change (NaN, Map, undefined at the top) and what jsonb refuses (\u0000), with the path
 * of the offending value.
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

export function toJsonText(value: unknown, rootPath: string): string {
  if (value === undefined)
    throw new JsonShapeError(rootPath, 'is required (undefined is not JSON)', value)
  check(value, rootPath, [])
  return JSON.stringify(value)
}

function check(value: unknown, path: string, ancestors: object[]): void {
  switch (typeof value) {
    case 'string':
      if (value.includes('\u0000')) {
        throw new JsonShapeError(path, 'contains \\u0000, which Postgres jsonb cannot store', value)
      }
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
      if (key.includes('\u0000')) {
        throw new JsonShapeError(
          childPath,
          'key contains \\u0000, which Postgres jsonb cannot store',
          key,
        )
      }
      check((object as Record<string, unknown>)[key], childPath, ancestors)
    }
  }
  ancestors.pop()
}
