import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { richJsonCodec, SnapshotCodecError } from '../../src/index.js'
import { useTestDatabase } from '../support/test-database.js'

const db = useTestDatabase()

const values = fc.anything({
  withBigInt: true,
  withDate: true,
  withMap: true,
  withSet: true,
  withBoxedValues: false,
  withNullPrototype: false,
  withObjectString: true,
  withSparseArray: true,
  withTypedArray: false,
  withUnicodeString: true,
  maxDepth: 4,
})

/** Through Postgres jsonb and back, as a snapshot travels. */
async function throughJsonb(value: unknown): Promise<unknown> {
  const text = JSON.stringify(richJsonCodec.encode(value))
  const [row] = await db.query<{ state: unknown }>('SELECT $1::jsonb AS state', [text])
  return richJsonCodec.decode(row!.state)
}

describe('richJsonCodec', () => {
  it('round-trips any plain value with Date, bigint, Map, Set, undefined, -0 and NaN through jsonb', async () => {
    await fc.assert(
      fc.asyncProperty(values, async (value) => {
        expect(await throughJsonb(value)).toStrictEqual(value)
      }),
      { numRuns: 300 },
    )
  })

  it('keeps the awkward cases: tag-like keys, __proto__, \\u0000 and lone surrogates, invalid dates', async () => {
    const awkward = {
      $strata: 'bigint',
      value: 'not a tag',
      nested: { $strata: { $strata: 1 } },
      ['__proto__']: { polluted: true },
      zero: 'a\u0000b',
      surrogate: 'x\ud800y',
      ['key\u0000']: 1,
      invalid: new Date(NaN),
      negativeZero: -0,
      infinities: [Infinity, -Infinity, NaN],
      holes: [1, , 3], // eslint-disable-line no-sparse-arrays
      mapKeys: new Map<unknown, unknown>([
        [1n, 'bigint key'],
        [new Date(0), 'date key'],
        [{ a: 1 }, 'object key'],
      ]),
    }
    Object.defineProperty(awkward, '__proto__', { value: { polluted: true }, enumerable: true })
    const back = (await throughJsonb(awkward)) as typeof awkward
    expect(back).toStrictEqual(awkward)
    expect(Object.getPrototypeOf(back)).toBe(Object.prototype)
    expect(({} as { polluted?: boolean }).polluted).toBeUndefined()
  })

  it('refuses what it cannot restore, naming the path', () => {
    class Money {
      constructor(readonly cents: number) {}
    }
    const cyclic: Record<string, unknown> = {}
    cyclic.self = cyclic
    const cases: Array<[unknown, RegExp]> = [
      [{ price: new Money(1) }, /state\.price: is an instance of Money/],
      [{ list: [() => 1] }, /state\.list\[0\]: a function cannot be stored/],
      [{ s: Symbol('x') }, /a symbol cannot be stored/],
      [cyclic, /state\.self: is a circular reference/],
      [new Map([['k', new Money(2)]]), /state\.<value 0>: is an instance of Money/],
    ]
    for (const [value, message] of cases) {
      expect(() => richJsonCodec.encode(value)).toThrow(SnapshotCodecError)
      expect(() => richJsonCodec.encode(value)).toThrow(message)
    }
  })

  it('stores plain JSON states as they are', () => {
    const state = { balance: 10, owner: 'Ada', tags: ['a'], nested: { ok: true, none: null } }
    expect(richJsonCodec.encode(state)).toEqual(state)
  })

  it('refuses a stored value with an unknown tag', () => {
    expect(() => richJsonCodec.decode({ $strata: 'Blob', value: 1 })).toThrow(/unknown tag "Blob"/)
  })
})
