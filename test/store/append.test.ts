import { randomUUID } from 'node:crypto'
import { Kysely, PostgresDialect } from 'kysely'
import pg from 'pg'
import { beforeAll, describe, expect, it } from 'vitest'
import { z } from 'zod'
import {
  DuplicateEventError,
  EventValidationError,
  UnknownEventTypeError,
  WrongExpectedVersionError,
  type EventStore,
} from '../../src/index.js'
import { aStreamId } from '../support/factories.js'
import { useTestDatabase } from '../support/test-database.js'

const db = useTestDatabase()
let store: EventStore

beforeAll(async () => {
  store = await db.store()
})

const event = (n: number) => ({ type: 'Counted' as const, data: { n } })

async function countEvents(streamId: string): Promise<number> {
  const rows = await db.query<{ count: string }>(
    'SELECT count(*) FROM strata.events WHERE stream_id = $1',
    [streamId],
  )
  return Number(rows[0]!.count)
}

describe('appendToStream', () => {
  it('writes the first event at version 1 and returns the next expected version and position', async () => {
    const id = aStreamId()
    const result = await store.appendToStream(id, [event(1)])
    expect(result.streamId).toBe(id)
    expect(result.nextExpectedVersion).toBe(1n)
    expect(typeof result.position).toBe('bigint')
    const [stored] = await store.readStream(id)
    expect(stored).toMatchObject({
      streamId: id,
      version: 1n,
      position: result.position,
      type: 'Counted',
      data: { n: 1 },
    })
  })

  it('writes all events of one call with consecutive versions and increasing positions', async () => {
    const id = aStreamId()
    await store.appendToStream(id, [event(0)])
    const result = await store.appendToStream(id, [event(1), event(2), event(3)])
    expect(result.nextExpectedVersion).toBe(4n)
    const events = await store.readStream(id)
    expect(events.map((e) => e.version)).toEqual([1n, 2n, 3n, 4n])
    for (let i = 1; i < events.length; i++)
      expect(events[i]!.position).toBeGreaterThan(events[i - 1]!.position)
    expect(events[3]!.position).toBe(result.position)
  })

  it('generates a uuid for events without an id and keeps supplied ids', async () => {
    const id = aStreamId()
    const supplied = randomUUID()
    await store.appendToStream(id, [event(1), { ...event(2), id: supplied }])
    const events = await store.readStream(id)
    expect(events[0]!.id).toMatch(/^[0-9a-f-]{36}$/)
    expect(events[1]!.id).toBe(supplied)
  })

  describe('expected version', () => {
    it("'any' appends to new and existing streams", async () => {
      const id = aStreamId()
      await store.appendToStream(id, [event(1)], { expectedVersion: 'any' })
      const r = await store.appendToStream(id, [event(2)], { expectedVersion: 'any' })
      expect(r.nextExpectedVersion).toBe(2n)
    })

    it("'no_stream' accepts a new stream and refuses an existing one", async () => {
      const id = aStreamId()
      await store.appendToStream(id, [event(1)], { expectedVersion: 'no_stream' })
      const error = await store
        .appendToStream(id, [event(2)], { expectedVersion: 'no_stream' })
        .catch((e: unknown) => e)
      expect(error).toBeInstanceOf(WrongExpectedVersionError)
      expect(error).toMatchObject({
        streamId: id,
        expected: 'no_stream',
        actual: 1n,
        code: 'WRONG_EXPECTED_VERSION',
      })
      expect(await countEvents(id)).toBe(1)
    })

    it("'stream_exists' refuses a new stream and accepts an existing one", async () => {
      const id = aStreamId()
      await expect(
        store.appendToStream(id, [event(1)], { expectedVersion: 'stream_exists' }),
      ).rejects.toMatchObject({
        name: 'WrongExpectedVersionError',
        expected: 'stream_exists',
        actual: 0n,
      })
      expect(await countEvents(id)).toBe(0)
      await store.appendToStream(id, [event(1)])
      const r = await store.appendToStream(id, [event(2)], { expectedVersion: 'stream_exists' })
      expect(r.nextExpectedVersion).toBe(2n)
    })

    it('an exact version must match; 0n means no stream', async () => {
      const id = aStreamId()
      await store.appendToStream(id, [event(1)], { expectedVersion: 0n })
      await store.appendToStream(id, [event(2)], { expectedVersion: 1n })
      for (const wrong of [0n, 1n, 3n, 100n]) {
        const error = await store
          .appendToStream(id, [event(9)], { expectedVersion: wrong })
          .catch((e: unknown) => e)
        expect(error).toBeInstanceOf(WrongExpectedVersionError)
        expect(error).toMatchObject({ streamId: id, expected: wrong, actual: 2n })
        expect((error as Error).message).toContain(id)
      }
      expect(await countEvents(id)).toBe(2)
      const r = await store.appendToStream(id, [event(3)], { expectedVersion: 2n })
      expect(r.nextExpectedVersion).toBe(3n)
    })

    it('an exact version on a stream that does not exist fails with actual 0n', async () => {
      const id = aStreamId()
      await expect(
        store.appendToStream(id, [event(1)], { expectedVersion: 5n }),
      ).rejects.toMatchObject({
        name: 'WrongExpectedVersionError',
        actual: 0n,
      })
    })

    it('of N concurrent appends at the same expected version exactly one wins', async () => {
      const id = aStreamId()
      await store.appendToStream(id, [event(0)])
      const attempts = await Promise.allSettled(
        Array.from({ length: 24 }, (_, i) =>
          store.appendToStream(id, [event(i)], { expectedVersion: 1n }),
        ),
      )
      const won = attempts.filter((a) => a.status === 'fulfilled')
      const lost = attempts.filter((a) => a.status === 'rejected')
      expect(won).toHaveLength(1)
      for (const a of lost) expect(a.reason).toBeInstanceOf(WrongExpectedVersionError)
      expect(await countEvents(id)).toBe(2)
    })

    it("of N concurrent 'no_stream' appends to a new stream exactly one wins", async () => {
      const id = aStreamId()
      const attempts = await Promise.allSettled(
        Array.from({ length: 16 }, (_, i) =>
          store.appendToStream(id, [event(i)], { expectedVersion: 'no_stream' }),
        ),
      )
      expect(attempts.filter((a) => a.status === 'fulfilled')).toHaveLength(1)
      expect(await countEvents(id)).toBe(1)
    })

    it("N concurrent 'any' appends to one stream all succeed with distinct consecutive versions", async () => {
      const id = aStreamId()
      const results = await Promise.all(
        Array.from({ length: 30 }, (_, i) => store.appendToStream(id, [event(i), event(i)])),
      )
      const versions = results.map((r) => r.nextExpectedVersion).sort((a, b) => (a < b ? -1 : 1))
      expect(versions).toEqual(Array.from({ length: 30 }, (_, i) => BigInt(2 * (i + 1))))
      const events = await store.readStream(id)
      expect(events.map((e) => e.version)).toEqual(
        Array.from({ length: 60 }, (_, i) => BigInt(i + 1)),
      )
    })
  })

  describe('idempotent retries', () => {
    for (const kind of ['any', 'no_stream', 'stream_exists', 'exact'] as const) {
      it(`a retry with the same ids returns the original result and writes nothing (${kind})`, async () => {
        const id = aStreamId()
        if (kind === 'stream_exists' || kind === 'exact') await store.appendToStream(id, [event(0)])
        const expectedVersion = kind === 'exact' ? 1n : kind
        const events = [
          { id: randomUUID(), type: 'Counted', data: { n: 1 }, metadata: { correlationId: 'c-1' } },
          { id: randomUUID(), type: 'Counted', data: { n: 2 } },
        ]
        const first = await store.appendToStream(id, events, { expectedVersion })
        const before = await countEvents(id)
        const again = await store.appendToStream(id, events, { expectedVersion })
        const againAny = await store.appendToStream(id, events)
        expect(again).toEqual(first)
        expect(againAny).toEqual(first)
        expect(await countEvents(id)).toBe(before)
      })
    }

    it('a retry after later appends still returns the original result', async () => {
      const id = aStreamId()
      const events = [{ id: randomUUID(), ...event(1) }]
      const first = await store.appendToStream(id, events)
      await store.appendToStream(id, [event(2)])
      expect(await store.appendToStream(id, events, { expectedVersion: 'no_stream' })).toEqual(
        first,
      )
    })

    it('concurrent retries of one append write it once', async () => {
      const id = aStreamId()
      const events = [
        { id: randomUUID(), ...event(1) },
        { id: randomUUID(), ...event(2) },
      ]
      const results = await Promise.all(
        Array.from({ length: 10 }, () => store.appendToStream(id, events)),
      )
      for (const r of results) expect(r).toEqual(results[0])
      expect(await countEvents(id)).toBe(2)
    })

    it('a known id with other content is a DuplicateEventError', async () => {
      const id = aStreamId()
      const eventId = randomUUID()
      await store.appendToStream(id, [{ id: eventId, ...event(1) }])
      const error = await store
        .appendToStream(id, [{ id: eventId, ...event(2) }])
        .catch((e: unknown) => e)
      expect(error).toBeInstanceOf(DuplicateEventError)
      expect(error).toMatchObject({ eventId, streamId: id, code: 'DUPLICATE_EVENT' })
      expect(await countEvents(id)).toBe(1)
    })

    it('a known id in another stream is a DuplicateEventError naming that stream', async () => {
      const a = aStreamId()
      const b = aStreamId()
      const eventId = randomUUID()
      await store.appendToStream(a, [{ id: eventId, ...event(1) }])
      await expect(store.appendToStream(b, [{ id: eventId, ...event(1) }])).rejects.toMatchObject({
        name: 'DuplicateEventError',
        eventId,
        existingStreamId: a,
      })
      expect(await countEvents(b)).toBe(0)
    })

    it('a partial overlap or another order is a DuplicateEventError', async () => {
      const id = aStreamId()
      const [x, y] = [randomUUID(), randomUUID()]
      await store.appendToStream(id, [
        { id: x, ...event(1) },
        { id: y, ...event(2) },
      ])
      await expect(
        store.appendToStream(id, [
          { id: x, ...event(1) },
          { id: randomUUID(), ...event(3) },
        ]),
      ).rejects.toBeInstanceOf(DuplicateEventError)
      await expect(
        store.appendToStream(id, [
          { id: y, ...event(2) },
          { id: x, ...event(1) },
        ]),
      ).rejects.toBeInstanceOf(DuplicateEventError)
      expect(await countEvents(id)).toBe(2)
    })
  })

  describe('atomicity', () => {
    it('an append whose later event is invalid writes none of its events', async () => {
      const typed = await db.store({
        schema: 'typed_atomic',
        events: { Counted: z.object({ n: z.number().int() }) },
      })
      const id = aStreamId()
      await expect(
        typed.appendToStream(id, [
          event(1),
          event(2),
          { type: 'Counted', data: { n: 'three' } } as never,
        ]),
      ).rejects.toBeInstanceOf(EventValidationError)
      expect(await typed.readStream(id)).toEqual([])
    })

    it('appendToStreams writes several streams in one transaction', async () => {
      const [a, b, c] = [aStreamId(), aStreamId(), aStreamId()]
      const results = await store.appendToStreams([
        { streamId: a, events: [event(1)], expectedVersion: 'no_stream' },
        { streamId: b, events: [event(1), event(2)] },
        { streamId: c, events: [event(1)] },
      ])
      expect(results.map((r) => [r.streamId, r.nextExpectedVersion])).toEqual([
        [a, 1n],
        [b, 2n],
        [c, 1n],
      ])
      expect(results[0]!.position).toBeLessThan(results[1]!.position)
      expect(results[1]!.position).toBeLessThan(results[2]!.position)
    })

    it('appendToStreams writes nothing when one part conflicts', async () => {
      const [a, b] = [aStreamId(), aStreamId()]
      await store.appendToStream(b, [event(0)])
      const error = await store
        .appendToStreams([
          { streamId: a, events: [event(1)] },
          { streamId: b, events: [event(1)], expectedVersion: 'no_stream' },
        ])
        .catch((e: unknown) => e)
      expect(error).toBeInstanceOf(WrongExpectedVersionError)
      expect(error).toMatchObject({ streamId: b, actual: 1n })
      expect(await countEvents(a)).toBe(0)
      expect(await countEvents(b)).toBe(1)
    })

    it('appendToStreams over the same streams in opposite orders does not deadlock', async () => {
      const [a, b] = [aStreamId(), aStreamId()]
      await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          store.appendToStreams(
            i % 2 === 0
              ? [
                  { streamId: a, events: [event(i)] },
                  { streamId: b, events: [event(i)] },
                ]
              : [
                  { streamId: b, events: [event(i)] },
                  { streamId: a, events: [event(i)] },
                ],
          ),
        ),
      )
      expect(await countEvents(a)).toBe(20)
      expect(await countEvents(b)).toBe(20)
    })
  })

  describe('in the caller’s transaction', () => {
    it('a pg client inside BEGIN: the events commit or roll back with the caller’s rows', async () => {
      await db.query('CREATE TABLE IF NOT EXISTS orders (id text PRIMARY KEY)')
      const client = await db.pool.connect()
      try {
        const rolledBack = aStreamId()
        await client.query('BEGIN')
        await client.query('INSERT INTO orders VALUES ($1)', [rolledBack])
        await store.appendToStream(rolledBack, [event(1)], { transaction: client })
        await client.query('ROLLBACK')
        expect(await countEvents(rolledBack)).toBe(0)

        const committed = aStreamId()
        await client.query('BEGIN')
        await client.query('INSERT INTO orders VALUES ($1)', [committed])
        const r = await store.appendToStream(committed, [event(1)], { transaction: client })
        expect(await countEvents(committed)).toBe(0) // not visible to others before commit
        await client.query('COMMIT')
        expect(r.nextExpectedVersion).toBe(1n)
        expect(await countEvents(committed)).toBe(1)
      } finally {
        client.release()
      }
    })

    it('a kysely transaction: appendToStream and appendToStreams join it', async () => {
      const kysely = new Kysely<{ orders: { id: string } }>({
        dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: db.url, max: 2 }) }),
      })
      try {
        await db.query('CREATE TABLE IF NOT EXISTS orders (id text PRIMARY KEY)')
        const [a, b] = [aStreamId(), aStreamId()]
        await kysely
          .transaction()
          .execute(async (trx) => {
            await trx.insertInto('orders').values({ id: a }).execute()
            await store.appendToStream(a, [event(1)], { transaction: trx })
            await store.appendToStreams([{ streamId: b, events: [event(1)] }], { transaction: trx })
            throw new Error('abort')
          })
          .catch(() => undefined)
        expect(await countEvents(a)).toBe(0)
        expect(await countEvents(b)).toBe(0)
        await kysely.transaction().execute(async (trx) => {
          await trx.insertInto('orders').values({ id: a }).execute()
          await store.appendToStream(a, [event(1)], { transaction: trx })
        })
        expect(await countEvents(a)).toBe(1)
        expect(await db.query('SELECT id FROM orders WHERE id = $1', [a])).toHaveLength(1)
      } finally {
        await kysely.destroy()
      }
    })

    it('a conflict inside the caller’s transaction throws the typed error', async () => {
      const id = aStreamId()
      await store.appendToStream(id, [event(1)])
      const client = await db.pool.connect()
      try {
        await client.query('BEGIN')
        await expect(
          store.appendToStream(id, [event(2)], {
            transaction: client,
            expectedVersion: 'no_stream',
          }),
        ).rejects.toBeInstanceOf(WrongExpectedVersionError)
        await client.query('ROLLBACK')
      } finally {
        client.release()
      }
      expect(await countEvents(id)).toBe(1)
    })
  })

  describe('typed events', () => {
    const registry = {
      Deposited: z.object({ amount: z.number().positive(), note: z.string().default('') }),
      Withdrawn: z.object({ amount: z.number().positive() }),
    }

    it('validates registered payloads before any SQL, naming the type and zod path', async () => {
      const typed = await db.store({ schema: 'typed_one', events: registry })
      const id = aStreamId()
      const error = await typed
        .appendToStream(id, [{ type: 'Deposited', data: { amount: -5 } }])
        .catch((e: unknown) => e)
      expect(error).toBeInstanceOf(EventValidationError)
      expect(error).toMatchObject({
        eventType: 'Deposited',
        path: ['amount'],
        code: 'EVENT_VALIDATION',
      })
      expect((error as Error).message).toContain('Deposited')
      expect((error as Error).message).toContain('amount')
      expect(await typed.readStream(id)).toEqual([])
    })

    it('stores the parsed payload (zod defaults applied) and types reads by event type', async () => {
      const typed = await db.store({ schema: 'typed_two', events: registry })
      const id = aStreamId()
      await typed.appendToStream(id, [{ type: 'Deposited', data: { amount: 5 } }])
      const [stored] = await typed.readStream(id)
      if (stored?.type === 'Deposited') {
        const note: string = stored.data.note
        expect(note).toBe('')
      } else {
        throw new Error('expected a Deposited event')
      }
    })

    it('refuses unregistered types unless allowed', async () => {
      const strict = await db.store({ schema: 'typed_three', events: registry })
      await expect(
        strict.appendToStream(aStreamId(), [{ type: 'Mystery', data: {} } as never]),
      ).rejects.toBeInstanceOf(UnknownEventTypeError)
      const open = await db.store({
        schema: 'typed_four',
        events: registry,
        allowUnregisteredTypes: true,
      })
      const r = await open.appendToStream(aStreamId(), [{ type: 'Mystery', data: { x: 1 } }])
      expect(r.nextExpectedVersion).toBe(1n)
    })
  })

  it('stores stream ids and types that look like SQL verbatim', async () => {
    const id = `x'); DROP TABLE strata.events; --`
    const type = `"; DELETE FROM strata.streams; --`
    await store.appendToStream(id, [{ type, data: { q: "'; SELECT 1; --" } }])
    const [stored] = await store.readStream(id)
    expect(stored).toMatchObject({ streamId: id, type, data: { q: "'; SELECT 1; --" } })
  })

  it('keeps correlation and causation ids and other metadata', async () => {
    const id = aStreamId()
    await store.appendToStream(id, [
      {
        ...event(1),
        metadata: {
          correlationId: 'corr-1',
          causationId: 'cause-1',
          tenant: 'acme',
          nested: { a: [1] },
        },
      },
    ])
    const [stored] = await store.readStream(id)
    expect(stored!.metadata).toEqual({
      correlationId: 'corr-1',
      causationId: 'cause-1',
      tenant: 'acme',
      nested: { a: [1] },
    })
  })
})
