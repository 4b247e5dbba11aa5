import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { z } from 'zod'
import {
  defineAggregate,
  InvalidArgumentError,
  snapshotAggregate,
  SnapshotError,
  SnapshotRequiredError,
  truncateAggregate,
  type EventStore,
  type SnapshotCodec,
} from '../../src/index.js'
import { useTestDatabase } from '../support/test-database.js'
import {
  accountEvents,
  bankAccount,
  counter,
  counterEvents,
  type AccountState,
} from './fixtures.js'

const db = useTestDatabase()
const richEvents = { ...counterEvents, Opened: z.object({ at: z.iso.datetime() }) }
let store: EventStore<typeof accountEvents & typeof richEvents>

beforeAll(async () => {
  store = await db.store({ events: { ...accountEvents, ...richEvents } })
  // Refuses snapshot writes of the aggregate named 'refused' only, so other tests are unaffected.
  await db.query(`
    CREATE FUNCTION strata.refuse_snapshot() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION 'snapshots are read-only today'; END $$;
    CREATE TRIGGER snapshots_refuse BEFORE INSERT OR UPDATE ON strata.snapshots
      FOR EACH ROW WHEN (NEW.aggregate = 'refused') EXECUTE FUNCTION strata.refuse_snapshot();`)
})

afterAll(async () => {
  await db.query('DROP TRIGGER IF EXISTS snapshots_refuse ON strata.snapshots')
})

interface SnapshotRow {
  aggregate: string
  stream_version: string
  snapshot_version: number
  pinned: boolean
  state: unknown
}

async function snapshotsOf(streamId: string): Promise<SnapshotRow[]> {
  return db.query<SnapshotRow>(
    `SELECT aggregate, stream_version, snapshot_version, pinned, state FROM strata.snapshots
      WHERE stream_id = $1 ORDER BY aggregate, stream_version`,
    [streamId],
  )
}

const versions = (rows: SnapshotRow[]) =>
  rows.map((r) => [Number(r.stream_version), r.snapshot_version])

async function increments(aggregate: ReturnType<typeof counter>, id: string, n: number) {
  for (let i = 0; i < n; i++)
    await store.handle(aggregate, id, { type: 'Increment', data: { by: i } })
}

function collectErrors() {
  const errors: SnapshotError[] = []
  return { errors, onError: (error: SnapshotError) => errors.push(error) }
}

describe('snapshot policy', () => {
  it('every N: snapshots once N events were applied since the last one, and loads from it', async () => {
    const id = randomUUID()
    const aggregate = counter({ snapshots: { every: 3 } })
    await increments(aggregate, id, 7)
    expect(versions(await snapshotsOf(`counter-${id}`))).toEqual([[6, 1]])
    const loaded = await store.load(aggregate, id)
    expect(loaded).toMatchObject({ version: 7n, fromSnapshotAt: 6n, eventsReplayed: 1 })
    expect(loaded.state).toEqual((await store.load(counter(), id)).state)
  })

  it('a function of state and version decides when to snapshot', async () => {
    const id = randomUUID()
    const seen: Array<[number, bigint, number]> = []
    const aggregate = counter({
      snapshots: {
        keep: 10,
        when: (state, version, info) => {
          seen.push([state.count, version, info.eventsSinceSnapshot])
          return state.total >= 10 && version % 2n === 0n
        },
      },
    })
    await increments(aggregate, id, 8) // totals 0,1,3,6,10,15,21,28
    expect(versions(await snapshotsOf(`counter-${id}`))).toEqual([
      [6, 1],
      [8, 1],
    ])
    expect(seen.slice(0, 3)).toEqual([
      [1, 1n, 1],
      [2, 2n, 2],
      [3, 3n, 3],
    ])
    expect(seen.at(-1)).toEqual([8, 8n, 2])
  })

  it('a bare number is every N; a bare function is the `when` policy', async () => {
    const id = randomUUID()
    await increments(counter({ snapshots: 4 }), id, 9)
    expect(versions(await snapshotsOf(`counter-${id}`))).toEqual([[8, 1]])
    const other = randomUUID()
    const byFunction = counter({
      snapshots: (state, version) => state.count === 3 && version === 3n,
    })
    await increments(byFunction, other, 5)
    expect(versions(await snapshotsOf(`counter-${other}`))).toEqual([[3, 1]])
    expect((await store.load(byFunction, other)).fromSnapshotAt).toBe(3n)
    expect(() => counter({ snapshots: 0 })).toThrow(/snapshots.every/)
  })

  it('keeps the newest `keep` snapshots of a stream', async () => {
    const id = randomUUID()
    await increments(counter({ snapshots: { every: 2, keep: 3 } }), id, 11)
    expect(versions(await snapshotsOf(`counter-${id}`))).toEqual([
      [6, 1],
      [8, 1],
      [10, 1],
    ])
  })

  it('a throwing policy is reported and never fails the command', async () => {
    const id = randomUUID()
    const { errors, onError } = collectErrors()
    const aggregate = counter({
      snapshots: {
        when: () => {
          throw new Error('policy bug')
        },
        onError,
      },
    })
    const result = await store.handle(aggregate, id, { type: 'Increment', data: { by: 1 } })
    expect(result.version).toBe(1n)
    expect(errors[0]?.message).toMatch(/policy bug/)
  })

  it('refuses invalid snapshot options when the aggregate is defined', () => {
    expect(() => counter({ snapshots: {} })).toThrow(/give a policy/)
    expect(() => counter({ snapshots: { every: 0 } })).toThrow(/snapshots.every/)
    expect(() => counter({ snapshots: { every: 1, version: 1.5 } })).toThrow(/snapshots.version/)
    expect(() => counter({ snapshots: { every: 1, codec: {} as never } })).toThrow(
      /snapshots.codec/,
    )
  })
})

describe('snapshot versions', () => {
  function account(version: number, movementsWeight: number) {
    const base = bankAccount()
    return defineAggregate({
      category: 'account',
      events: accountEvents,
      commands: base.commands!,
      initialState: base.initialState(),
      snapshots: { every: 2, version },
      // The fold changed: movements count differently in version 2.
      evolve: (state: AccountState, event) => {
        const next = base.evolve(state, event)
        return next.movements === state.movements
          ? next
          : { ...next, movements: state.movements + movementsWeight }
      },
      decide: (command, state) => base.decide(command, state),
    })
  }

  it('ignores a snapshot of another snapshot version, rebuilds from events and replaces it', async () => {
    const id = randomUUID()
    const v1 = account(1, 1)
    await store.handle(v1, id, { type: 'Open', data: { owner: 'Ada' } })
    for (let i = 0; i < 4; i++)
      await store.handle(v1, id, { type: 'Deposit', data: { amount: 10 } })
    expect(versions(await snapshotsOf(`account-${id}`))).toEqual([[4, 1]])
    expect((await store.load(v1, id)).state.movements).toBe(4)

    const v2 = account(2, 10)
    const loaded = await store.load(v2, id)
    expect(loaded.fromSnapshotAt).toBeNull() // the v1 snapshot was not used
    expect(loaded.state.movements).toBe(40) // v2's fold over every event
    expect(loaded.state.balance).toBe(40)
    // Replaced: the load wrote a v2 snapshot, and the v1 one is gone.
    expect(versions(await snapshotsOf(`account-${id}`))).toEqual([[5, 2]])
    expect((await store.load(v2, id)).fromSnapshotAt).toBe(5n)
    // Rolling back to v1 ignores the v2 snapshot in turn.
    const back = await store.load(v1, id)
    expect(back.fromSnapshotAt).toBeNull()
    expect(back.state.movements).toBe(4)
  })

  it('keeps the snapshots of two aggregates folding one stream apart (by name)', async () => {
    const id = randomUUID()
    const a = bankAccount({ every: 1 }, 'account-a')
    const b = bankAccount({ every: 1 }, 'account-b')
    await store.handle(a, id, { type: 'Open', data: { owner: 'Ada' } })
    await store.handle(b, id, { type: 'Deposit', data: { amount: 5 } })
    const rows = await snapshotsOf(`account-${id}`)
    expect(rows.map((r) => [r.aggregate, Number(r.stream_version)])).toEqual([
      ['account-a', 1],
      ['account-b', 2],
    ])
    expect((await store.load(a, id)).state).toEqual((await store.load(b, id)).state)
  })
})

describe('snapshot failures never fail a command', () => {
  it('a refused snapshot write is reported and the command still succeeds', async () => {
    const id = randomUUID()
    const { errors, onError } = collectErrors()
    const refused = bankAccount({ every: 1, onError }, 'refused')
    const opened = await store.handle(refused, id, { type: 'Open', data: { owner: 'Ada' } })
    const deposited = await store.handle(refused, id, { type: 'Deposit', data: { amount: 3 } })
    expect(opened.version).toBe(1n)
    expect(deposited.state.balance).toBe(3)
    expect(await snapshotsOf(`account-${id}`)).toEqual([])
    expect(errors).toHaveLength(2)
    expect(errors[0]).toBeInstanceOf(SnapshotError)
    expect(errors[0]).toMatchObject({
      code: 'SNAPSHOT',
      operation: 'write',
      streamVersion: 1n,
      aggregate: 'refused',
    })
    expect(errors[0]!.message).toMatch(/read-only today/)
    expect((await store.load(refused, id)).state).toEqual(deposited.state)
  })

  it("also reports it to the store's onError", async () => {
    const reported: unknown[] = []
    const observed = await db.store({
      events: { ...accountEvents, ...richEvents },
      onError: (error) => reported.push(error),
    })
    const { onError } = collectErrors()
    await observed.handle(bankAccount({ every: 1, onError }, 'refused'), randomUUID(), {
      type: 'Open',
      data: { owner: 'Ada' },
    })
    expect(reported).toHaveLength(1)
    expect(reported[0]).toBeInstanceOf(SnapshotError)
  })

  it('reports a failed write as a process warning by default', async () => {
    const warnings: Error[] = []
    const listener = (warning: Error) => warnings.push(warning)
    process.on('warning', listener)
    try {
      await store.handle(bankAccount({ every: 1 }, 'refused'), randomUUID(), {
        type: 'Open',
        data: { owner: 'Ada' },
      })
      await new Promise((resolve) => setImmediate(resolve))
    } finally {
      process.off('warning', listener)
    }
    expect(warnings.some((w) => /Snapshot write failed/.test(w.message))).toBe(true)
  })

  it('a state the codec cannot encode is reported and the command succeeds', async () => {
    class Ledger {
      constructor(readonly total: number) {}
    }
    const { errors, onError } = collectErrors()
    const ledger = defineAggregate({
      category: 'ledger',
      events: counterEvents,
      commands: { Add: z.object({ by: z.number().int() }) },
      initialState: new Ledger(0),
      snapshots: { every: 1, onError },
      evolve: (state, event) => new Ledger(state.total + event.data.by),
      decide: (command) => [{ type: 'Incremented', data: { by: command.data.by } }],
    })
    const id = randomUUID()
    const result = await store.handle(ledger, id, { type: 'Add', data: { by: 2 } })
    expect(result.state.total).toBe(2)
    expect(errors[0]).toMatchObject({ operation: 'encode' })
    expect(errors[0]!.message).toMatch(/instance of Ledger.*give the aggregate a snapshot codec/)
    await expect(snapshotAggregate(store, ledger, id)).rejects.toThrow(SnapshotError)
  })

  it('a snapshot that cannot be decoded is reported, ignored and replaced', async () => {
    const id = randomUUID()
    const { errors, onError } = collectErrors()
    const strict: SnapshotCodec<{ total: number; count: number }> = {
      encode: (state) => ({ ...state, checksum: state.total * 7 }),
      decode: (stored) => {
        const s = stored as { total: number; count: number; checksum: number }
        if (s.checksum !== s.total * 7) throw new Error('checksum mismatch')
        return { total: s.total, count: s.count }
      },
    }
    const aggregate = counter({ snapshots: { every: 2, codec: strict, onError } })
    await increments(aggregate, id, 4)
    await db.query(
      `UPDATE strata.snapshots SET state = jsonb_set(state, '{total}', '999') WHERE stream_id = $1`,
      [`counter-${id}`],
    )
    const loaded = await store.load(aggregate, id)
    expect(loaded.state).toEqual({ total: 6, count: 4 })
    expect(loaded.fromSnapshotAt).toBeNull()
    expect(errors[0]).toMatchObject({ operation: 'decode', streamVersion: 4n })
    const [row] = await snapshotsOf(`counter-${id}`)
    expect(row!.state).toEqual({ total: 6, count: 4, checksum: 42 })
    expect((await store.load(aggregate, id)).fromSnapshotAt).toBe(4n)
  })
})

describe('state round trip', () => {
  interface Rich {
    opened: Date | null
    total: bigint
    byAmount: Map<number, { count: number; last: Date }>
    tags: Set<string>
    note: string | undefined
  }
  const rich = (snapshots: boolean) =>
    defineAggregate({
      category: 'rich',
      events: richEvents,
      commands: { Open: z.object({ at: z.string() }), Add: z.object({ by: z.number().int() }) },
      initialState: (): Rich => ({
        opened: null,
        total: 0n,
        byAmount: new Map(),
        tags: new Set(),
        note: undefined,
      }),
      ...(snapshots ? { snapshots: { every: 1 } } : {}),
      evolve: (state, event): Rich => {
        if (event.type === 'Opened') return { ...state, opened: new Date(event.data.at) }
        const byAmount = new Map(state.byAmount)
        byAmount.set(event.data.by, {
          count: (byAmount.get(event.data.by)?.count ?? 0) + 1,
          last: new Date(Date.UTC(2024, 0, event.data.by)),
        })
        return {
          ...state,
          total: state.total * 3n + BigInt(event.data.by) + 2n ** 70n,
          byAmount,
          tags: new Set([...state.tags, `t${event.data.by % 3}`]),
        }
      },
      decide: (command) =>
        command.type === 'Open'
          ? [{ type: 'Opened', data: { at: command.data.at } }]
          : [{ type: 'Incremented', data: { by: command.data.by } }],
    })

  it('Date, bigint, Map, Set and undefined survive the snapshot round trip with the default codec', async () => {
    const id = randomUUID()
    const aggregate = rich(true)
    await store.handle(aggregate, id, { type: 'Open', data: { at: '2024-02-29T12:00:00.000Z' } })
    for (const by of [5, 1, 5, 9]) await store.handle(aggregate, id, { type: 'Add', data: { by } })
    const fromSnapshot = await store.load(aggregate, id)
    expect(fromSnapshot.fromSnapshotAt).toBe(5n)
    const replayed = await store.load(rich(false), id)
    expect(fromSnapshot.state).toStrictEqual(replayed.state)
    expect(fromSnapshot.state.opened).toBeInstanceOf(Date)
    expect(typeof fromSnapshot.state.total).toBe('bigint')
    expect(fromSnapshot.state.byAmount.get(5)).toEqual({
      count: 2,
      last: new Date(Date.UTC(2024, 0, 5)),
    })
    expect(fromSnapshot.state.tags).toEqual(new Set(['t2', 't1', 't0']))
  })

  it('a per-aggregate codec decides how the state is stored', async () => {
    class Tally {
      constructor(readonly values: readonly number[]) {}
      get sum() {
        return this.values.reduce((a, b) => a + b, 0)
      }
    }
    const tallyCodec: SnapshotCodec<Tally> = {
      encode: (tally) => tally.values.join(','),
      decode: (stored) => new Tally(String(stored).split(',').filter(Boolean).map(Number)),
    }
    const tally = defineAggregate({
      category: 'tally',
      events: counterEvents,
      commands: { Add: z.object({ by: z.number().int() }) },
      initialState: () => new Tally([]),
      snapshots: { every: 2, codec: tallyCodec },
      evolve: (state, event) => new Tally([...state.values, event.data.by]),
      decide: (command) => [{ type: 'Incremented', data: { by: command.data.by } }],
    })
    const id = randomUUID()
    for (const by of [3, 4, 5, 6]) await store.handle(tally, id, { type: 'Add', data: { by } })
    const [row] = await snapshotsOf(`tally-${id}`)
    expect(row!.state).toBe('3,4,5,6')
    const loaded = await store.load(tally, id)
    expect(loaded.fromSnapshotAt).toBe(4n)
    expect(loaded.state).toBeInstanceOf(Tally)
    expect(loaded.state.sum).toBe(18)
  })
})

describe('snapshot validity', () => {
  it('a snapshot of a soft-deleted stream is never used after it restarts', async () => {
    const id = randomUUID()
    const aggregate = counter({ snapshots: { every: 1 } })
    await increments(aggregate, id, 3)
    await store.deleteStream(`counter-${id}`)
    const afterDelete = await store.load(aggregate, id)
    expect(afterDelete).toMatchObject({
      state: { total: 0, count: 0 },
      version: 0n,
      fromSnapshotAt: null,
    })
    const restarted = await store.handle(aggregate, id, { type: 'Increment', data: { by: 100 } })
    expect(restarted.state).toEqual({ total: 100, count: 1 })
    expect(restarted.version).toBe(4n)
    const loaded = await store.load(aggregate, id)
    expect(loaded.state).toEqual({ total: 100, count: 1 })
    expect(loaded.fromSnapshotAt).toBe(4n)
  })

  it('writeOnLoad: false keeps loads read-only', async () => {
    const id = randomUUID()
    await increments(counter(), id, 5)
    await store.load(counter({ snapshots: { every: 2, writeOnLoad: false } }), id)
    expect(await snapshotsOf(`counter-${id}`)).toEqual([])
    await store.load(counter({ snapshots: { every: 2 } }), id)
    expect(versions(await snapshotsOf(`counter-${id}`))).toEqual([[5, 1]])
  })

  it('snapshotAggregate takes a snapshot now, whatever the policy', async () => {
    const id = randomUUID()
    const aggregate = counter({ snapshots: { every: 1000 } })
    await increments(aggregate, id, 3)
    expect(await snapshotsOf(`counter-${id}`)).toEqual([])
    expect(await snapshotAggregate(store, aggregate, id)).toEqual({
      streamId: `counter-${id}`,
      version: 3n,
      written: true,
    })
    expect(versions(await snapshotsOf(`counter-${id}`))).toEqual([[3, 1]])
    expect((await snapshotAggregate(store, aggregate, randomUUID())).written).toBe(false)
    await expect(snapshotAggregate(store, counter(), id)).rejects.toThrow(InvalidArgumentError)
  })
})

describe('truncateAggregate', () => {
  it('truncates the prefix behind a snapshot; loads, commands and scavenge keep the state', async () => {
    const id = randomUUID()
    const aggregate = counter({ snapshots: { every: 1000 } })
    await increments(aggregate, id, 20)
    const before = await store.load(aggregate, id)
    const result = await truncateAggregate(store, aggregate, id)
    expect(result).toEqual({ streamId: `counter-${id}`, truncateBefore: 20n })
    expect(
      (await snapshotsOf(`counter-${id}`)).map((r) => [Number(r.stream_version), r.pinned]),
    ).toEqual([[20, true]])
    expect((await store.readStream(`counter-${id}`)).map((e) => e.version)).toEqual([20n])
    expect((await store.getStreamInfo(`counter-${id}`)).metadata.truncateBefore).toBe(20n)
    const deleted = await store.scavenge()
    expect(deleted.deletedEvents).toBeGreaterThanOrEqual(19)
    const loaded = await store.load(aggregate, id)
    expect(loaded.state).toEqual(before.state)
    expect(loaded.fromSnapshotAt).toBe(20n)
    const next = await store.handle(aggregate, id, { type: 'Increment', data: { by: 1000 } })
    expect(next.state).toEqual({ total: before.state.total + 1000, count: 21 })
    // The pinned snapshot survives pruning by later snapshots.
    await snapshotAggregate(store, aggregate, id)
    expect(
      (await snapshotsOf(`counter-${id}`)).map((r) => [Number(r.stream_version), r.pinned]),
    ).toEqual([
      [20, true],
      [21, false],
    ])
  })

  it('time travel works from the truncation point on and refuses to go before it', async () => {
    const id = randomUUID()
    const aggregate = counter({ snapshots: { every: 5, keep: 5 } })
    await increments(aggregate, id, 20) // snapshots at 5, 10, 15, 20
    await truncateAggregate(store, aggregate, id, { before: 10n })
    const at12 = await store.load(aggregate, id, { asOfVersion: 12n })
    expect(at12).toMatchObject({ version: 12n, fromSnapshotAt: 10n, state: { count: 12 } })
    await expect(store.load(aggregate, id, { asOfVersion: 9n })).rejects.toThrow(
      SnapshotRequiredError,
    )
    expect((await store.load(aggregate, id, { asOfVersion: 0n })).state).toEqual({
      total: 0,
      count: 0,
    })
  })

  it('refuses to truncate what no snapshot covers, changing nothing', async () => {
    const id = randomUUID()
    const aggregate = counter({ snapshots: { every: 1000 } })
    await increments(aggregate, id, 5)
    const error = await truncateAggregate(store, aggregate, id, { before: 9n }).catch(
      (e: unknown) => e,
    )
    expect(error).toBeInstanceOf(SnapshotRequiredError)
    expect((error as Error).message).toMatch(/cannot truncate before version 9: no usable snapshot/)
    expect((await store.getStreamInfo(`counter-${id}`)).metadata.truncateBefore).toBeNull()
    await expect(truncateAggregate(store, counter(), id)).rejects.toThrow(/takes no snapshots/)
    await expect(truncateAggregate(store, aggregate, randomUUID())).rejects.toThrow(
      /no events to truncate/,
    )
    await expect(truncateAggregate(store, aggregate, id, { before: 0n })).rejects.toThrow(
      InvalidArgumentError,
    )
  })

  it('never moves truncateBefore back', async () => {
    const id = randomUUID()
    const aggregate = counter({ snapshots: { every: 2, keep: 10 } })
    await increments(aggregate, id, 8)
    await truncateAggregate(store, aggregate, id, { before: 6n })
    const result = await truncateAggregate(store, aggregate, id, { before: 4n }).catch(
      (e: unknown) => e,
    )
    // Version 4's event is hidden now, so its snapshot no longer counts; 6 still covers it.
    expect(result).toEqual({ streamId: `counter-${id}`, truncateBefore: 6n })
  })

  it('after a snapshot version bump, a truncated stream fails loudly instead of folding a partial history', async () => {
    const id = randomUUID()
    await increments(counter({ snapshots: { every: 1000 } }), id, 10)
    await truncateAggregate(store, counter({ snapshots: { every: 1000 } }), id)
    const bumped = counter({ snapshots: { every: 1000, version: 2 } })
    const error = await store.load(bumped, id).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(SnapshotRequiredError)
    expect((error as Error).message).toMatch(
      /truncated before version 10 behind the snapshot at version 10.*only uses snapshot version 2/,
    )
    await expect(store.handle(bumped, id, { type: 'Increment', data: { by: 1 } })).rejects.toThrow(
      SnapshotRequiredError,
    )
    await expect(store.load(counter(), id)).rejects.toThrow(/it takes no snapshots/)
    // Restoring the prefix (not scavenged yet) makes the stream loadable again.
    await store.setStreamMetadata(`counter-${id}`, { truncateBefore: null })
    expect((await store.load(bumped, id)).state).toEqual({ total: 45, count: 10 })
  })

  it('a prefix hidden directly with setStreamMetadata and no covering snapshot fails loads instead of folding the rest', async () => {
    const id = randomUUID()
    await increments(counter(), id, 5)
    await store.setStreamMetadata(`counter-${id}`, { truncateBefore: 4n })
    const error = await store.load(counter(), id).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(SnapshotRequiredError)
    expect((error as Error).message).toMatch(/hidden by truncateBefore or retention/)
    await expect(
      store.handle(counter(), id, { type: 'Increment', data: { by: 1 } }),
    ).rejects.toThrow(SnapshotRequiredError)
    // Retention hides a prefix the same way.
    await store.setStreamMetadata(`counter-${id}`, { truncateBefore: null, maxCount: 2 })
    await expect(store.load(counter(), id, { asOfVersion: 5n })).rejects.toThrow(
      SnapshotRequiredError,
    )
    await store.setStreamMetadata(`counter-${id}`, {})
    expect((await store.load(counter(), id)).state).toEqual({ total: 10, count: 5 })
    expect((await store.readStream(`counter-${id}`)).length).toBe(5)
  })

  it('a soft delete after a truncation starts the aggregate afresh', async () => {
    const id = randomUUID()
    const aggregate = counter({ snapshots: { every: 1000 } })
    await increments(aggregate, id, 4)
    await truncateAggregate(store, aggregate, id)
    await store.deleteStream(`counter-${id}`)
    const restarted = await store.handle(aggregate, id, { type: 'Increment', data: { by: 7 } })
    expect(restarted.state).toEqual({ total: 7, count: 1 })
    expect((await store.load(aggregate, id)).state).toEqual({ total: 7, count: 1 })
  })
})
