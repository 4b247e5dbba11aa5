import { z } from 'zod'
import { defineProjection, type EventStore, type RecordedEvent } from '../../src/index.js'

export const bankEvents = {
  Opened: z.object({ owner: z.string() }),
  Deposited: z.object({ amount: z.number() }),
  Withdrawn: z.object({ amount: z.number() }),
}

export interface BankDb {
  accounts: { id: string; owner: string; balance: number; events: number }
}

/** Account balances; `factor` multiplies amounts (a "v2" with other logic). */
export function balances(version = 1, options: { factor?: number; name?: string } = {}) {
  const factor = options.factor ?? 1
  return defineProjection<typeof bankEvents, BankDb>({
    name: options.name ?? 'balances',
    version,
    events: bankEvents,
    setup: async (db) => {
      await db.schema
        .createTable('accounts')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('owner', 'text', (c) => c.notNull())
        .addColumn('balance', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('events', 'integer', (c) => c.notNull().defaultTo(0))
        .execute()
    },
    handlers: {
      Opened: async (event, db) => {
        await db
          .insertInto('accounts')
          .values({ id: event.streamId, owner: event.data.owner, balance: 0, events: 1 })
          .execute()
      },
      Deposited: async (event, db) => {
        await db
          .updateTable('accounts')
          .set((eb) => ({
            balance: eb('balance', '+', event.data.amount * factor),
            events: eb('events', '+', 1),
          }))
          .where('id', '=', event.streamId)
          .execute()
      },
      Withdrawn: async (event, db) => {
        await db
          .updateTable('accounts')
          .set((eb) => ({
            balance: eb('balance', '-', event.data.amount * factor),
            events: eb('events', '+', 1),
          }))
          .where('id', '=', event.streamId)
          .execute()
      },
    },
  })
}

/** The read model a fold from scratch over the log gives. */
export async function foldBalances(
  store: EventStore,
  factor = 1,
): Promise<Map<string, { balance: number; events: number }>> {
  const accounts = new Map<string, { balance: number; events: number }>()
  let after = 0n
  for (;;) {
    const page = await store.readAll({
      after,
      filter: { eventTypes: ['Opened', 'Deposited', 'Withdrawn'] },
    })
    for (const e of page.events as RecordedEvent<string, { amount?: number }>[]) {
      if (e.type === 'Opened') accounts.set(e.streamId, { balance: 0, events: 1 })
      const account = accounts.get(e.streamId)
      if (account === undefined) continue // the projection updates no row for an unopened account
      if (e.type === 'Deposited') account.balance += e.data.amount! * factor
      if (e.type === 'Withdrawn') account.balance -= e.data.amount! * factor
      if (e.type !== 'Opened') account.events++
    }
    after = page.lastPosition
    if (page.isEnd) return accounts
  }
}

export async function readBalances(store: EventStore, name = 'balances') {
  const rows = await store.pool.query<{ id: string; balance: number; events: number }>(
    `SELECT id, balance, events FROM ${name}.accounts ORDER BY id`,
  )
  return new Map(rows.rows.map((r) => [r.id, { balance: r.balance, events: r.events }]))
}
