import { randomUUID } from 'node:crypto'
import { beforeAll, describe, expect, it } from 'vitest'
import {
  createEventStore,
  InvalidArgumentError,
  ReplicaLagError,
  ReplicaUnavailableError,
  SubscriptionError,
  type EventStore,
  type RecordedEvent,
} from '../../src/index.js'
import { counter, counterEvents } from '../aggregates/fixtures.js'
import { balances, bankEvents, readBalances } from '../projections/fixtures.js'
import { useReplicaCluster } from '../support/replica-cluster.js'
import { waitFor } from '../support/wait-for.js'

const cluster = useReplicaCluster()
let store: EventStore

beforeAll(async () => {
  store = await cluster.store({
    replicas: { connections: { connectionString: cluster.replicaUrl } },
  })
})

const stream = () => `acct-${randomUUID()}`

/** Reads $all from `after` until `count` events came back (or fails after the wait). */
async function readUntil(
  s: EventStore,
  after: bigint,
  count: number,
  readFrom: 'primary' | 'replica' = 'replica',
): Promise<RecordedEvent[]> {
  const seen: RecordedEvent[] = []
  let cursor = after
  await waitFor(
    async () => {
      const page = await s.readAll({ after: cursor, readFrom })
      seen.push(...page.events)
      cursor = page.lastPosition
      return seen.length >= count
    },
    { message: `${count} events from the ${readFrom}` },
  )
  return seen
}

describe('reads on a streaming replica', () => {
  it('publishes the safe horizon on the primary, and the standby shows it', async () => {
    const result = await store.appendToStream(stream(), [{ type: 'T', data: { n: 1 } }])
    await store.readAll({ readFrom: 'replica', minLsn: result.commitLsn! })
    await waitFor(
      async () =>
        BigInt(
          (
            await cluster.replicaQuery<{ position: string }>(
              'SELECT position FROM strata.published_horizon',
            )
          )[0]!.position,
        ) >= result.position,
      { message: 'the published horizon reaches the append on the standby' },
    )
    expect(
      (
        await cluster.replicaQuery<{ recovery: boolean }>('SELECT pg_is_in_recovery() AS recovery')
      )[0]!.recovery,
    ).toBe(true)
  })

  it('returns a commitLsn with appends, and minLsn reads see the write on the replica', async () => {
    const id = stream()
    const result = await store.appendToStream(id, [{ type: 'T', data: { n: 1 } }])
    expect(result.commitLsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/)
    const events = await store.readStream(id, { readFrom: 'replica', minLsn: result.commitLsn! })
    expect(events.map((e) => e.position)).toEqual([result.position])
    const [many] = await store.appendToStreams([
      { streamId: id, events: [{ type: 'T', data: {} }] },
    ])
    expect(many!.commitLsn).toBeDefined()
    const again = await store.readStream(id, { readFrom: 'replica', minLsn: many!.commitLsn! })
    expect(again).toHaveLength(2)
  })

  it('reads $all on the replica in order, the same events as the primary', async () => {
    const head = (await store.readAll({ after: 0n, limit: 100_000 })).lastPosition
    const writes = []
    for (let i = 0; i < 20; i++) {
      writes.push(
        store.appendToStream(stream(), [
          { type: 'T', data: { i } },
          { type: 'U', data: { i } },
        ]),
      )
    }
    await Promise.all(writes)
    const fromReplica = await readUntil(store, head, 40)
    const fromPrimary = await readUntil(store, head, 40, 'primary')
    expect(fromReplica.map((e) => e.id)).toEqual(fromPrimary.map((e) => e.id))
    const wanted = fromPrimary.filter((e) => e.type === 'U').map((e) => e.id)
    const filtered: string[] = []
    let cursor = head
    await waitFor(async () => {
      const page = await store.readAll({
        after: cursor,
        filter: { eventTypes: ['U'] },
        readFrom: 'replica',
      })
      filtered.push(...page.events.map((e) => e.id))
      cursor = page.lastPosition
      return filtered.length >= wanted.length
    })
    expect(filtered).toEqual(wanted)
  })

  it('delivers live events to a subscription on the replica', async () => {
    const head = (await store.readAll({ after: 0n, limit: 100_000 })).lastPosition
    const subscription = store.subscribeToAll({ from: head, readFrom: 'replica' })
    const seen: RecordedEvent[] = []
    const handle = subscription.subscribe((event) => seen.push(event))
    try {
      const id = stream()
      for (let i = 0; i < 10; i++) await store.appendToStream(id, [{ type: 'T', data: { i } }])
      await waitFor(() => seen.length >= 10, { message: 'live events through the replica' })
      expect(seen.map((e) => e.data)).toEqual(Array.from({ length: 10 }, (_, i) => ({ i })))
    } finally {
      handle.unsubscribe()
    }
  })

  it('runs a projection and loads an aggregate from the replica', async () => {
    const bank = await cluster.store({
      events: bankEvents,
      replicas: { connections: { connectionString: cluster.replicaUrl } },
    })
    const a = `account-${randomUUID()}`
    await bank.appendToStream(a, [
      { type: 'Opened', data: { owner: 'ada' } },
      { type: 'Deposited', data: { amount: 100 } },
    ])
    const runner = bank.runProjection(balances(1, { name: 'replica_balances' }), {
      readFrom: 'replica',
      pollIntervalMs: 50,
    })
    try {
      await waitFor(
        async () =>
          (await readBalances(bank, 'replica_balances').catch(() => new Map())).get(a)?.balance ===
          100,
      )
    } finally {
      await runner.stop()
    }
    const aggregate = counter()
    const id = randomUUID()
    const counters = await cluster.store({
      events: counterEvents,
      replicas: { connections: { connectionString: cluster.replicaUrl } },
    })
    const result = await counters.appendToStream(`counter-${id}`, [
      { type: 'Incremented', data: { by: 5 } },
    ])
    const loaded = await counters.load(aggregate, id, {
      readFrom: 'replica',
      minLsn: result.commitLsn!,
    })
    expect(loaded.state).toEqual({ total: 5, count: 1 })
    expect(loaded.version).toBe(1n)
  })

  it('admits a consumer group from the replica: every event delivered once', async () => {
    const category = `grp${randomUUID().replaceAll('-', '').slice(0, 12)}`
    const group = store.consumerGroup(`g-${category}`, {
      source: { category },
      readFrom: 'replica',
      windowSize: 16,
      pollIntervalMs: 50,
    })
    const delivered: string[] = []
    const consumer = group.consume(
      (event) => {
        delivered.push(event.id)
      },
      { concurrency: 4 },
    )
    try {
      const written: string[] = []
      await Promise.all(
        Array.from({ length: 8 }, async (_, s) => {
          for (let i = 0; i < 10; i++) {
            const event = { id: randomUUID(), type: 'T', data: { s, i } }
            written.push(event.id)
            await store.appendToStream(`${category}-${s}`, [event])
          }
        }),
      )
      await waitFor(() => delivered.length >= written.length, { timeoutMs: 30_000 })
      expect([...delivered].sort()).toEqual([...written].sort())
      await waitFor(async () => (await group.status()).inFlight === 0)
      expect(new Set(delivered).size).toBe(delivered.length)
    } finally {
      await consumer.stop()
    }
  })

  it('refuses readFrom replica on a store without replicas', async () => {
    const plain = createEventStore({ connectionString: cluster.primary.url })
    try {
      await expect(plain.readAll({ readFrom: 'replica' })).rejects.toBeInstanceOf(
        InvalidArgumentError,
      )
    } finally {
      await plain.close()
    }
  })
})

describe('a replica that is down or lagging', () => {
  it('a subscription on the replica survives the replica being killed and restarted', async () => {
    const s = await cluster.store({
      replicas: {
        connections: { connectionString: cluster.replicaUrl },
        fallback: 'error',
        maxLagMs: 30_000,
      },
    })
    const head = (await s.readAll({ after: 0n, limit: 100_000 })).lastPosition
    const seen: RecordedEvent[] = []
    const subscription = s.subscribeToAll({ from: head, readFrom: 'replica', pollIntervalMs: 50 })
    const handle = subscription.subscribe((event) => seen.push(event))
    try {
      const id = stream()
      let n = 0
      const write = async (count: number) => {
        for (let i = 0; i < count; i++)
          await s.appendToStream(id, [{ type: 'T', data: { n: n++ } }])
      }
      await write(20)
      await waitFor(() => seen.length >= 20)
      await cluster.killReplica()
      await write(20) // committed on the primary while the replica is down
      await cluster.startReplica()
      await write(20)
      await waitFor(() => seen.length >= 60, { timeoutMs: 30_000 })
      expect(seen.map((e) => (e.data as { n: number }).n)).toEqual(
        Array.from({ length: 60 }, (_, i) => i),
      )
    } finally {
      handle.unsubscribe()
    }
  })

  it('falls back to the primary, or fails with a typed error, when the replica is stopped', async () => {
    const fallback = await cluster.store({
      replicas: { connections: { connectionString: cluster.replicaUrl }, maxLagMs: 500 },
    })
    const strict = await cluster.store({
      replicas: {
        connections: { connectionString: cluster.replicaUrl },
        maxLagMs: 500,
        fallback: 'error',
      },
    })
    const id = stream()
    await cluster.killReplica()
    try {
      const written = await fallback.appendToStream(id, [{ type: 'T', data: {} }])
      // Served by the primary: the write is there at once.
      const events = await fallback.readStream(id, { readFrom: 'replica' })
      expect(events.map((e) => e.position)).toEqual([written.position])
      const page = await fallback.readAll({ after: written.position - 1n, readFrom: 'replica' })
      expect(page.events.map((e) => e.id)).toEqual([events[0]!.id])

      await expect(strict.readStream(id, { readFrom: 'replica' })).rejects.toBeInstanceOf(
        ReplicaUnavailableError,
      )
      const subscription = strict.subscribeToAll({ from: 'start', readFrom: 'replica' })
      const error = await new Promise<unknown>((resolve) => {
        subscription.subscribe({ error: resolve, complete: () => resolve(undefined) })
      })
      expect(error).toBeInstanceOf(SubscriptionError)
      expect((error as SubscriptionError).cause).toBeInstanceOf(ReplicaUnavailableError)
    } finally {
      await cluster.startReplica()
    }
  })

  it('a subscription with fallback primary keeps delivering while the replica is stopped', async () => {
    const s = await cluster.store({
      replicas: { connections: { connectionString: cluster.replicaUrl }, maxLagMs: 300 },
    })
    const head = (await s.readAll({ after: 0n, limit: 100_000 })).lastPosition
    const id = stream()
    const seen: RecordedEvent[] = []
    const ofStream: RecordedEvent[] = []
    const subscription = s
      .subscribeToStream(id, { readFrom: 'replica', pollIntervalMs: 50 })
      .subscribe((event) => ofStream.push(event))
    const handle = s
      .subscribeToAll({ from: head, readFrom: 'replica', pollIntervalMs: 50 })
      .subscribe((event) => seen.push(event))
    try {
      let n = 0
      const write = async (count: number) => {
        for (let i = 0; i < count; i++)
          await s.appendToStream(id, [{ type: 'T', data: { n: n++ } }])
      }
      await write(10)
      await waitFor(() => seen.length >= 10)
      await cluster.killReplica()
      try {
        await write(10) // only the primary can serve these now
        await waitFor(() => seen.length >= 20, { message: 'events through the fallback' })
      } finally {
        await cluster.startReplica()
      }
      await write(10)
      await waitFor(() => seen.length >= 30 && ofStream.length >= 30)
      for (const events of [seen, ofStream]) {
        expect(events.map((e) => (e.data as { n: number }).n)).toEqual(
          Array.from({ length: 30 }, (_, i) => i),
        )
      }
    } finally {
      handle.unsubscribe()
      subscription.unsubscribe()
    }
  })

  it('waits for minLsn up to maxLagMs, then fails with ReplicaLagError (never stale)', async () => {
    const strict = await cluster.store({
      replicas: {
        connections: { connectionString: cluster.replicaUrl },
        maxLagMs: 300,
        fallback: 'error',
      },
    })
    // An LSN far beyond anything written: the replica cannot have replayed it.
    await expect(
      strict.readStream(stream(), { readFrom: 'replica', minLsn: 'FFFF/0' }),
    ).rejects.toBeInstanceOf(ReplicaLagError)
    await cluster.replicaQuery('SELECT pg_wal_replay_pause()')
    try {
      await strict.appendToStream(stream(), [{ type: 'T', data: {} }])
      // Replay paused: the replica's view ages past maxLagMs (the primary keeps publishing).
      await waitFor(
        async () =>
          await strict.readAll({ readFrom: 'replica' }).then(
            () => false,
            (error: unknown) => error instanceof ReplicaLagError,
          ),
        { message: 'ReplicaLagError while replay is paused' },
      )
    } finally {
      await cluster.replicaQuery('SELECT pg_wal_replay_resume()')
    }
  })
})
