import { randomUUID } from 'node:crypto'
import { randomBytes } from 'node:crypto'
import { afterAll, describe, expect, it } from 'vitest'
import {
  ArchivedRangeError,
  archivePartition,
  archivePartitions,
  createEventStore,
  createPartitions,
  DuplicateEventError,
  enablePartitioning,
  InvalidArgumentError,
  PartitionInUseError,
  partitionsStatus,
  runtimeGrantsSql,
  type EventStore,
  type RecordedEvent,
} from '../../src/index.js'
import { counter } from '../aggregates/fixtures.js'
import { aStreamId } from '../support/factories.js'
import { useTestDatabase } from '../support/test-database.js'
import { waitFor } from '../support/wait-for.js'

const db = useTestDatabase()

const some = (n: number, type = 'Counted') =>
  Array.from({ length: n }, (_, i) => ({ type, data: { i } }))

/** A store of its own schema, with `before` events in `streams` streams appended before. */
async function storeWith(schema: string, before: number, streams: string[]) {
  const store = await db.store({ schema })
  for (let i = 0; i < before; i++) {
    await store.appendToStream(streams[i % streams.length]!, some(1))
  }
  return store
}

async function readEverything(store: EventStore, after: bigint): Promise<RecordedEvent[]> {
  const seen: RecordedEvent[] = []
  for (let position = after; ;) {
    const page = await store.readAll({ after: position, limit: 50 })
    seen.push(...page.events)
    position = page.lastPosition
    if (page.isEnd) return seen
  }
}

describe('enabling partitioning on a store with events', () => {
  it('keeps every event, version and id; appends continue across partitions', async () => {
    const streams = [aStreamId('acct'), aStreamId('acct'), aStreamId('acct')]
    const store = await storeWith('p_enable', 25, streams)
    const keyed = [{ id: randomUUID(), type: 'Keyed', data: {} }]
    const original = await store.appendToStream(streams[0]!, keyed)
    const before = await readEverything(store, 0n)

    expect(
      await enablePartitioning(store.pool, store.schema, { partitionSize: 10, ahead: 3 }),
    ).toBe(true)
    // Again with the same size: nothing to do. Another size is refused.
    expect(await enablePartitioning(store.pool, store.schema, { partitionSize: 10 })).toBe(false)
    await expect(
      enablePartitioning(store.pool, store.schema, { partitionSize: 11 }),
    ).rejects.toThrow(/already partitioned/)
    const status = await partitionsStatus(store.pool, store.schema)
    expect(status.partitioned).toBe(true)
    expect(status.partitions.map((p) => [p.name, p.fromPosition, p.toPosition])).toEqual([
      ['events_p0', 0n, 30n],
      ['events_p30', 30n, 40n],
      ['events_p40', 40n, 50n],
      ['events_p50', 50n, 60n],
      ['events_tail', 60n, null],
    ])
    expect(await readEverything(store, 0n)).toEqual(before)

    // Versions continue; the idempotent retry of an event in the first partition is recognised.
    for (let i = 0; i < 60; i++) await store.appendToStream(streams[i % 3]!, some(1))
    expect(await store.appendToStream(streams[0]!, keyed)).toEqual(original)
    // An id stored in one partition cannot be stored again in another, by another stream.
    const first = (await store.readStream(streams[1]!))[0]!
    await expect(
      store.appendToStream(aStreamId('other'), [{ id: first.id, type: 'Keyed', data: {} }]),
    ).rejects.toBeInstanceOf(DuplicateEventError)
    for (const stream of streams) {
      const versions = (await store.readStream(stream)).map((e) => Number(e.version))
      expect(versions).toEqual(versions.map((_, i) => i + 1))
    }
    const all = await readEverything(store, 0n)
    expect(all.map((e) => e.position)).toEqual(
      [...all.map((e) => e.position)].sort((a, b) => (a < b ? -1 : 1)),
    )
    expect(all).toHaveLength(before.length + 60)
  })

  it('converting while eight writers append loses, fails and repeats nothing', async () => {
    const store = await storeWith('p_enable_live', 0, [])
    let stop = false
    const failures: unknown[] = []
    let appended = 0
    const writers = Array.from({ length: 8 }, async (_, w) => {
      for (let i = 0; !stop; i++) {
        await store
          .appendToStream(`conv${w}-${i % 3}`, some(1 + (i % 2)))
          .then(() => appended++)
          .catch((error: unknown) => failures.push(error))
      }
    })
    try {
      await waitFor(() => appended >= 50)
      await enablePartitioning(store.pool, store.schema, { partitionSize: 25, ahead: 2 })
      const at = appended
      await waitFor(() => appended >= at + 100)
      await createPartitions(store.pool, store.schema, { ahead: 2 })
      const again = appended
      await waitFor(() => appended >= again + 50)
    } finally {
      stop = true
      await Promise.all(writers)
    }
    expect(failures).toEqual([])
    const all = await readEverything(store, 0n)
    expect(new Set(all.map((e) => e.id)).size).toBe(all.length)
    for (const streamId of new Set(all.map((e) => e.streamId))) {
      const versions = all.filter((e) => e.streamId === streamId).map((e) => Number(e.version))
      expect(versions).toEqual(versions.map((_, i) => i + 1))
    }
    const [{ n }] = (await db.query<{ n: string }>(
      'SELECT count(*) AS n FROM p_enable_live.event_ids',
    )) as [{ n: string }]
    expect(Number(n)).toBe(all.length)
  })

  it('appends past every partition land in the tail, which create turns into a partition', async () => {
    const stream = aStreamId('acct')
    const store = await storeWith('p_tail', 3, [stream])
    await enablePartitioning(store.pool, store.schema, { partitionSize: 5, ahead: 1 })
    await store.appendToStream(stream, some(40))
    let status = await partitionsStatus(store.pool, store.schema)
    expect(status.partitions.at(-1)).toMatchObject({ name: 'events_tail', fromPosition: 10n })
    expect(await createPartitions(store.pool, store.schema, { ahead: 2 })).toEqual([
      'events_p10',
      'events_p45',
      'events_p50',
    ])
    status = await partitionsStatus(store.pool, store.schema)
    expect(status.partitions.map((p) => [p.name, p.fromPosition, p.toPosition])).toEqual([
      ['events_p0', 0n, 5n],
      ['events_p5', 5n, 10n],
      ['events_p10', 10n, 45n],
      ['events_p45', 45n, 50n],
      ['events_p50', 50n, 55n],
      ['events_tail', 55n, null],
    ])
    expect(await createPartitions(store.pool, store.schema, { ahead: 2 })).toEqual([])
    expect((await store.readStream(stream)).map((e) => Number(e.version))).toEqual(
      Array.from({ length: 43 }, (_, i) => i + 1),
    )
  })
})

describe('archiving the oldest partition', () => {
  it('refuses while readers need it, the tail, a partition that is not the oldest, an unpartitioned store', async () => {
    const plain = await db.store({ schema: 'p_plain' })
    await expect(archivePartition(plain.pool, plain.schema, 'events_p0')).rejects.toThrow(
      /not partitioned/,
    )
    const store = await storeWith('p_refuse', 12, [aStreamId('acct')])
    await enablePartitioning(store.pool, store.schema, { partitionSize: 10, ahead: 2 })
    await store.appendToStream(aStreamId('acct'), some(10))
    await store.checkpoints.save('slow-reader', 3n)
    const refused = await archivePartition(store.pool, store.schema, 'events_p0').catch(
      (error: unknown) => error,
    )
    expect(refused).toBeInstanceOf(PartitionInUseError)
    expect((refused as PartitionInUseError).readers).toEqual([
      { kind: 'checkpoint', name: 'slow-reader', position: 3n },
    ])
    await expect(archivePartition(store.pool, store.schema, 'events_p20')).rejects.toThrow(
      /oldest partition first: events_p0/,
    )
    await expect(archivePartition(store.pool, store.schema, 'events_tail')).rejects.toThrow(
      /must name a partition/,
    )
    await store.checkpoints.save('slow-reader', 100n)
    // Messages of the range in a group's window: refused even when forced, until they are gone.
    const group = store.consumerGroup('window-holder', { source: { category: 'acct' } })
    await group.ensure()
    await db.query(
      `SELECT p_refuse.consumer_group_admit(g.id, 1000, 5000, 100) FROM p_refuse.consumer_groups g
        WHERE g.name = 'window-holder'`,
    )
    const held = await archivePartition(store.pool, store.schema, 'events_p0', {
      force: true,
    }).catch((error: unknown) => error)
    expect(held).toBeInstanceOf(PartitionInUseError)
    expect((held as PartitionInUseError).readers).toEqual([
      { kind: 'undelivered message', name: 'window-holder', position: 1n },
    ])
    await group.reset('end')
    await archivePartition(store.pool, store.schema, 'events_p0')
    // Not every position of the next range is handed out yet.
    await expect(archivePartition(store.pool, store.schema, 'events_p20')).rejects.toThrow(
      /may still receive appends/,
    )
    // Nothing was recorded by the refusals.
    const status = await partitionsStatus(store.pool, store.schema)
    expect(status.archived.map((a) => a.name)).toEqual(['events_p0'])
  })

  it('fails every read of the archived range clearly; versions never repeat; snapshots past it still load', async () => {
    const streams = [aStreamId('acct'), aStreamId('acct')]
    const store = await storeWith('p_archive', 20, streams)
    await enablePartitioning(store.pool, store.schema, { partitionSize: 10, ahead: 3 })
    const group = store.consumerGroup(`g-${randomUUID()}`, {
      source: { category: 'acct' },
      startFrom: 'start',
    })
    await group.ensure()
    for (let i = 0; i < 20; i++) await store.appendToStream(streams[i % 2]!, some(1))

    // The group has not read anything: the archive is refused until forced.
    await expect(archivePartition(store.pool, store.schema, 'events_p0')).rejects.toBeInstanceOf(
      PartitionInUseError,
    )
    const result = await archivePartition(store.pool, store.schema, 'events_p0', { force: true })
    expect(result).toMatchObject({
      partition: 'events_p0',
      fromPosition: 0n,
      toPosition: 30n,
      events: 29n,
      state: 'detached',
    })
    const status = await partitionsStatus(store.pool, store.schema)
    expect(status.partitions[0]!.name).toBe('events_p30')
    expect(status.archived).toMatchObject([
      { name: 'events_p0', state: 'detached', toPosition: 30n },
    ])

    // $all from inside the range: refused, never skipped; from its end: fine.
    const fromStart = await store.readAll({ after: 0n }).catch((error: unknown) => error)
    expect(fromStart).toBeInstanceOf(ArchivedRangeError)
    expect(fromStart).toMatchObject({ kind: 'all', archivedThrough: 29n })
    await expect(
      store.readAll({ after: 28n, filter: { category: 'acct' } }),
    ).rejects.toBeInstanceOf(ArchivedRangeError)
    expect((await readEverything(store, 29n)).length).toBe(11)

    // A stream: its archived versions are refused forward and backward; the rest reads.
    const stream = await store.readStream(streams[0]!).catch((error: unknown) => error)
    expect(stream).toBeInstanceOf(ArchivedRangeError)
    expect(stream).toMatchObject({ kind: 'stream', streamId: streams[0], archivedThrough: 15n })
    expect((await store.readStream(streams[0]!, { from: 16n })).map((e) => e.version)[0]).toBe(16n)
    expect(
      (await store.readStream(streams[0]!, { direction: 'backward', limit: 3 })).map(
        (e) => e.version,
      ),
    ).toEqual([20n, 19n, 18n])
    await expect(
      store.readStream(streams[0]!, { direction: 'backward', limit: 30 }),
    ).rejects.toBeInstanceOf(ArchivedRangeError)

    // The version floor: the next append is 21, and expected versions see 20.
    const appended = await store.appendToStream(streams[0]!, some(1), { expectedVersion: 20n })
    expect(appended.nextExpectedVersion).toBe(21n)

    // A subscription from the start fails with the typed error.
    const failure = await new Promise<unknown>((resolve) => {
      store
        .subscribeToAll({ from: 0n })
        .subscribe({ error: resolve, complete: () => resolve(undefined) })
    })
    const cause = failure instanceof ArchivedRangeError ? failure : (failure as Error).cause
    expect(cause).toBeInstanceOf(ArchivedRangeError)

    // The ids of archived events stay taken.
    const [archivedId] = await db.query<{ id: string }>(
      'SELECT id FROM p_archive.events_p0 ORDER BY position LIMIT 1',
    )
    await expect(
      store.appendToStream(aStreamId('late'), [{ id: archivedId!.id, type: 'Fresh', data: {} }]),
    ).rejects.toBeInstanceOf(DuplicateEventError)
  })

  it('a reader paging slowly through $all gets ArchivedRangeError, never a page that skips', async () => {
    const store = await storeWith('p_slow', 0, [])
    await enablePartitioning(store.pool, store.schema, { partitionSize: 10, ahead: 2 })
    const stream = aStreamId('acct')
    await store.appendToStream(stream, some(25))
    const first = await store.readAll({ after: 0n, limit: 5 })
    expect(first.events).toHaveLength(5)
    await archivePartition(store.pool, store.schema, 'events_p0', { drop: true })
    await expect(store.readAll({ after: first.lastPosition, limit: 5 })).rejects.toMatchObject({
      kind: 'all',
      archivedThrough: 9n,
    })
    const status = await partitionsStatus(store.pool, store.schema)
    expect(status.archived[0]!.state).toBe('dropped')
    const tables = await db.query<{ n: string }>(
      `SELECT count(*) AS n FROM pg_tables WHERE schemaname = 'p_slow' AND tablename = 'events_p0'`,
    )
    expect(tables[0]!.n).toBe('0')
  })
})

describe('archiving every partition up to a position or a time', () => {
  it('takes the oldest partitions that qualify, in order, and never the tail', async () => {
    const store = await storeWith('p_bulk', 0, [])
    await enablePartitioning(store.pool, store.schema, { partitionSize: 10, ahead: 3 })
    await store.appendToStream(aStreamId('acct'), some(45))
    await expect(archivePartitions(store.pool, store.schema, {})).rejects.toBeInstanceOf(
      InvalidArgumentError,
    )
    const byPosition = await archivePartitions(store.pool, store.schema, { through: 29n })
    expect(byPosition.map((r) => [r.partition, r.toPosition])).toEqual([
      ['events_p0', 10n],
      ['events_p10', 20n],
      ['events_p20', 30n],
    ])
    expect(
      await archivePartitions(store.pool, store.schema, { writtenBefore: new Date(0) }),
    ).toEqual([])
    const byTime = await archivePartitions(store.pool, store.schema, {
      writtenBefore: new Date(Date.now() + 60_000),
    })
    expect(byTime.map((r) => r.partition)).toEqual(['events_p30'])
    const status = await partitionsStatus(store.pool, store.schema)
    expect(status.partitions.map((p) => p.name)).toEqual(['events_tail'])
    expect(status.partitions[0]!.lastEventAt).toBeInstanceOf(Date)
    await expect(store.readAll({ after: 38n })).rejects.toMatchObject({ archivedThrough: 39n })
    expect((await store.readAll({ after: 39n })).events).toHaveLength(6)
  })
})

describe('detaching while appends and a subscription run', () => {
  it('every committed event outside the archive is delivered once, in order; no append fails', async () => {
    const store = await storeWith('p_live', 0, [])
    await enablePartitioning(store.pool, store.schema, { partitionSize: 40, ahead: 2 })
    const seen: RecordedEvent[] = []
    const subscription = store.subscribeToAll({ from: 0n }).subscribe((event) => seen.push(event))
    let stop = false
    const failures: unknown[] = []
    const writers = Array.from({ length: 8 }, async (_, w) => {
      for (let i = 0; !stop; i++) {
        await store
          .appendToStream(`live${w}-${i % 4}`, some(1 + (i % 3)))
          .catch((error: unknown) => failures.push(error))
      }
    })
    try {
      // The subscription passes the first partition; create partitions ahead (the writers go
      // on), then archive the first two while appends and the subscription run.
      await waitFor(() => seen.length >= 90, { timeoutMs: 30_000 })
      await createPartitions(store.pool, store.schema, { ahead: 3 })
      await archivePartition(store.pool, store.schema, 'events_p0')
      await waitFor(() => (seen.at(-1)?.position ?? 0n) >= 160n, { timeoutMs: 30_000 })
      await createPartitions(store.pool, store.schema, { ahead: 3 })
      await archivePartition(store.pool, store.schema, 'events_p40')
      const after = seen.length
      await waitFor(() => seen.length >= after + 100, { timeoutMs: 30_000 })
    } finally {
      stop = true
      await Promise.all(writers)
    }
    expect(failures).toEqual([])
    const head = await store.headPosition()
    await waitFor(() => (seen.at(-1)?.position ?? 0n) >= head, { timeoutMs: 30_000 })
    subscription.unsubscribe()
    const remaining = await readEverything(store, 79n)
    expect(seen.filter((e) => e.position > 79n).map((e) => e.id)).toEqual(
      remaining.map((e) => e.id),
    )
    const positions = seen.map((e) => e.position)
    expect(new Set(positions).size).toBe(positions.length)
    expect(positions).toEqual([...positions].sort((a, b) => (a < b ? -1 : 1)))
    // Per stream, versions contiguous from the first one not archived.
    for (const streamId of new Set(seen.map((e) => e.streamId))) {
      const versions = seen.filter((e) => e.streamId === streamId).map((e) => Number(e.version))
      expect(versions).toEqual(versions.map((_, i) => i + 1))
    }
  })
})

describe('aggregates on archived history', () => {
  it('load from a snapshot taken after the archived versions; without one the load fails typed', async () => {
    const store = await db.store({ schema: 'p_aggregates' })
    await enablePartitioning(store.pool, store.schema, { partitionSize: 10, ahead: 2 })
    const snapshotted = counter({ snapshots: { every: 5 } })
    const plain = counter()
    const [withSnapshots, without] = [randomUUID(), randomUUID()]
    for (let i = 0; i < 12; i++) {
      await store.handle(snapshotted, withSnapshots, { type: 'Increment', data: { by: 1 } })
      await store.handle(plain, without, { type: 'Increment', data: { by: 1 } })
    }
    const expected = await store.load(plain, withSnapshots)
    await archivePartition(store.pool, store.schema, 'events_p0')
    // Positions 1..9 held versions 1..5 of the first and 1..4 of the second; snapshot at 10.
    const loaded = await store.load(snapshotted, withSnapshots)
    expect(loaded).toMatchObject({ version: 12n, fromSnapshotAt: 10n, state: expected.state })
    await expect(store.load(plain, without)).rejects.toMatchObject({
      kind: 'stream',
      streamId: `counter-${without}`,
      archivedThrough: 4n,
    })
    // Commands go on at the right version.
    await store.handle(snapshotted, withSnapshots, { type: 'Increment', data: { by: 1 } })
    expect((await store.load(snapshotted, withSnapshots)).version).toBe(13n)
  })
})

describe('a tenant store, partitioned', () => {
  const role = `strata_pt_${randomBytes(4).toString('hex')}`
  const opened: Array<{ close(): Promise<void> }> = []
  afterAll(async () => {
    for (const store of opened) await store.close().catch(() => undefined)
    await db.query(`DROP OWNED BY ${role} CASCADE`).catch(() => undefined)
    await db.query(`DROP ROLE IF EXISTS ${role}`)
  })

  it('keeps tenants apart on every partition, old and new; the runtime role reads no partition directly', async () => {
    const owner = await db.store({ schema: 'p_tenant' })
    await db.query('SELECT p_tenant.enable_tenants()')
    await db.query(`CREATE ROLE ${role} LOGIN`)
    await db.query(runtimeGrantsSql('p_tenant', role))
    const url = new URL(db.url)
    url.username = role
    const as = (tenant: string) => {
      const store = createEventStore(
        { connectionString: url.toString(), max: 2 },
        { schema: 'p_tenant', tenant, allowUnregisteredTypes: true, listen: !db.viaPooler },
      )
      opened.push(store)
      return store
    }
    const [a, b] = [as('tenant-a'), as('tenant-b')]
    for (let i = 0; i < 6; i++) {
      await a.appendToStream(`acct-a${i % 2}`, some(1))
      await b.appendToStream(`acct-b${i % 2}`, some(1))
    }
    await enablePartitioning(owner.pool, owner.schema, { partitionSize: 8, ahead: 2 })
    for (let i = 0; i < 10; i++) {
      await a.appendToStream(`acct-a${i % 2}`, some(1))
      await b.appendToStream(`acct-b${i % 2}`, some(1))
    }
    await createPartitions(owner.pool, owner.schema, { ahead: 2 })
    await db.query(runtimeGrantsSql('p_tenant', role))
    const streamsOf = async (store: EventStore) =>
      new Set((await readEverything(store, 0n)).map((e) => e.streamId))
    expect(await streamsOf(a)).toEqual(new Set(['acct-a0', 'acct-a1']))
    expect(await streamsOf(b)).toEqual(new Set(['acct-b0', 'acct-b1']))
    expect((await a.readStream('acct-a0')).length).toBe(8)
    expect(await b.readStream('acct-a0')).toEqual([])

    const { partitions } = await partitionsStatus(owner.pool, owner.schema)
    const client = new (await import('pg')).default.Client({ connectionString: url.toString() })
    await client.connect()
    try {
      for (const partition of partitions) {
        await expect(
          client.query(`SELECT count(*) FROM p_tenant.${partition.name}`),
        ).rejects.toThrow(/permission denied/)
      }
      await expect(client.query('SELECT count(*) FROM p_tenant.event_ids')).rejects.toThrow(
        /permission denied/,
      )
      await expect(client.query('SELECT p_tenant.create_event_partitions(2, 100)')).rejects.toThrow(
        /permission denied/,
      )
    } finally {
      await client.end()
    }
  })
})
