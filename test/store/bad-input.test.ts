import { beforeAll, describe, expect, it } from 'vitest'
import {
  ConfigError,
  createEventStore,
  EventSerializationError,
  InvalidArgumentError,
  InvalidExpectedVersionError,
  InvalidStreamIdError,
  isStrataError,
  StoreClosedError,
  type EventStore,
} from '../../src/index.js'
import { aStreamId } from '../support/factories.js'
import { useTestDatabase } from '../support/test-database.js'

const db = useTestDatabase()
let store: EventStore

beforeAll(async () => {
  store = await db.store({ maxEventsPerAppend: 50 })
})

async function totalEvents(): Promise<number> {
  const rows = await db.query<{ count: string }>('SELECT count(*) FROM strata.events')
  return Number(rows[0]!.count)
}

/** Runs a bad call and checks it throws `kind` naming `named`, with nothing written. */
async function refused(
  call: () => Promise<unknown>,
  kind: abstract new (...args: never[]) => Error,
  named?: string,
) {
  const before = await totalEvents()
  const error = await call().then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(error).toBeInstanceOf(kind)
  expect(isStrataError(error)).toBe(true)
  if (named !== undefined) expect((error as Error).message).toContain(named)
  expect(await totalEvents()).toBe(before)
  return error as Error
}

const ok = [{ type: 'T', data: { a: 1 } }]

describe('bad input gets a typed error naming the value, before any SQL', () => {
  it('stream ids: empty, over-long, control characters, not a string', async () => {
    await refused(() => store.appendToStream('', ok), InvalidStreamIdError, '""')
    const long = 'x'.repeat(513)
    const error = await refused(
      () => store.appendToStream(long, ok),
      InvalidStreamIdError,
      '513 characters',
    )
    expect(error).toMatchObject({ argument: 'stream id', value: long })
    await refused(() => store.appendToStream('a\nb', ok), InvalidStreamIdError, 'control character')
    await refused(
      () => store.appendToStream('a\u0000b', ok),
      InvalidStreamIdError,
      'control character',
    )
    await refused(() => store.appendToStream(' padded', ok), InvalidStreamIdError, 'whitespace')
    await refused(
      () => store.appendToStream(42 as unknown as string, ok),
      InvalidStreamIdError,
      '42',
    )
    await refused(() => store.readStream(''), InvalidStreamIdError)
    // 512 characters is still fine.
    await expect(store.appendToStream('y'.repeat(512), ok)).resolves.toBeDefined()
  })

  it('data that JSON cannot carry faithfully: BigInt, cycles, functions, NaN, Map', async () => {
    const id = aStreamId()
    const e1 = await refused(
      () => store.appendToStream(id, [{ type: 'T', data: { amount: 10n } }]),
      EventSerializationError,
      'BigInt',
    )
    expect(e1).toMatchObject({ path: 'data.amount', eventType: 'T' })
    const cyclic: Record<string, unknown> = { a: 1 }
    cyclic.self = cyclic
    await refused(
      () => store.appendToStream(id, [{ type: 'T', data: cyclic }]),
      EventSerializationError,
      'circular',
    )
    await refused(
      () => store.appendToStream(id, [{ type: 'T', data: { f: () => 1 } }]),
      EventSerializationError,
      'function',
    )
    await refused(
      () => store.appendToStream(id, [{ type: 'T', data: { n: Number.NaN } }]),
      EventSerializationError,
      'NaN',
    )
    await refused(
      () => store.appendToStream(id, [{ type: 'T', data: { m: new Map([[1, 2]]) } }]),
      EventSerializationError,
      'Map',
    )
    await refused(
      () => store.appendToStream(id, [{ type: 'T', data: undefined }]),
      EventSerializationError,
      'undefined',
    )
    await refused(
      () => store.appendToStream(id, [{ type: 'T', data: { ok: 1 }, metadata: { trace: 1n } }]),
      EventSerializationError,
      'metadata.trace',
    )
  })

  it('strings and keys jsonb refuses (\\u0000)', async () => {
    const id = aStreamId()
    const e = await refused(
      () =>
        store.appendToStream(id, [ok[0]!, { type: 'T', data: { items: [{ name: 'a\u0000b' }] } }]),
      EventSerializationError,
      '\\u0000',
    )
    expect(e).toMatchObject({ path: 'data.items[0].name' })
    await refused(
      () => store.appendToStream(id, [{ type: 'T', data: { 'k\u0000': 1 } }]),
      EventSerializationError,
      '\\u0000',
    )
    // The escaped text "\\u0000" (a backslash, not NUL) is fine.
    await expect(
      store.appendToStream(id, [{ type: 'T', data: { s: '\\u0000' } }]),
    ).resolves.toBeDefined()
  })

  it('unknown expectedVersion values', async () => {
    const id = aStreamId()
    for (const bad of ['latest', -1n, 3, null, {}, 'ANY']) {
      const error = await refused(
        () => store.appendToStream(id, ok, { expectedVersion: bad as never }),
        InvalidExpectedVersionError,
        'expectedVersion',
      )
      expect(error).toMatchObject({ value: bad })
    }
  })

  it('events arrays that are empty, huge or not arrays; events without a type', async () => {
    const id = aStreamId()
    await refused(() => store.appendToStream(id, []), InvalidArgumentError, 'must not be empty')
    const huge = Array.from({ length: 51 }, () => ok[0]!)
    await refused(() => store.appendToStream(id, huge), InvalidArgumentError, 'at most 50')
    await refused(() => store.appendToStream(id, 'events' as never), InvalidArgumentError, 'array')
    await refused(
      () => store.appendToStream(id, [{ data: {} } as never]),
      InvalidArgumentError,
      'events[0].type',
    )
    await refused(
      () => store.appendToStream(id, [{ type: '', data: {} }]),
      InvalidArgumentError,
      'events[0].type',
    )
    await refused(
      () => store.appendToStream(id, [{ type: 'x'.repeat(300), data: {} }]),
      InvalidArgumentError,
      'type',
    )
    await refused(
      () => store.appendToStream(id, [{ type: 'T', data: {}, id: 'not-a-uuid' }]),
      InvalidArgumentError,
      'uuid',
    )
    const same = '7d444840-9dc0-11d1-b245-5ffdce74fad2'
    await refused(
      () =>
        store.appendToStream(id, [
          { type: 'T', data: {}, id: same },
          { type: 'T', data: {}, id: same },
        ]),
      InvalidArgumentError,
      'twice',
    )
    await refused(
      () =>
        store.appendToStream(id, [
          { type: 'T', data: {}, metadata: { correlationId: 7 } as never },
        ]),
      EventSerializationError,
      'correlationId',
    )
  })

  it('appendToStreams checks every entry before writing any', async () => {
    const a = aStreamId()
    await refused(
      () =>
        store.appendToStreams([
          { streamId: a, events: ok },
          { streamId: '', events: ok },
        ]),
      InvalidStreamIdError,
    )
    await refused(() => store.appendToStreams([]), InvalidArgumentError)
  })

  it('read options', async () => {
    await expect(store.readStream(aStreamId(), { limit: 0 })).rejects.toBeInstanceOf(
      InvalidArgumentError,
    )
    await expect(
      store.readStream(aStreamId(), { direction: 'sideways' as never }),
    ).rejects.toBeInstanceOf(InvalidArgumentError)
    await expect(store.readStream(aStreamId(), { from: -1n })).rejects.toBeInstanceOf(
      InvalidArgumentError,
    )
    await expect(store.readAll({ after: 5 as never })).rejects.toBeInstanceOf(InvalidArgumentError)
    await expect(store.readAll({ limit: -3 })).rejects.toBeInstanceOf(InvalidArgumentError)
    await expect(store.readAll({ filter: { category: '' } })).rejects.toBeInstanceOf(
      InvalidArgumentError,
    )
  })

  it('configuration: schema names, connection', () => {
    for (const schema of ['Strata', '1abc', 'a-b', 'x'.repeat(64), 'pg_things', 'a;drop']) {
      expect(() => createEventStore({ connectionString: db.url }, { schema })).toThrow(ConfigError)
    }
    expect(() => createEventStore({} as never)).toThrow(ConfigError)
  })

  it('a closed store refuses calls', async () => {
    const closed = createEventStore({ connectionString: db.url })
    await closed.close()
    await expect(closed.appendToStream(aStreamId(), ok)).rejects.toBeInstanceOf(StoreClosedError)
    await closed.close() // idempotent
  })
})
