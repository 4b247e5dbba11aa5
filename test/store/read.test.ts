import { beforeAll, describe, expect, it } from 'vitest'
import type { EventStore, RecordedEvent } from '../../src/index.js'
import { aStreamId } from '../support/factories.js'
import { useTestDatabase } from '../support/test-database.js'
import { waitFor } from '../support/wait-for.js'

const db = useTestDatabase()
let store: EventStore

beforeAll(async () => {
  store = await db.store()
})

const events = (n: number, type = 'Counted') =>
  Array.from({ length: n }, (_, i) => ({ type, data: { i } }))

/** Reads $all from `after` to the end, page by page. */
async function readAllFrom(after: bigint, filter?: Parameters<EventStore['readAll']>[0]) {
  const seen: RecordedEvent[] = []
  let position = after
  for (;;) {
    const page = await store.readAll({ ...filter, after: position, limit: 7 })
    seen.push(...page.events)
    expect(page.lastPosition).toBeGreaterThanOrEqual(position)
    position = page.lastPosition
    if (page.isEnd) return { seen, position }
  }
}

describe('readStream', () => {
  it('reads forward from a version, with a limit', async () => {
    const id = aStreamId()
    await store.appendToStream(id, events(10))
    expect((await store.readStream(id)).map((e) => e.version)).toEqual([
      1n,
      2n,
      3n,
      4n,
      5n,
      6n,
      7n,
      8n,
      9n,
      10n,
    ])
    expect((await store.readStream(id, { from: 4n, limit: 3 })).map((e) => e.version)).toEqual([
      4n,
      5n,
      6n,
    ])
    expect(await store.readStream(id, { from: 11n })).toEqual([])
  })

  it('reads backward from the end or from a version', async () => {
    const id = aStreamId()
    await store.appendToStream(id, events(5))
    expect((await store.readStream(id, { direction: 'backward' })).map((e) => e.version)).toEqual([
      5n,
      4n,
      3n,
      2n,
      1n,
    ])
    expect(
      (await store.readStream(id, { direction: 'backward', from: 3n, limit: 2 })).map(
        (e) => e.version,
      ),
    ).toEqual([3n, 2n])
  })

  it('returns nothing for a stream never written', async () => {
    expect(await store.readStream(aStreamId())).toEqual([])
  })

  it('returns recorded events with every field', async () => {
    const id = aStreamId()
    const before = new Date(Date.now() - 60_000)
    await store.appendToStream(id, [
      { type: 'Opened', data: { owner: 'ada' }, metadata: { causationId: 'cmd-1' } },
    ])
    const [e] = await store.readStream(id)
    expect(e).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      streamId: id,
      version: 1n,
      position: expect.any(BigInt),
      type: 'Opened',
      data: { owner: 'ada' },
      metadata: { causationId: 'cmd-1' },
      createdAt: expect.any(Date),
    })
    expect(e!.createdAt.getTime()).toBeGreaterThan(before.getTime())
  })
})

describe('readAll', () => {
  it('pages through every event after a position, in strictly increasing position', async () => {
    const start = await store.headPosition()
    const ids = [aStreamId(), aStreamId(), aStreamId()]
    for (let round = 0; round < 4; round++)
      for (const id of ids) await store.appendToStream(id, events(2))
    const { seen } = await readAllFrom(start)
    expect(seen).toHaveLength(24)
    for (let i = 1; i < seen.length; i++)
      expect(seen[i]!.position).toBeGreaterThan(seen[i - 1]!.position)
  })

  it('is exclusive of `after` and starts at the beginning without it', async () => {
    const first = await store.readAll({ limit: 1 })
    expect(first.events[0]!.position).toBeGreaterThan(0n)
    const next = await store.readAll({ after: first.events[0]!.position, limit: 1 })
    expect(next.events[0]!.position).toBeGreaterThan(first.events[0]!.position)
  })

  it('filters by event type, category and stream-id prefix', async () => {
    const start = await store.headPosition()
    await store.appendToStream('invoice-1', events(3, 'Issued'))
    await store.appendToStream('invoice-2', events(2, 'Paid'))
    await store.appendToStream('order-1', events(2, 'Issued'))
    await store.appendToStream('order_x%-1', events(1, 'Odd'))
    await store.appendToStream('orderxy-1', events(1, 'Odd'))

    const byType = await readAllFrom(start, { filter: { eventTypes: ['Issued'] } })
    expect(byType.seen.map((e) => e.streamId)).toEqual([
      'invoice-1',
      'invoice-1',
      'invoice-1',
      'order-1',
      'order-1',
    ])
    const byCategory = await readAllFrom(start, { filter: { category: 'invoice' } })
    expect(byCategory.seen).toHaveLength(5)
    const both = await readAllFrom(start, { filter: { category: 'invoice', eventTypes: ['Paid'] } })
    expect(both.seen.map((e) => e.type)).toEqual(['Paid', 'Paid'])
    // LIKE wildcards in a prefix are taken literally.
    const byPrefix = await readAllFrom(start, { filter: { streamIdPrefix: 'order_x%' } })
    expect(byPrefix.seen.map((e) => e.streamId)).toEqual(['order_x%-1'])
  })

  it('moves lastPosition past events a filter skipped', async () => {
    const start = await store.headPosition()
    await store.appendToStream(aStreamId('noise'), events(5))
    const page = await store.readAll({ after: start, filter: { category: 'nothing-here' } })
    expect(page.events).toEqual([])
    expect(page.lastPosition).toBeGreaterThanOrEqual(start + 5n)
    expect(page.isEnd).toBe(true)
  })

  it('keeps the events of deleted and truncated streams ($all is the log)', async () => {
    const id = aStreamId()
    const start = await store.headPosition()
    await store.appendToStream(id, events(3))
    await store.deleteStream(id)
    const { seen } = await readAllFrom(start, { filter: { streamIdPrefix: id } })
    expect(seen).toHaveLength(3)
  })
})

describe('stream metadata and retention', () => {
  it('getStreamInfo reports version, dates, deletion state and metadata', async () => {
    const id = aStreamId()
    expect(await store.getStreamInfo(id)).toMatchObject({
      version: 0n,
      exists: false,
      deleted: 'no',
      createdAt: null,
    })
    await store.appendToStream(id, events(3))
    await store.setStreamMetadata(id, { maxCount: 10, custom: { owner: 'team-a' } })
    const info = await store.getStreamInfo(id)
    expect(info).toMatchObject({
      streamId: id,
      version: 3n,
      exists: true,
      deleted: 'no',
      metadata: {
        maxCount: 10,
        maxAgeSeconds: null,
        truncateBefore: null,
        custom: { owner: 'team-a' },
      },
    })
    expect(info.createdAt).toBeInstanceOf(Date)
  })

  it('maxCount keeps only the last N events visible', async () => {
    const id = aStreamId()
    await store.appendToStream(id, events(6))
    await store.setStreamMetadata(id, { maxCount: 2 })
    expect((await store.readStream(id)).map((e) => e.version)).toEqual([5n, 6n])
    await store.appendToStream(id, events(1))
    expect((await store.readStream(id)).map((e) => e.version)).toEqual([6n, 7n])
    expect((await store.readStream(id, { direction: 'backward' })).map((e) => e.version)).toEqual([
      7n,
      6n,
    ])
  })

  it('truncateBefore hides earlier versions; maxAgeSeconds hides old events', async () => {
    const id = aStreamId()
    await store.appendToStream(id, events(5))
    await store.setStreamMetadata(id, { truncateBefore: 4n })
    expect((await store.readStream(id)).map((e) => e.version)).toEqual([4n, 5n])
    const aged = aStreamId()
    await store.appendToStream(aged, events(2))
    await store.setStreamMetadata(aged, { maxAgeSeconds: 3600 })
    expect(await store.readStream(aged)).toHaveLength(2)
    await store.setStreamMetadata(aged, { maxAgeSeconds: 1 })
    await waitFor(async () => (await store.readStream(aged)).length === 0, { timeoutMs: 5000 })
  })

  it('metadata is replaced as a whole and can be set before the first event', async () => {
    const id = aStreamId()
    await store.setStreamMetadata(id, { custom: { a: 1 } })
    expect(await store.getStreamInfo(id)).toMatchObject({
      version: 0n,
      exists: false,
      metadata: { custom: { a: 1 } },
    })
    const r = await store.appendToStream(id, events(1), { expectedVersion: 'no_stream' })
    expect(r.nextExpectedVersion).toBe(1n)
    await store.setStreamMetadata(id, { maxCount: 5 })
    expect((await store.getStreamInfo(id)).metadata).toEqual({
      maxCount: 5,
      maxAgeSeconds: null,
      truncateBefore: null,
      custom: {},
    })
  })
})

describe('soft delete and tombstone', () => {
  it('soft delete: reads return nothing, the stream can be written again, versions continue', async () => {
    const id = aStreamId()
    await store.appendToStream(id, events(3))
    await store.deleteStream(id, { expectedVersion: 3n })
    expect(await store.readStream(id)).toEqual([])
    expect(await store.getStreamInfo(id)).toMatchObject({
      deleted: 'soft',
      exists: false,
      version: 3n,
    })
    const again = await store.appendToStream(id, events(1), { expectedVersion: 'no_stream' })
    expect(again.nextExpectedVersion).toBe(4n)
    expect((await store.readStream(id)).map((e) => e.version)).toEqual([4n])
    expect(await store.getStreamInfo(id)).toMatchObject({
      deleted: 'no',
      exists: true,
      version: 4n,
    })
  })

  it('soft delete checks the expected version', async () => {
    const id = aStreamId()
    await store.appendToStream(id, events(2))
    await expect(store.deleteStream(id, { expectedVersion: 1n })).rejects.toMatchObject({
      name: 'WrongExpectedVersionError',
      actual: 2n,
    })
    expect(await store.readStream(id)).toHaveLength(2)
  })

  it('changing the metadata of a deleted stream never brings its deleted events back', async () => {
    const id = aStreamId()
    await store.appendToStream(id, events(3))
    await store.deleteStream(id)
    await store.setStreamMetadata(id, { custom: { owner: 'x' } })
    expect(await store.readStream(id)).toEqual([])
    await store.appendToStream(id, events(1))
    await store.setStreamMetadata(id, { maxCount: 10 })
    await store.setStreamMetadata(id, { truncateBefore: null })
    expect((await store.readStream(id)).map((e) => e.version)).toEqual([4n])
    // A truncation above the delete still works, and can be lifted back down to it.
    await store.appendToStream(id, events(2))
    await store.setStreamMetadata(id, { truncateBefore: 6n })
    expect((await store.readStream(id)).map((e) => e.version)).toEqual([6n])
    await store.setStreamMetadata(id, {})
    expect((await store.readStream(id)).map((e) => e.version)).toEqual([4n, 5n, 6n])
  })

  it('0n means "no stream" for deletes as for appends: a soft-deleted stream counts as none', async () => {
    const id = aStreamId()
    await store.appendToStream(id, events(1))
    await store.deleteStream(id)
    await expect(store.deleteStream(id, { expectedVersion: 0n })).resolves.toBeUndefined()
    await expect(
      store.tombstoneStream(id, { expectedVersion: 'no_stream' }),
    ).resolves.toBeUndefined()
    expect((await store.getStreamInfo(id)).deleted).toBe('tombstoned')
  })

  it("deletes and metadata changes join the caller's transaction", async () => {
    const id = aStreamId()
    await store.appendToStream(id, events(2))
    const client = await db.pool.connect()
    try {
      await client.query('BEGIN')
      await store.deleteStream(id, { transaction: client })
      await store.setStreamMetadata(aStreamId(), { maxCount: 1 }, { transaction: client })
      await client.query('ROLLBACK')
      expect(await store.readStream(id)).toHaveLength(2)
      await client.query('BEGIN')
      await store.setStreamMetadata(id, { maxCount: 1 }, { transaction: client })
      await store.tombstoneStream(id, { transaction: client, expectedVersion: 2n })
      expect(await store.readStream(id)).toHaveLength(2) // not committed yet
      await client.query('COMMIT')
      expect((await store.getStreamInfo(id)).deleted).toBe('tombstoned')
    } finally {
      client.release()
    }
  })

  it('metadata: bigint counts are accepted; unknown keys are refused, maxAge among them', async () => {
    const id = aStreamId()
    await store.appendToStream(id, events(3))
    await store.setStreamMetadata(id, { maxAgeSeconds: 3600, maxCount: 2n })
    expect((await store.getStreamInfo(id)).metadata).toMatchObject({
      maxAgeSeconds: 3600,
      maxCount: 2,
    })
    expect((await store.readStream(id)).map((e) => e.version)).toEqual([2n, 3n])
    const typo = await store
      .setStreamMetadata(id, { maxCont: 1 } as unknown as { maxCount: number })
      .catch((e: unknown) => e)
    expect(typo).toMatchObject({ name: 'InvalidArgumentError', value: 1 })
    expect((typo as Error).message).toMatch(/maxCont.*did you mean maxCount\?/)
    // One name per setting: EventStoreDB's $maxAge is maxAgeSeconds here.
    await expect(
      store.setStreamMetadata(id, { maxAge: 1 } as unknown as { maxAgeSeconds: number }),
    ).rejects.toThrow(/maxAgeSeconds/)
    expect((await store.getStreamInfo(id)).metadata.maxCount).toBe(2)
  })

  it('tombstone: never writable again, reads return nothing', async () => {
    const id = aStreamId()
    await store.appendToStream(id, events(2))
    await store.tombstoneStream(id)
    expect(await store.readStream(id)).toEqual([])
    expect(await store.getStreamInfo(id)).toMatchObject({ deleted: 'tombstoned', exists: false })
    for (const expectedVersion of ['any', 'no_stream', 2n] as const) {
      await expect(store.appendToStream(id, events(1), { expectedVersion })).rejects.toMatchObject({
        name: 'StreamDeletedError',
        streamId: id,
        code: 'STREAM_DELETED',
      })
    }
    await expect(store.setStreamMetadata(id, { maxCount: 1 })).rejects.toMatchObject({
      name: 'StreamDeletedError',
    })
    await expect(store.deleteStream(id)).rejects.toMatchObject({ name: 'StreamDeletedError' })
    await expect(store.tombstoneStream(aStreamId())).resolves.toBeUndefined()
  })
})

describe('scavenge', () => {
  it('physically removes what retention and deletion hide, and versions continue', async () => {
    const kept = aStreamId()
    const trimmed = aStreamId()
    const deleted = aStreamId()
    const tombstoned = aStreamId()
    await store.appendToStream(kept, events(3))
    await store.appendToStream(trimmed, events(5))
    await store.setStreamMetadata(trimmed, { maxCount: 2 })
    await store.appendToStream(deleted, events(4))
    await store.deleteStream(deleted)
    await store.appendToStream(tombstoned, events(2))
    await store.tombstoneStream(tombstoned)

    const progress: number[] = []
    const result = await store.scavenge({
      batchSize: 2,
      onProgress: (p) => progress.push(p.deletedEvents),
    })
    expect(result.deletedEvents).toBeGreaterThanOrEqual(3 + 4 + 2)
    expect(progress.length).toBeGreaterThan(1)
    const count = async (id: string) =>
      Number(
        (
          await db.query<{ n: string }>(
            'SELECT count(*) AS n FROM strata.events WHERE stream_id = $1',
            [id],
          )
        )[0]!.n,
      )
    expect(await count(kept)).toBe(3)
    expect(await count(trimmed)).toBe(2)
    expect(await count(deleted)).toBe(0)
    expect(await count(tombstoned)).toBe(0)

    // Versions continue after their events are gone.
    expect(
      (await store.appendToStream(deleted, events(1), { expectedVersion: 'no_stream' }))
        .nextExpectedVersion,
    ).toBe(5n)
    expect((await store.getStreamInfo(trimmed)).version).toBe(5n)
    await expect(store.appendToStream(tombstoned, events(1))).rejects.toMatchObject({
      name: 'StreamDeletedError',
    })
    expect(await store.scavenge()).toEqual({ deletedEvents: 0, streams: 0 })
  })
})

describe('immutability in the database', () => {
  it('refuses UPDATE, DELETE and TRUNCATE on events outside scavenge', async () => {
    const id = aStreamId()
    await store.appendToStream(id, events(1))
    await expect(
      db.query(`UPDATE strata.events SET data = '{}' WHERE stream_id = $1`, [id]),
    ).rejects.toMatchObject({
      code: 'SX004',
    })
    await expect(
      db.query(`DELETE FROM strata.events WHERE stream_id = $1`, [id]),
    ).rejects.toMatchObject({ code: 'SX004' })
    await expect(db.query(`TRUNCATE strata.events`)).rejects.toMatchObject({ code: 'SX004' })
    expect(await store.readStream(id)).toHaveLength(1)
  })
})
