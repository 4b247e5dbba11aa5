/**
 * `npm start`: a guided tour of strata on an embedded Postgres (or on DATABASE_URL).
 * Appends, reads, a projection catching up and going live, a consumer group whose handler fails,
 * retries and parks an event, a replay, and an aggregate with a snapshot and a time-travel load.
 */
import { z } from 'zod'
import {
  createEventStore,
  defineAggregate,
  defineProjection,
  WrongExpectedVersionError,
} from 'pg-strata'
import { acquireDatabase } from 'pg-strata/dev'

const step = (n: number, title: string) => console.log(`\n${n}. ${title}`)
const say = (text: string) => console.log(`   ${text}`)
const until = async (check: () => boolean | Promise<boolean>, ms = 10_000) => {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('the demo waited too long')
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

const accountEvents = {
  Deposited: z.object({ amount: z.number().positive() }),
  Withdrawn: z.object({ amount: z.number().positive() }),
}

/** The store's registry: every event type it may hold. */
const events = {
  CartOpened: z.object({ customer: z.string() }),
  ItemAdded: z.object({ sku: z.string(), price: z.number().positive() }),
  CartCheckedOut: z.object({ total: z.number().nonnegative() }),
  ...accountEvents,
}

async function main() {
  console.log(
    'strata: an event store, subscriptions, projections, queues and aggregates on one Postgres',
  )
  const database = await acquireDatabase({ log: say })
  say(
    `database: ${database.source === 'embedded' ? 'an embedded Postgres (DATABASE_URL is not set)' : database.source}`,
  )
  const store = createEventStore(
    { connectionString: database.url },
    { schema: 'strata_demo', events },
  )
  const run = crypto.randomUUID().slice(0, 6)
  try {
    const { applied } = await store.migrate()
    say(
      `schema strata_demo: ${applied.length === 0 ? 'already up to date' : `${applied.length} migrations applied`}`,
    )

    step(1, 'Appending typed events, with optimistic concurrency')
    const carts = [`cart-${run}a`, `cart-${run}b`, `cart-${run}c`]
    for (const [i, cart] of carts.entries()) {
      const opened = await store.appendToStream(
        cart,
        [{ type: 'CartOpened', data: { customer: ['ada', 'grace', 'linus'][i]! } }],
        {
          expectedVersion: 'no_stream',
        },
      )
      await store.appendToStream(
        cart,
        [
          { type: 'ItemAdded', data: { sku: 'book', price: 20 + i } },
          { type: 'ItemAdded', data: { sku: 'pen', price: 2 } },
        ],
        { expectedVersion: opened.nextExpectedVersion },
      )
    }
    say(
      `3 carts with 3 events each; the first at global positions ${(await store.readStream(carts[0]!)).map((e) => e.position).join(', ')}`,
    )
    try {
      await store.appendToStream(carts[0]!, [{ type: 'CartCheckedOut', data: { total: 0 } }], {
        expectedVersion: 1n,
      })
    } catch (error) {
      if (!(error instanceof WrongExpectedVersionError)) throw error
      say(
        `a writer with a stale version is refused: expected ${error.expected}, actual ${error.actual}`,
      )
    }
    try {
      await store.appendToStream(carts[0]!, [
        { type: 'ItemAdded', data: { sku: 'mug', price: -1 } },
      ])
    } catch (error) {
      say(`an invalid payload never reaches the database: ${(error as Error).message}`)
    }

    step(2, 'A projection catches up, then follows live')
    const totals = defineProjection<
      typeof events,
      { carts: { id: string; customer: string; total: number; checked_out: boolean } }
    >({
      name: 'cart_totals',
      version: 1,
      events,
      setup: async (db) => {
        await db.schema
          .createTable('carts')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('customer', 'text', (c) => c.notNull())
          .addColumn('total', 'numeric', (c) => c.notNull().defaultTo(0))
          .addColumn('checked_out', 'boolean', (c) => c.notNull().defaultTo(false))
          .execute()
      },
      handlers: {
        CartOpened: (e, db) =>
          db
            .insertInto('carts')
            .values({ id: e.streamId, customer: e.data.customer, total: 0, checked_out: false })
            .execute()
            .then(() => undefined),
        ItemAdded: (e, db) =>
          db
            .updateTable('carts')
            .set((eb) => ({ total: eb('total', '+', e.data.price) }))
            .where('id', '=', e.streamId)
            .execute()
            .then(() => undefined),
        CartCheckedOut: (e, db) =>
          db
            .updateTable('carts')
            .set({ checked_out: true })
            .where('id', '=', e.streamId)
            .execute()
            .then(() => undefined),
      },
    })
    const runner = store.runProjection(totals, { pollIntervalMs: 100 })
    runner.state$.subscribe((state) => say(`projection cart_totals: ${state}`))
    await until(() => runner.state === 'live')
    const total = async (cart: string) =>
      (
        await store.pool.query<{ total: string }>(
          'SELECT total FROM cart_totals.carts WHERE id = $1',
          [cart],
        )
      ).rows[0]?.total
    const before = Number(await total(carts[0]!))
    say(`read model after catch-up: ${carts[0]} totals ${before}`)
    await store.appendToStream(carts[0]!, [{ type: 'ItemAdded', data: { sku: 'lamp', price: 30 } }])
    await until(async () => Number(await total(carts[0]!)) === before + 30)
    say(`a new event is applied live: ${carts[0]} now totals ${await total(carts[0]!)}`)
    const [status] = await store.projectionStatus('cart_totals')
    say(
      `status: ${status!.status}, position ${status!.position}, ${status!.behind} behind the head`,
    )

    step(3, 'A consumer group: retries with backoff, then a dead letter')
    const receipts = store.consumerGroup(`receipts-${run}`, {
      source: { eventTypes: ['CartCheckedOut'] },
      maxAttempts: 3,
      backoff: { initialMs: 50, maxMs: 200 },
    })
    let mailServerDown = true
    const sent: string[] = []
    const mailer = receipts.consume((event, ctx) => {
      if (event.streamId === carts[1] && mailServerDown) {
        say(
          `  sending the receipt of ${event.streamId} failed (attempt ${ctx.attempt} of ${ctx.maxAttempts})`,
        )
        throw new Error('mail server unavailable')
      }
      sent.push(event.streamId)
      say(`  receipt sent for ${event.streamId} (attempt ${ctx.attempt})`)
    })
    for (const cart of carts)
      await store.appendToStream(cart, [{ type: 'CartCheckedOut', data: { total: 0 } }])
    await until(async () => (await receipts.status()).parked === 1 && sent.length === 2)
    const [letter] = await receipts.deadLetters.list()
    say(
      `parked after ${letter!.attempts} attempts: ${letter!.streamId} (${letter!.lastError?.message ?? letter!.reason}); the other carts flowed on`,
    )

    step(4, 'A replay: fix the cause, replay the dead letter')
    mailServerDown = false
    await receipts.deadLetters.replay('all')
    await until(() => sent.includes(carts[1]!))
    const receiptStatus = await receipts.status()
    say(
      `dead letters left: ${receiptStatus.parked}; in flight: ${receiptStatus.inFlight}; behind the head: ${receiptStatus.behind}`,
    )
    await mailer.stop()
    say('the log keeps everything, so any group can be replayed from a position or a time:')
    const reset = await receipts.reset('start')
    say(
      `reset the group to the start: it will deliver again every event from position ${reset.position}`,
    )

    step(5, 'An aggregate with a snapshot, and time travel')
    const account = defineAggregate({
      category: 'account',
      events: accountEvents,
      commands: {
        Deposit: z.object({ amount: z.number().positive() }),
        Withdraw: z.object({ amount: z.number().positive() }),
      },
      initialState: { balance: 0 },
      evolve: (state, event) => ({
        balance:
          event.type === 'Deposited'
            ? state.balance + event.data.amount
            : state.balance - event.data.amount,
      }),
      decide: (command, state) => {
        if (command.type === 'Withdraw' && command.data.amount > state.balance) {
          throw new Error(
            `insufficient funds: balance ${state.balance}, withdrawing ${command.data.amount}`,
          )
        }
        return [
          { type: command.type === 'Deposit' ? 'Deposited' : 'Withdrawn', data: command.data },
        ]
      },
      snapshots: { every: 3 },
    })
    const id = `acc-${run}`
    for (const amount of [100, 50, 25, 10])
      await store.handle(account, id, { type: 'Deposit', data: { amount } })
    const { state, version } = await store.handle(account, id, {
      type: 'Withdraw',
      data: { amount: 60 },
    })
    say(`after 5 commands: balance ${state.balance} at version ${version}`)
    try {
      await store.handle(account, id, { type: 'Withdraw', data: { amount: 1000 } })
    } catch (error) {
      say(`a domain rule holds and nothing is written: ${(error as Error).message}`)
    }
    const now = await store.load(account, id)
    say(
      `loaded from the snapshot at version ${now.fromSnapshotAt ?? 'none'} plus ${now.eventsReplayed} event(s): balance ${now.state.balance}`,
    )
    const past = await store.load(account, id, { asOfVersion: 2n })
    say(`time travel, as of version 2: balance ${past.state.balance}`)

    await runner.stop()
    console.log('\nDone. Read docs/getting-started.md next.')
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
