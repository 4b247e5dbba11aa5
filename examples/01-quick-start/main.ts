/**
 * Quick start: typed events, optimistic concurrency, reading a stream and $all.
 * Runs on DATABASE_URL, or on an embedded Postgres when it is unset: `npx tsx examples/01-quick-start/main.ts`.
 */
// #region quick-start
import { z } from 'zod'
import { acquireDatabase, createEventStore, WrongExpectedVersionError } from 'strata'

const database = await acquireDatabase() // DATABASE_URL, else a container, else embedded Postgres
const store = createEventStore(
  { connectionString: database.url },
  {
    events: {
      AccountOpened: z.object({ owner: z.string() }),
      MoneyDeposited: z.object({ amount: z.number().positive() }),
    },
  },
)
await store.migrate()

const account = `account-${crypto.randomUUID()}`
const opened = await store.appendToStream(
  account,
  [{ type: 'AccountOpened', data: { owner: 'Ada' } }],
  {
    expectedVersion: 'no_stream',
  },
)
await store.appendToStream(account, [{ type: 'MoneyDeposited', data: { amount: 100 } }], {
  expectedVersion: opened.nextExpectedVersion, // optimistic concurrency
})

try {
  await store.appendToStream(account, [{ type: 'MoneyDeposited', data: { amount: 5 } }], {
    expectedVersion: 1n,
  })
} catch (error) {
  if (!(error instanceof WrongExpectedVersionError)) throw error
  console.log(`conflict: stream is at ${error.actual}, not ${error.expected}`)
}

for (const event of await store.readStream(account)) {
  if (event.type === 'MoneyDeposited')
    console.log(`v${event.version}: deposited ${event.data.amount}`)
  else console.log(`v${event.version}: opened by ${event.data.owner}`)
}

const page = await store.readAll({ filter: { category: 'account' }, limit: 10 })
console.log(
  `$all: ${page.events.length} account events, next page after position ${page.lastPosition}`,
)

await store.close()
await database.release()
// #endregion quick-start
