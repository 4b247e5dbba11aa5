/**
 * Account balances as a projection: a read model kept from $all by a runner (exactly-once, with
 * a lease), rebuilt as version 2 beside version 1 while appends go on, and a live subscription.
 * Run: `npx tsx examples/02-projection/main.ts` (DATABASE_URL, or an embedded Postgres).
 */
import { z } from 'zod'
import { createEventStore, defineProjection, handleEach } from 'pg-strata'
import { acquireDatabase } from 'pg-strata/dev'
import { firstValueFrom, take, toArray } from 'rxjs'

const events = {
  AccountOpened: z.object({ owner: z.string() }),
  MoneyDeposited: z.object({ amount: z.number().positive() }),
  MoneyWithdrawn: z.object({ amount: z.number().positive() }),
}

interface ReadModel {
  accounts: { id: string; owner: string; balance: number; last_position: string }
}

// #region projection
/** Bumping the version (here with the same handlers) rebuilds the read model beside the old one. */
const balances = (version: 1 | 2) =>
  defineProjection<typeof events, ReadModel>({
    name: 'balances',
    version,
    events,
    setup: async (db) => {
      await db.schema
        .createTable('accounts')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('owner', 'text', (c) => c.notNull())
        .addColumn('balance', 'numeric', (c) => c.notNull().defaultTo(0))
        .addColumn('last_position', 'bigint', (c) => c.notNull())
        .execute()
    },
    handlers: {
      AccountOpened: async (event, db) => {
        await db
          .insertInto('accounts')
          .values({
            id: event.streamId,
            owner: event.data.owner,
            balance: 0,
            last_position: event.position.toString(),
          })
          .execute()
      },
      MoneyDeposited: async (event, db) => {
        await db
          .updateTable('accounts')
          .set((eb) => ({
            balance: eb('balance', '+', event.data.amount),
            last_position: event.position.toString(),
          }))
          .where('id', '=', event.streamId)
          .execute()
      },
      MoneyWithdrawn: async (event, db) => {
        await db
          .updateTable('accounts')
          .set((eb) => ({
            balance: eb('balance', '-', event.data.amount),
            last_position: event.position.toString(),
          }))
          .where('id', '=', event.streamId)
          .execute()
      },
    },
  })
// #endregion projection

const database = await acquireDatabase()
const store = createEventStore({ connectionString: database.url }, { events, schema: 'bank' })
await store.migrate()

const ada = `account-${crypto.randomUUID().slice(0, 8)}`
await store.appendToStream(ada, [
  { type: 'AccountOpened', data: { owner: 'Ada' } },
  { type: 'MoneyDeposited', data: { amount: 100 } },
])

// A live subscription to the category, handled one event at a time (backpressure).
const seen = firstValueFrom(
  store.subscribeToCategory('account', { from: 'start' }).pipe(
    handleEach((event) => `${event.type}@${event.position}`),
    take(4),
    toArray(),
  ),
)

// Version 1 catches up, activates, then follows live.
const v1 = store.runProjection(balances(1))
await new Promise<void>((resolve) => v1.state$.subscribe((state) => state === 'live' && resolve()))
await store.appendToStream(ada, [{ type: 'MoneyWithdrawn', data: { amount: 30 } }])
await new Promise((resolve) => setTimeout(resolve, 300))
const served = await store.pool.query<{ id: string; balance: string }>(
  'SELECT id, balance FROM balances.accounts',
)
console.log('version 1 serves:', served.rows)

// Version 2 builds beside version 1 while appends continue, then takes over once caught up.
const v2 = store.runProjection(balances(2))
v2.progress$.subscribe((p) =>
  console.log(`  v2 progress: ${p.done}/${p.total} positions, ${p.state}`),
)
await store.appendToStream(ada, [{ type: 'MoneyDeposited', data: { amount: 5 } }])
await new Promise<void>((resolve) => v2.state$.subscribe((state) => state === 'live' && resolve()))
for (const status of await store.projectionStatus('balances')) {
  console.log(
    `balances v${status.version}: ${status.status}, position ${status.position}, ${status.behind} behind`,
  )
}
const readModel = await store.readModel(balances(2))
const row = await readModel!
  .selectFrom('accounts')
  .selectAll()
  .where('id', '=', ada)
  .executeTakeFirst()
console.log('version 2 serves:', row)
console.log('the subscription saw:', await seen)

await v1.stop()
await v2.stop()
await store.close()
await database.release()
