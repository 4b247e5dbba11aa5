import { MAX_JSON_DEPTH } from '../events/index.js'
/**
 * How an aggregate's state is stored in a snapshot (a jsonb column) and read back.
 * `decode(encode(state))` must give a state equal to `state` for every state evolve can produce:
 * snapshots are a cache, and a lossy codec would make loads with a snapshot differ from full
 * replays.
 */
export interface SnapshotCodec<State> {
  /** Turns the state into a JSON value (objects, arrays, strings, finite numbers, booleans, null). */
  encode(state: State): unknown
  /** Turns a stored JSON value back into the state. */
  decode(stored: unknown): State
}

/** Thrown by {@link richJsonCodec} for a value it cannot store faithfully. */
export class SnapshotCodecError extends Error {
  constructor(
    /** Where the value sits, e.g. `state.accounts[2].owner`. */
    readonly path: string,
    reason: string,
  ) {
    super(`${path}: ${reason}`)
    this.name = 'SnapshotCodecError'
  }
}

const TAG = '$strata'
const UNSTORABLE_CHARS = /[\0\p{Cs}]/u
const HOLE = Object.freeze({ [TAG]: 'hole' })

function isHole(value: unknown): boolean {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as Record<string, unknown>)[TAG] === 'hole' &&
    Object.keys(value).length === 1
  )
}

type Tagged = { [TAG]: string; value?: unknown }

/**
 * The default snapshot codec: JSON that keeps what plain JSON would lose or refuse. Date, bigint,
 * Map, Set, undefined, NaN, ±Infinity and -0 survive the round trip, nested anywhere (as Map
 * keys too), and a plain object that happens to have a `$strata` key is escaped. Class instances
 * (other than Date, Map and Set), functions, symbols and cycles are refused with the path of the
 * value: give the aggregate a codec of its own for those.
 */
export const richJsonCodec: SnapshotCodec<unknown> = {
  encode: (state) => encodeValue(state, 'state', []),
  decode: (stored) => decodeValue(stored, 'state'),
}

const MAX_SNAPSHOT_DEPTH = MAX_JSON_DEPTH / 2

function tag(type: string, value?: unknown): Tagged {
  return value === undefined ? { [TAG]: type } : { [TAG]: type, value }
}

function encodeValue(value: unknown, path: string, ancestors: object[]): unknown {
  switch (typeof value) {
    case 'string':
      // jsonb refuses \u0000 and lone surrogates: store those strings as UTF-16 code units.
      return UNSTORABLE_CHARS.test(value) ? tag('string', toCodeUnits(value)) : value
    case 'boolean':
      return value
    case 'number':
      if (Number.isNaN(value)) return tag('number', 'NaN')
      if (value === Infinity) return tag('number', 'Infinity')
      if (value === -Infinity) return tag('number', '-Infinity')
      if (Object.is(value, -0)) return tag('number', '-0')
      return value
    case 'bigint':
      return tag('bigint', value.toString())
    case 'undefined':
      return tag('undefined')
    case 'function':
    case 'symbol':
      throw new SnapshotCodecError(path, `a ${typeof value} cannot be stored in a snapshot`)
    case 'object':
      break
  }
  if (value === null) return null
  if (ancestors.includes(value)) throw new SnapshotCodecError(path, 'is a circular reference')
  // Tags may double the depth of what is stored: half of what jsonb and the checks take.
  if (ancestors.length >= MAX_SNAPSHOT_DEPTH) {
    throw new SnapshotCodecError(path, `nests deeper than ${MAX_SNAPSHOT_DEPTH} levels`)
  }
  ancestors.push(value)
  try {
    if (value instanceof Date) {
      const time = value.getTime()
      return tag('Date', Number.isNaN(time) ? 'Invalid Date' : value.toISOString())
    }
    if (value instanceof Map) {
      return tag(
        'Map',
        [...value].map(([k, v], i) => [
          encodeValue(k, `${path}.<key ${i}>`, ancestors),
          encodeValue(v, `${path}.<value ${i}>`, ancestors),
        ]),
      )
    }
    if (value instanceof Set) {
      return tag(
        'Set',
        [...value].map((v, i) => encodeValue(v, `${path}.<element ${i}>`, ancestors)),
      )
    }
    if (Array.isArray(value)) {
      const out: unknown[] = new Array<unknown>(value.length)
      for (let i = 0; i < value.length; i++) {
        // A hole is not an undefined element: keep sparse arrays sparse.
        out[i] = i in value ? encodeValue(value[i], `${path}[${i}]`, ancestors) : HOLE
      }
      return out
    }
    const proto = Object.getPrototypeOf(value) as object | null
    if (proto !== Object.prototype && proto !== null) {
      const name = (value as { constructor?: { name?: string } }).constructor?.name ?? 'unknown'
      throw new SnapshotCodecError(
        path,
        `is an instance of ${name}; the default codec stores plain objects, arrays, Date, Map, Set and primitives only (give the aggregate a snapshot codec)`,
      )
    }
    const entries = Object.entries(value)
    if (entries.some(([key]) => UNSTORABLE_CHARS.test(key))) {
      return tag(
        'entries',
        entries.map(([key, v]) => [
          encodeValue(key, path, ancestors),
          encodeValue(v, `${path}${formatKey(key)}`, ancestors),
        ]),
      )
    }
    const out: Record<string, unknown> = {}
    for (const [key, v] of entries) {
      defineEntry(out, key, encodeValue(v, `${path}${formatKey(key)}`, ancestors))
    }
    return Object.hasOwn(value, TAG) ? tag('object', out) : out
  } finally {
    ancestors.pop()
  }
}

function decodeValue(stored: unknown, path: string): unknown {
  if (stored === null || typeof stored !== 'object') return stored
  if (Array.isArray(stored)) {
    const out: unknown[] = new Array<unknown>(stored.length)
    for (let i = 0; i < stored.length; i++) {
      const v: unknown = stored[i]
      if (!isHole(v)) out[i] = decodeValue(v, `${path}[${i}]`)
    }
    return out
  }
  const record = stored as Record<string, unknown>
  if (Object.hasOwn(record, TAG)) return decodeTagged(record as Tagged, path)
  return decodeEntries(record, path)
}

function decodeEntries(record: Record<string, unknown>, path: string): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [key, v] of Object.entries(record)) {
    defineEntry(out, key, decodeValue(v, `${path}${formatKey(key)}`))
  }
  return out
}

function decodeTagged(tagged: Tagged, path: string): unknown {
  const { value } = tagged
  switch (tagged[TAG]) {
    case 'undefined':
      return undefined
    case 'string':
      return fromCodeUnits(expectArray(value, path), path)
    case 'number':
      return Number(value)
    case 'bigint':
      return BigInt(expectString(value, path))
    case 'Date':
      return new Date(value === 'Invalid Date' ? NaN : expectString(value, path))
    case 'Map':
      return new Map(
        expectArray(value, path).map((entry, i) => {
          const [k, v] = expectArray(entry, `${path}.<entry ${i}>`)
          return [decodeValue(k, `${path}.<key ${i}>`), decodeValue(v, `${path}.<value ${i}>`)]
        }),
      )
    case 'Set':
      return new Set(expectArray(value, path).map((v, i) => decodeValue(v, `${path}.<${i}>`)))
    case 'entries': {
      const out: Record<string, unknown> = {}
      for (const [i, entry] of expectArray(value, path).entries()) {
        const [k, v] = expectArray(entry, `${path}.<entry ${i}>`)
        const key = decodeValue(k, path)
        if (typeof key !== 'string') throw new SnapshotCodecError(path, 'expected a string key')
        defineEntry(out, key, decodeValue(v, `${path}${formatKey(key)}`))
      }
      return out
    }
    case 'object':
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        throw new SnapshotCodecError(path, 'an escaped object must hold an object')
      }
      return decodeEntries(value as Record<string, unknown>, path)
    default:
      throw new SnapshotCodecError(path, `unknown tag ${JSON.stringify(tagged[TAG])}`)
  }
}

// Assignment would treat a key named __proto__ as the prototype; defineProperty keeps it data.
function defineEntry(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, {
    value,
    enumerable: true,
    writable: true,
    configurable: true,
  })
}

function toCodeUnits(text: string): number[] {
  const units: number[] = new Array<number>(text.length)
  for (let i = 0; i < text.length; i++) units[i] = text.charCodeAt(i)
  return units
}

function fromCodeUnits(units: unknown[], path: string): string {
  let text = ''
  for (const unit of units) {
    if (typeof unit !== 'number') throw new SnapshotCodecError(path, 'expected UTF-16 code units')
    text += String.fromCharCode(unit)
  }
  return text
}

function expectString(value: unknown, path: string): string {
  if (typeof value !== 'string') throw new SnapshotCodecError(path, 'expected a string')
  return value
}

function expectArray(value: unknown, path: string): unknown[] {
  if (!Array.isArray(value)) throw new SnapshotCodecError(path, 'expected an array')
  return value as unknown[]
}

function formatKey(key: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`
}
