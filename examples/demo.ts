/**
 * `npm start`: a short tour of strata on the embedded database (or DATABASE_URL).
 */
import { z } from 'zod'
import { acquireDatabase, createEventStore, WrongExpectedVersionError } from 'strata'

const say = (text: string) => console.log(`\n${text}`)
const detail = (text: string) => console.log(`   ${text}`)

async function main() {
  say('strata demo: an event store, subscriptions, queues and aggregates on one Postgres')
  const database = await acquireDatabase({ log: (m) => detail(m) })
  detail(
    `database: ${database.source === 'embedded' ? 'embedded Postgres (no DATABASE_URL set)' : database.source}`,
  )
  const store = createEventStore(
    { connectionString: database.url },
    {
      schema: 'strata_demo',
      events: {
        CartOpened: z.object({ customer: z.string() }),
        ItemAdded: z.object({ sku: z.string(), quantity: z.number().int().positive() }),
        CartCheckedOut: z.object({ total: z.number().nonnegative() }),
      },
    },
  )
  try {
    const { applied } = await store.migrate()
    detail(
      `migrations applied: ${applied.length === 0 ? 'none (already current)' : applied.join(', ')}`,
    )

    say('1. Appending typed events to streams, with optimistic concurrency')
    const run = crypto.randomUUID().slice(0, 8)
    const cart = `cart-${run}`
    let result = await store.appendToStream(
      cart,
      [{ type: 'CartOpened', data: { customer: 'ada' } }],
      {
        expectedVersion: 'no_stream',
      },
    )
    detail(
      `${cart} opened: version ${result.nextExpectedVersion}, global position ${result.position}`,
    )
    result = await store.appendToStream(
      cart,
      [
        { type: 'ItemAdded', data: { sku: 'book', quantity: 2 } },
        { type: 'ItemAdded', data: { sku: 'pen', quantity: 1 } },
      ],
      { expectedVersion: result.nextExpectedVersion },
    )
    detail(`two items added atomically: now at version ${result.nextExpectedVersion}`)
    try {
      await store.appendToStream(cart, [{ type: 'CartCheckedOut', data: { total: 0 } }], {
        expectedVersion: 1n,
      })
    } catch (error) {
      if (!(error instanceof WrongExpectedVersionError)) throw error
      detail(`a stale writer is refused: ${error.message}`)
    }
    const retry = { id: crypto.randomUUID(), type: 'CartCheckedOut' as const, data: { total: 42 } }
    const first = await store.appendToStream(cart, [retry])
    const again = await store.appendToStream(cart, [retry])
    detail(
      `a retried append returns the original result (position ${again.position} = ${first.position}) and writes nothing`,
    )
    try {
      await store.appendToStream(cart, [{ type: 'ItemAdded', data: { sku: 'mug', quantity: 0 } }])
    } catch (error) {
      detail(`invalid payloads never reach the database: ${(error as Error).message}`)
    }

    say('2. Reading a stream, and $all in one global order')
    for (const event of await store.readStream(cart)) {
      detail(`v${event.version} @${event.position} ${event.type} ${JSON.stringify(event.data)}`)
    }
    await store.appendToStream(`cart-${run}-b`, [
      { type: 'CartOpened', data: { customer: 'grace' } },
    ])
    const page = await store.readAll({ filter: { category: 'cart' }, limit: 100 })
    detail(`$all (category "cart"): ${page.events.length} events in strictly increasing position`)

    say('Done.')
  } finally {
    await store.close()
    await database.release()
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error)
    process.exit(1)
  },
)
