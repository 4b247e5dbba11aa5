import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  ConfigError,
  createEventStore,
  EventSerializationError,
  InvalidArgumentError,
  InvalidStreamIdError,
  isStrataError,
  type EventStore,
  type EventStoreOptions,
} from '../../src/index.js'
import { prepareAppends, prepareEvents, type PreparedEvents } from '../../src/store/validate.js'
import { EventTypes } from '../../src/events/registry.js'
import { aStreamId } from '../support/factories.js'
import { useTestDatabase } from '../support/test-database.js'

/**
 * Edge cases of bad input: sparse arrays, lone UTF-16 surrogates, characters outside the BMP,
 * bytes counted as UTF-8, positions beyond int8, and the per-call limits of appendToStreams.
 * Each is refused with a typed error naming the value, before any SQL, and writes nothing.
 */

const db = useTestDatabase()
let store: EventStore
let small: EventStore

beforeAll(async () => {
  store = await db.store({ maxEventsPerAppend: 50 })
  small = await db.store({ maxAppendBytes: 1000 })
})

/**
 * A store whose pool fails (and counts) every query: a call refused by validation never touches
 * it, so `sql()` stays 0.
 */
function storeWithoutSql(options: EventStoreOptions = {}) {
  const pool = new pg.Pool({ connectionString: db.url })
  let calls = 0
  const refuse = () => {
    calls++
    return Promise.reject(new Error('SQL was attempted'))
  }
  Object.assign(pool, { connect: refuse, query: refuse })
  const noSql = createEventStore({ pool }, { ...options, migrate: 'off' })
  return { store: noSql, sql: () => calls, close: () => noSql.close() }
}

const guarded = storeWithoutSql({ maxEventsPerAppend: 50, maxAppendBytes: 1000 })
afterAll(() => guarded.close())

async function totalEvents(): Promise<number> {
  const rows = await db.query<{ count: string }>('SELECT count(*) FROM strata.events')
  return Number(rows[0]!.count)
}

type ErrorClass = abstract new (...args: never[]) => Error

/**
 * Runs `call` on the store without SQL (it must throw `kind` naming `named`, with no query
 * attempted), then on the real store (same error, nothing written).
 */
async function refused(
  call: (s: EventStore) => Promise<unknown>,
  kind: ErrorClass,
  named: string,
  on: EventStore = store,
): Promise<Error> {
  const before = guarded.sql()
  const early = await call(guarded.store).then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(early).toBeInstanceOf(kind)
  expect(guarded.sql()).toBe(before)

  const countBefore = await totalEvents()
  const error = await call(on).then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(error).toBeInstanceOf(kind)
  expect(isStrataError(error)).toBe(true)
  expect((error as Error).message).toContain(named)
  expect(await totalEvents()).toBe(countBefore)
  return error as Error
}

const ev = { type: 'T', data: { a: 1 } }

/** An array of `length` with holes everywhere but at the given indexes. */
function sparse(length: number, at: Record<number, unknown>): never {
  const array: unknown[] = new Array<unknown>(length)
  for (const [index, value] of Object.entries(at)) array[Number(index)] = value
  return array as never
}

describe('sparse events arrays', () => {
  it('a hole or a missing element is refused, naming its index', async () => {
    const id = aStreamId()
    const e1 = await refused(
      (s) => s.appendToStream(id, new Array(2)),
      InvalidArgumentError,
      'events[0]',
    )
    expect(e1).toMatchObject({ argument: 'events[0]' })
    expect(e1.message).toContain('hole')
    const e2 = await refused(
      (s) => s.appendToStream(id, sparse(2, { 1: ev })),
      InvalidArgumentError,
      'events[0]',
    )
    expect(e2).toMatchObject({ argument: 'events[0]' })
    await refused(
      (s) => s.appendToStream(id, sparse(3, { 0: ev, 2: ev })),
      InvalidArgumentError,
      'events[1]',
    )
    await refused(
      (s) => s.appendToStream(id, [ev, undefined] as never),
      InvalidArgumentError,
      'events[1]',
    )
    await refused(
      (s) => s.appendToStream(id, [ev, null] as never),
      InvalidArgumentError,
      'events[1]',
    )
    expect(await store.readStream(id)).toEqual([])
    expect((await store.getStreamInfo(id)).version).toBe(0n)
  })

  it('holes inside an entry of appendToStreams are refused too', async () => {
    const a = aStreamId()
    const b = aStreamId()
    await refused(
      (s) =>
        s.appendToStreams([
          { streamId: a, events: [ev] },
          { streamId: b, events: sparse(3, { 0: ev, 2: ev }) },
        ]),
      InvalidArgumentError,
      'events[1]',
    )
    expect(await store.readStream(a)).toEqual([])
  })
})

describe('lone UTF-16 surrogates (UTF-8, and so Postgres, cannot carry them)', () => {
  it('in data and metadata values and keys: EventSerializationError naming the path', async () => {
    const id = aStreamId()
    const e1 = await refused(
      (s) => s.appendToStream(id, [ev, { type: 'T', data: { s: 'a\ud800b' } }]),
      EventSerializationError,
      'surrogate',
    )
    expect(e1).toMatchObject({ path: 'data.s', eventType: 'T', value: 'a\ud800b' })
    expect(e1.message).toContain('\\ud800')
    const e2 = await refused(
      (s) => s.appendToStream(id, [{ type: 'T', data: { list: ['ok', 'x\udc00'] } }]),
      EventSerializationError,
      'surrogate',
    )
    expect(e2).toMatchObject({ path: 'data.list[1]' })
    const e3 = await refused(
      (s) => s.appendToStream(id, [{ type: 'T', data: { ['k\udbff']: 1 } }]),
      EventSerializationError,
      'key contains a lone UTF-16 surrogate',
    )
    expect(e3).toMatchObject({ value: 'k\udbff' })
    const e4 = await refused(
      (s) => s.appendToStream(id, [{ type: 'T', data: {}, metadata: { trace: '\ud83d' } }]),
      EventSerializationError,
      'metadata.trace',
    )
    expect(e4.message).toContain('surrogate')
    await refused(
      (s) => s.appendToStream(id, [{ type: 'T', data: {}, metadata: { correlationId: '\udfff' } }]),
      EventSerializationError,
      'metadata.correlationId',
    )
    // A surrogate pair (an emoji) is well-formed and round-trips.
    await store.appendToStream(id, [{ type: 'T', data: { s: 'a😀b', ['😀']: '\u{10ffff}' } }])
    const [stored] = await store.readStream(id)
    expect(stored!.data).toEqual({ s: 'a😀b', ['😀']: '\u{10ffff}' })
  })

  it('in stream ids and event types: refused instead of stored as U+FFFD', async () => {
    const e1 = await refused(
      (s) => s.appendToStream('order-\ud800', [ev]),
      InvalidStreamIdError,
      'surrogate',
    )
    expect(e1).toMatchObject({ argument: 'stream id', value: 'order-\ud800' })
    await refused((s) => s.readStream('order-\udc00x'), InvalidStreamIdError, 'surrogate')
    const e2 = await refused(
      (s) => s.appendToStream(aStreamId(), [{ type: 'T\ud800', data: {} }]),
      InvalidArgumentError,
      'events[0].type',
    )
    expect(e2.message).toContain('surrogate')
    const rows = await db.query("SELECT 1 FROM strata.events WHERE stream_id LIKE '%\uFFFD%'")
    expect(rows).toEqual([])
  })

  it('in readAll filters', async () => {
    const calls = [
      () => store.readAll({ filter: { category: 'a\ud800' } }),
      () => store.readAll({ filter: { streamIdPrefix: '\udc00' } }),
      () => store.readAll({ filter: { eventTypes: ['ok', 'T\ud800'] } }),
      () => store.readAll({ filter: { category: 'a\u0000' } }),
      () => store.readAll({ filter: { eventTypes: sparse(2, { 1: 'T' }) } }),
    ]
    for (const call of calls) await expect(call()).rejects.toBeInstanceOf(InvalidArgumentError)
  })
})

describe('lengths in characters (code points), sizes in UTF-8 bytes', () => {
  it('stream ids of up to 512 characters outside the BMP are stored verbatim', async () => {
    for (const id of ['😀'.repeat(300), '😀'.repeat(512), `a-${'\u{10ffff}'.repeat(510)}`]) {
      const result = await store.appendToStream(id, [ev])
      expect(result.streamId).toBe(id)
      const [event] = await store.readStream(id)
      expect(event!.streamId).toBe(id)
      expect((await store.getStreamInfo(id)).version).toBe(1n)
      // The streams table's primary key (a btree) takes the longest ids too.
      await store.setStreamMetadata(id, { maxCount: 10 })
    }
    const rows = await db.query<{ chars: number; bytes: number }>(
      'SELECT char_length(stream_id) AS chars, octet_length(stream_id) AS bytes FROM strata.events WHERE stream_id = $1',
      ['😀'.repeat(512)],
    )
    expect(rows).toEqual([{ chars: 512, bytes: 2048 }])
    const e = await refused(
      (s) => s.appendToStream('😀'.repeat(513), [ev]),
      InvalidStreamIdError,
      'longer than 512 characters',
    )
    expect(e).toMatchObject({ value: '😀'.repeat(513) })
    await refused(
      (s) => s.appendToStream(`${'x'.repeat(512)}😀`, [ev]),
      InvalidStreamIdError,
      'longer than 512 characters',
    )
  })

  it('event types count characters too', async () => {
    const id = aStreamId()
    await store.appendToStream(id, [{ type: '😀'.repeat(256), data: {} }])
    expect((await store.readStream(id))[0]!.type).toBe('😀'.repeat(256))
    await refused(
      (s) => s.appendToStream(id, [{ type: '😀'.repeat(257), data: {} }]),
      InvalidArgumentError,
      'longer than 256 characters',
    )
  })

  it('maxAppendBytes counts the UTF-8 bytes of the JSON', async () => {
    const id = aStreamId()
    // {"s":"é…"} is 8 bytes + 2 per é, and metadata {} is 2: 700 é make 1,410 bytes.
    const e = await refused(
      (s) => s.appendToStream(id, [{ type: 'T', data: { s: 'é'.repeat(700) } }]),
      InvalidArgumentError,
      '1410 bytes',
      small,
    )
    expect(e.message).toContain('at most 1000')
    // 495 é: exactly 1,000 bytes, accepted; 496: 1,002, refused.
    await expect(
      small.appendToStream(id, [{ type: 'T', data: { s: 'é'.repeat(495) } }]),
    ).resolves.toMatchObject({ nextExpectedVersion: 1n })
    await refused(
      (s) => s.appendToStream(id, [{ type: 'T', data: { s: 'é'.repeat(496) } }]),
      InvalidArgumentError,
      '1002 bytes',
      small,
    )
    // Four bytes per emoji (two UTF-16 units): 248 of them make 8 + 992 + 2 = 1,002 bytes.
    await refused(
      (s) => s.appendToStream(id, [{ type: 'T', data: { s: '😀'.repeat(248) } }]),
      InvalidArgumentError,
      '1002 bytes',
      small,
    )
  })
})

describe('positions and versions beyond int8', () => {
  const MAX = 9223372036854775807n

  it('readStream from and readAll after above 9223372036854775807n are refused', async () => {
    for (const from of [2n ** 64n, MAX + 1n]) {
      const e = await refused(
        (s) => s.readStream(aStreamId(), { from }),
        InvalidArgumentError,
        `${from}n`,
      )
      expect(e).toMatchObject({ argument: 'from', value: from })
      await refused(
        (s) => s.readStream(aStreamId(), { from, direction: 'backward' }),
        InvalidArgumentError,
        'from',
      )
      const e2 = await refused((s) => s.readAll({ after: from }), InvalidArgumentError, `${from}n`)
      expect(e2).toMatchObject({ argument: 'after', value: from })
    }
  })

  it('the int8 maximum itself is fine', async () => {
    const id = aStreamId()
    await store.appendToStream(id, [ev])
    expect(await store.readStream(id, { from: MAX })).toEqual([])
    expect(await store.readStream(id, { from: MAX, direction: 'backward' })).toHaveLength(1)
    await expect(store.readAll({ after: MAX })).resolves.toMatchObject({ events: [] })
  })
})

describe('appendToStreams: limits per call, entries checked by index', () => {
  const registry = new EventTypes(undefined, undefined)
  const limits = { maxEventsPerAppend: 50, maxAppendBytes: 1000 }
  const prepare = (entry: { events: unknown }) => ({
    events: prepareEvents(entry.events, registry, limits),
  })
  const many = (n: number) => Array.from({ length: n }, () => ev)

  it('prepareAppends counts events and bytes over all entries', () => {
    expect(
      prepareAppends([{ streamId: 'a', events: many(25) }, { events: many(25) }], limits, prepare),
    ).toHaveLength(2)
    let prepared = 0
    const counting = (entry: { events: unknown }) => {
      prepared++
      return prepare(entry)
    }
    expect(() =>
      prepareAppends([{ events: many(30) }, { events: many(30) }], limits, counting),
    ).toThrow(/hold 60 events in all; one call takes at most 50/)
    expect(prepared).toBe(0) // refused before serialising anything
    const half = { type: 'T', data: { s: 'é'.repeat(300) } } // 610 bytes
    expect(() => prepareAppends([{ events: [half] }, { events: [half] }], limits, prepare)).toThrow(
      /1220 bytes/,
    )
    expect(() => prepareAppends([{ events: [half] }], limits, prepare)).not.toThrow()
  })

  it('prepareAppends refuses holes, non-objects and empty arrays naming the index', () => {
    expect(() => prepareAppends(sparse(2, { 1: { events: [ev] } }), limits, prepare)).toThrow(
      expect.objectContaining({ argument: 'appends[0]', reason: expect.stringContaining('hole') }),
    )
    expect(() => prepareAppends([{ events: [ev] }, null], limits, prepare)).toThrow(
      expect.objectContaining({ argument: 'appends[1]' }),
    )
    expect(() => prepareAppends([], limits, prepare)).toThrow(InvalidArgumentError)
    expect(() => prepareAppends('x', limits, prepare)).toThrow(InvalidArgumentError)
    const result: Array<{ events: PreparedEvents }> = prepareAppends(
      [{ events: [ev] }, { events: [ev, ev] }],
      limits,
      prepare,
    )
    expect(result.map((r) => r.events.ids.length)).toEqual([1, 2])
  })

  // Needs appendToStreams (src/store/event-store.ts) to validate with prepareAppends.
  it('the store applies maxEventsPerAppend and maxAppendBytes to the whole call', async () => {
    const a = aStreamId()
    const b = aStreamId()
    await refused(
      (s) =>
        s.appendToStreams([
          { streamId: a, events: many(30) },
          { streamId: b, events: many(30) },
        ]),
      InvalidArgumentError,
      'hold 60 events in all',
    )
    const big = { type: 'T', data: { s: 'é'.repeat(300) } }
    await refused(
      (s) =>
        s.appendToStreams([
          { streamId: a, events: [big] },
          { streamId: b, events: [big] },
        ]),
      InvalidArgumentError,
      '1220 bytes',
      small,
    )
    await refused(
      (s) =>
        s.appendToStreams(
          sparse(3, { 0: { streamId: a, events: [ev] }, 2: { streamId: b, events: [ev] } }),
        ),
      InvalidArgumentError,
      'appends[1]',
    )
    await expect(
      store.appendToStreams([
        { streamId: a, events: many(25) },
        { streamId: b, events: many(25) },
      ]),
    ).resolves.toHaveLength(2)
  })
})

describe('Dates before Postgres’s earliest timestamp (4714 BC)', () => {
  const tooEarly = new Date(Date.UTC(-4713, 10, 23, 23, 59, 59, 999))
  const earliest = new Date(Date.UTC(-4713, 10, 24))

  it('are refused with a typed error naming the option, before any SQL', async () => {
    const category = `early${Date.now()}`
    await refused(
      async (s) =>
        s
          .consumerGroup(`early-${category}`, { source: { category }, startFrom: tooEarly })
          .ensure(),
      ConfigError,
      'startFrom',
    )
    await refused(
      async (s) =>
        s.consumerGroup(`reset-${category}`, { source: { category } }).reset({ time: tooEarly }),
      InvalidArgumentError,
      'to.time',
    )
    await refused(
      (s) => Promise.resolve().then(() => s.subscribeToAll({ from: tooEarly })),
      InvalidArgumentError,
      'from',
    )
    await refused(
      async (s) => s.resetProjection('early', { version: 1, from: tooEarly }),
      InvalidArgumentError,
      'from',
    )
  })

  it('the earliest one is a valid start', async () => {
    const category = `earliest${Date.now()}`
    const group = store.consumerGroup(`earliest-${category}`, {
      source: { category },
      startFrom: earliest,
    })
    await group.ensure()
    expect((await group.status()).name).toBe(group.name)
  })
})
