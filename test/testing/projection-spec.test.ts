import { beforeAll, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { defineProjection, EventValidationError, type EventStore } from '../../src/index.js'
import { projectionSpec, SpecAssertionError } from '../../src/testing/index.js'
import { balances, bankEvents } from '../projections/fixtures.js'
import { useTestDatabase } from '../support/test-database.js'

const db = useTestDatabase()
let store: EventStore<typeof bankEvents>

beforeAll(async () => {
  store = await db.store({ events: bankEvents })
})

describe('projectionSpec', () => {
  it('given events, expect read-model rows', async () => {
    await projectionSpec(store, balances())
      .given([
        { streamId: 'account-1', type: 'Opened', data: { owner: 'ada' } },
        { streamId: 'account-1', type: 'Deposited', data: { amount: 30 } },
        { streamId: 'account-2', type: 'Opened', data: { owner: 'bob' } },
        { streamId: 'account-1', type: 'Withdrawn', data: { amount: 5 } },
      ])
      .expectRows('accounts', [
        { id: 'account-2', owner: 'bob', balance: 0 },
        { id: 'account-1', owner: 'ada', balance: 25 },
      ])
  })

  it('fails with a diff when the rows differ, and leaves nothing behind', async () => {
    const error = await projectionSpec(store, balances())
      .given([{ streamId: 'account-9', type: 'Opened', data: { owner: 'eve' } }])
      .expectRows('accounts', [{ id: 'account-9', balance: 100 }], { orderBy: ['id'] })
      .catch((e: unknown) => e)
    expect(error).toBeInstanceOf(SpecAssertionError)
    expect(error).toMatchObject({
      actual: [{ id: 'account-9', balance: 0 }],
      expected: [{ id: 'account-9', balance: 100 }],
    })
    const leftovers = await db.query(
      `SELECT nspname FROM pg_namespace WHERE nspname LIKE 'balances_spec_%'`,
    )
    expect(leftovers).toEqual([])
    expect((await store.readAll()).events).toEqual([])
  })

  it('given events go through the registry as appends do: defaults applied, invalid data refused', async () => {
    const events = { Priced: z.object({ sku: z.string(), currency: z.string().default('EUR') }) }
    const prices = defineProjection<typeof events, { prices: { sku: string; currency: string } }>({
      name: 'prices',
      version: 1,
      events,
      setup: async (rm) => {
        await rm.schema
          .createTable('prices')
          .addColumn('sku', 'text')
          .addColumn('currency', 'text')
          .execute()
      },
      handlers: {
        Priced: async (event, rm) => {
          await rm.insertInto('prices').values(event.data).execute()
        },
      },
    })
    await projectionSpec(store, prices)
      .given([{ streamId: 'sku-1', type: 'Priced', data: { sku: 'a' } }])
      .expectRows('prices', [{ sku: 'a', currency: 'EUR' }])
    const error = await projectionSpec(store, prices)
      // @ts-expect-error sku must be a string: refused at compile time, and at run time too
      .given([{ streamId: 'sku-1', type: 'Priced', data: { sku: 1 } }])
      .rows('prices')
      .catch((e: unknown) => e)
    expect(error).toBeInstanceOf(EventValidationError)
    expect(error).toMatchObject({ eventType: 'Priced' })
  })
})
