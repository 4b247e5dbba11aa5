import { randomUUID } from 'node:crypto'
import { firstValueFrom, take, toArray } from 'rxjs'
import { beforeAll, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { defineAggregate, defineEvent, UpcastError, type EventStore } from '../../src/index.js'
import { useTestDatabase } from '../support/test-database.js'
import { DepositedV1, DepositedV2, DepositedV3, depositedV3 } from './fixtures.js'

const db = useTestDatabase()

// Three deployments of one application over the years, sharing one database.
const v1Events = { Deposited: DepositedV1 }
const v2Events = {
  Deposited: defineEvent(DepositedV2, {
    upcast: { 1: (v1: z.output<typeof DepositedV1>) => ({ ...v1, currency: 'EUR' }) },
  }),
}
const v3Events = { Deposited: depositedV3 }
// The same v3 chain, written as a record of upcasters instead of a typed chain.
const v3RecordEvents = {
  Deposited: defineEvent(DepositedV3, {
    version: 3,
    upcast: {
      1: (v1: { amount: number }) => ({ ...v1, currency: 'EUR' }),
      2: (v2: { amount: number; currency: string }) => ({
        cents: Math.round(v2.amount * 100),
        currency: v2.currency,
      }),
    },
  }),
}

let v1: EventStore<typeof v1Events>
let v2: EventStore<typeof v2Events>
let v3: EventStore<typeof v3Events>
let v3Record: EventStore<typeof v3RecordEvents>

beforeAll(async () => {
  v1 = await db.store({ events: v1Events })
  v2 = await db.store({ events: v2Events })
  v3 = await db.store({ events: v3Events })
  v3Record = await db.store({ events: v3RecordEvents })
})

const wallet = defineAggregate({
  category: 'wallet',
  events: v3Events,
  commands: { Deposit: z.object({ cents: z.number().int().positive(), currency: z.string() }) },
  initialState: { cents: 0, currencies: [] as string[] },
  evolve: (state, event) => ({
    cents: state.cents + event.data.cents, // typed as the v3 payload
    currencies: [...state.currencies, event.data.currency],
  }),
  decide: (command) => [{ type: 'Deposited', data: command.data }],
})

async function storedRows(streamId: string) {
  return db.query<{ data: unknown; data_version: number }>(
    'SELECT data, data_version FROM strata.events WHERE stream_id = $1 ORDER BY version',
    [streamId],
  )
}

/** A wallet stream with one event written by each deployment. */
async function walletAcrossVersions() {
  const id = randomUUID()
  const streamId = `wallet-${id}`
  await v1.appendToStream(streamId, [{ type: 'Deposited', data: { amount: 1.5 } }])
  await v2.appendToStream(streamId, [{ type: 'Deposited', data: { amount: 2, currency: 'USD' } }])
  await v3.appendToStream(streamId, [
    { type: 'Deposited', data: { cents: 300, currency: 'GBP', note: 'v3' } },
  ])
  return { id, streamId }
}

const asV3 = [
  { cents: 150, currency: 'EUR', note: '' },
  { cents: 200, currency: 'USD', note: '' },
  { cents: 300, currency: 'GBP', note: 'v3' },
]

describe('event schema evolution', () => {
  it('stamps each event with the schema version it was written under, and never rewrites it', async () => {
    const { streamId } = await walletAcrossVersions()
    await v3.readStream(streamId)
    await v3.readAll({ filter: { category: 'wallet' } })
    expect(await storedRows(streamId)).toEqual([
      { data: { amount: 1.5 }, data_version: 1 },
      { data: { amount: 2, currency: 'USD' }, data_version: 2 },
      { data: { cents: 300, currency: 'GBP', note: 'v3' }, data_version: 3 },
    ])
  })

  it('reads stored v1 and v2 events as v3 through readStream, chaining the upcasters', async () => {
    const { streamId } = await walletAcrossVersions()
    expect((await v3.readStream(streamId)).map((e) => e.data)).toEqual(asV3)
    expect((await v3Record.readStream(streamId)).map((e) => e.data)).toEqual(asV3)
  })

  it('reads them as v3 through readAll', async () => {
    const { streamId } = await walletAcrossVersions()
    let after = 0n
    const seen: unknown[] = []
    for (;;) {
      const page = await v3.readAll({ after, filter: { streamIdPrefix: streamId } })
      seen.push(...page.events.map((e) => e.data))
      after = page.lastPosition
      if (page.isEnd) break
    }
    expect(seen).toEqual(asV3)
  })

  it('subscriptions deliver them as v3', async () => {
    const { streamId } = await walletAcrossVersions()
    const delivered = await firstValueFrom(v3.subscribeToStream(streamId).pipe(take(3), toArray()))
    expect(delivered.map((e) => e.data)).toEqual(asV3)
  })

  it('an older deployment still reads what it knows, and newer payloads unchanged', async () => {
    const { streamId } = await walletAcrossVersions()
    expect((await v2.readStream(streamId)).map((e) => e.data)).toEqual([
      { amount: 1.5, currency: 'EUR' },
      { amount: 2, currency: 'USD' },
      { cents: 300, currency: 'GBP', note: 'v3' }, // stored under v3, which v2 does not know
    ])
  })

  it('aggregates fold upcast events, with and without snapshots, and in time travel', async () => {
    const { id } = await walletAcrossVersions()
    expect((await v3.load(wallet, id)).state).toEqual({
      cents: 650,
      currencies: ['EUR', 'USD', 'GBP'],
    })
    expect((await v3.load(wallet, id, { asOfVersion: 1n })).state).toEqual({
      cents: 150,
      currencies: ['EUR'],
    })
    const result = await v3.handle(wallet, id, {
      type: 'Deposit',
      data: { cents: 50, currency: 'EUR' },
    })
    expect(result.state.cents).toBe(700)
    const snapshotting = defineAggregate({ ...walletOptions(), snapshots: { every: 1 } })
    await v3.load(snapshotting, id) // writes a snapshot of the upcast fold
    const fromSnapshot = await v3.load(snapshotting, id)
    expect(fromSnapshot.fromSnapshotAt).toBe(4n)
    expect(fromSnapshot.state).toEqual(result.state)
  })
})

function walletOptions() {
  return {
    category: 'wallet',
    events: v3Events,
    commands: { Deposit: z.object({ cents: z.number().int() }) },
    initialState: { cents: 0, currencies: [] as string[] },
    evolve: (
      state: { cents: number; currencies: string[] },
      event: { data: { cents: number; currency: string } },
    ) => ({
      cents: state.cents + event.data.cents,
      currencies: [...state.currencies, event.data.currency],
    }),
    decide: () => [],
  }
}

describe('upcasting failures', () => {
  it('an upcaster that throws fails the read with UpcastError naming the versions', async () => {
    const broken = await db.store({
      events: {
        Deposited: defineEvent(DepositedV2, {
          upcast: {
            1: () => {
              throw new Error('cannot guess the currency')
            },
          },
        }),
      },
    })
    const { streamId } = await walletAcrossVersions()
    const error = await broken.readStream(streamId).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(UpcastError)
    expect(error).toMatchObject({
      code: 'UPCAST',
      eventType: 'Deposited',
      fromVersion: 1,
      toVersion: 2,
    })
    expect((error as Error).message).toMatch(
      /from version 1 to 2 failed: cannot guess the currency/,
    )
    expect((error as Error).cause).toBeInstanceOf(Error)
  })

  it('an upcaster whose result does not match the next schema fails with the zod issues', async () => {
    const sloppy = await db.store({
      events: {
        Deposited: defineEvent(DepositedV1)
          .nextVersion(DepositedV2, (v1) => ({ ...v1, currency: 'EUR' }))
          .nextVersion(DepositedV3, (v2) => ({ cents: v2.amount, currency: v2.currency })), // forgot * 100
      },
    })
    const { streamId } = await walletAcrossVersions()
    const error = await sloppy.readStream(streamId).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(UpcastError)
    expect((error as UpcastError).toVersion).toBe(3)
    expect((error as UpcastError).issues[0]!.path).toEqual(['cents'])
    expect((error as Error).message).toMatch(/does not match the version 3 schema at data.cents/)
  })

  it('validateUpcasts: false hands readers the upcaster output as it is', async () => {
    const lenient = await db.store({
      events: {
        Deposited: defineEvent(DepositedV3, {
          validateUpcasts: false,
          upcast: {
            1: (v1: { amount: number }) => ({ ...v1, currency: 'EUR' }),
            2: (v2: object) => ({ ...v2, raw: true }),
          },
        }),
      },
    })
    const { streamId } = await walletAcrossVersions()
    const [first] = await lenient.readStream(streamId)
    expect(first!.data).toEqual({ amount: 1.5, currency: 'EUR', raw: true })
  })

  it('refuses an incomplete chain when the event is defined', () => {
    expect(() => defineEvent(DepositedV3, { version: 3, upcast: { 2: (d: object) => d } })).toThrow(
      /upcast\[1\] is missing/,
    )
    expect(() => defineEvent(DepositedV3, { version: 0 })).toThrow(RangeError)
  })
})
