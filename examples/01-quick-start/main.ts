/**
 * Quick start: typed events, optimistic concurrency, reading a stream, $all and a live subscription.
 * Runs on DATABASE_URL, or on an embedded Postgres when it is unset: `npx tsx examples/01-quick-start/main.ts`.
 */
import { firstValueFrom, take, toArray } from 'rxjs'
// #region quick-start
import { z } from 'zod'
import { createEventStore, WrongExpectedVersionError } from 'pg-strata'
import { acquireDatabase } from 'pg-strata/dev'

const database = await acquireDatabase() // DATABASE_URL, else a container, else embedded Postgres
const store = createEventStore(
  { connectionString: database.url },
  { events: { Deposited: z.object({ amount: z.number().positive() }) } },
)
await store.migrate()

const account = `account-${crypto.randomUUID()}`
const first = await store.appendToStream(account, [{ type: 'Deposited', data: { amount: 100 } }], {
  expectedVersion: 'no_stream', // optimistic concurrency: fails if the stream exists
})
await store.appendToStream(account, [{ type: 'Deposited', data: { amount: 5 } }], {
  expectedVersion: first.nextExpectedVersion,
})
await store
  .appendToStream(account, [{ type: 'Deposited', data: { amount: 1 } }], { expectedVersion: 1n })
  .catch((e: unknown) =>
    console.log(e instanceof WrongExpectedVersionError && `stale: ${e.message}`),
  )

for (const event of await store.readStream(account))
  console.log(`v${event.version}: +${event.data.amount}`)
const page = await store.readAll({ filter: { category: 'account' } }) // { events, lastPosition, isEnd }
// #endregion quick-start

console.log(
  `$all (category account): ${page.events.length} events up to position ${page.lastPosition}`,
)
const live = firstValueFrom(
  store.subscribeToStream(account, { from: 'start' }).pipe(take(3), toArray()),
)
await store.appendToStream(account, [{ type: 'Deposited', data: { amount: 7 } }])
console.log(`live subscription: ${(await live).map((e) => e.data.amount).join(', ')}`)

await store.close()
await database.release()
