/**
 * The web console on demo data: accounts and orders appended at a steady rate, a projection
 * that keeps up and one stopped on a bad event, a per-stream consumer group that parks a poison
 * message, a group with no consumer falling behind, and a task queue.
 *
 *   npx tsx scripts/console-demo.ts                 serve it until Ctrl-C (actions enabled)
 *   npx tsx scripts/console-demo.ts --screenshots   write docs/images/console-*.png and exit
 *
 * DATABASE_URL, else an embedded Postgres. Screenshots need Debian's chromium (/usr/bin/chromium).
 */
import { mkdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import {
  createEventStore,
  defineProjection,
  NonRetryableError,
  startConsole,
} from '../src/index.js'
import { acquireDatabase } from '../src/local-database/index.js'
import { launchChromium } from '../test/support/chromium.js'

const screenshots = process.argv.includes('--screenshots')
const database = await acquireDatabase()
const store = createEventStore(
  { connectionString: database.url },
  { schema: 'shop', allowUnregisteredTypes: true },
)
await store.migrate()

const customers = ['ada', 'grace', 'linus', 'barbara', 'ken', 'margaret', 'dennis', 'radia']
let n = 0
/** One business action: an order placed, paid or shipped, or money moved on an account. */
async function appendSome(): Promise<void> {
  n++
  const who = customers[n % customers.length]!
  const order = `order-${1000 + (n % 40)}`
  const kinds = [
    () =>
      store.appendToStream(order, [
        {
          type: 'OrderPlaced',
          data: { customer: who, items: (n % 4) + 1, total: 12.5 * ((n % 7) + 1) },
        },
      ]),
    () =>
      store.appendToStream(order, [{ type: 'OrderPaid', data: { method: 'card', amount: 25 } }]),
    () =>
      store.appendToStream(`account-${who}`, [
        {
          type: 'MoneyDeposited',
          data: { amount: (n % 9) * 10 + 5 },
          metadata: { correlationId: `req-${n}` },
        },
      ]),
    () =>
      store.appendToStream(order, [{ type: 'OrderShipped', data: { carrier: 'DHL', parcels: 1 } }]),
  ]
  await kinds[n % kinds.length]!()
}

for (let i = 0; i < 160; i++) await appendSome()
// An event whose payload is markup: the console shows it as text.
await store.appendToStream('account-mallory', [
  {
    type: 'ProfileUpdated',
    data: { displayName: '<script>alert("owned")</script><img src=x onerror=alert(1)>' },
  },
])
await store.setStreamMetadata('account-grace', { maxCount: 1000, custom: { owner: 'billing' } })

const totals = defineProjection({
  name: 'order_totals',
  version: 1,
  setup: async (db) => {
    await db.schema
      .createTable('totals')
      .addColumn('order_id', 'text', (c) => c.primaryKey())
      .addColumn('total', 'numeric', (c) => c.notNull())
      .execute()
  },
  handlers: {
    OrderPlaced: async (event, db) => {
      const data = event.data as { total: number }
      await db
        .insertInto('totals')
        .values({ order_id: event.streamId, total: data.total })
        .onConflict((oc) => oc.column('order_id').doUpdateSet({ total: data.total }))
        .execute()
    },
  },
})
const risk = defineProjection({
  name: 'fraud_scores',
  version: 2,
  handlers: {
    ProfileUpdated: (event) => {
      throw new Error(`cannot score profile ${event.streamId}: display name is not plain text`)
    },
  },
})
store.runProjection(totals)
store.runProjection(risk)

const emails = store.consumerGroup('order-emails', {
  source: { category: 'order' },
  strategy: 'per-stream',
  maxAttempts: 3,
  backoff: { initialMs: 50, maxMs: 200 },
})
emails.consume(async (event) => {
  if (event.streamId === 'order-1013' && event.type === 'OrderPaid') {
    throw new NonRetryableError('SMTP 550: mailbox unavailable for order-1013')
  }
  await new Promise((resolve) => setTimeout(resolve, 5))
})
const ledger = store.consumerGroup('ledger-export', { source: { category: 'account' } })
// A slow consumer: this group falls behind while the others keep up.
ledger.consume(() => new Promise((resolve) => setTimeout(resolve, 400)))
const invoices = store.queue<{ order: string }>('invoices')
for (let i = 0; i < 12; i++) await invoices.send({ order: `order-${1000 + i}` })
invoices.consume(
  (task) => {
    if (task.payload.order === 'order-1004') throw new Error('PDF renderer timed out')
  },
  { concurrency: 2 },
)

const app = await startConsole(store, {
  port: screenshots ? 0 : 4000,
  allowActions: true,
  statsIntervalMs: 1000,
})
console.log(`console: ${app.url}#token=${app.token}`)

// A steady trickle of appends, with a burst now and then, for the chart.
let stopping = false
const load = (async () => {
  for (let tick = 0; !stopping; tick++) {
    const burst = tick % 20 < 3 ? 12 : 3
    for (let i = 0; i < burst; i++) await appendSome()
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
})()

async function stop(): Promise<void> {
  stopping = true
  await load
  await app.close()
  await store.close()
  await database.release()
}

if (!screenshots) {
  process.once('SIGINT', () => void stop().then(() => process.exit(0)))
} else {
  const out = fileURLToPath(new URL('../docs/images/', import.meta.url))
  mkdirSync(out, { recursive: true })
  // Some minutes of history for the chart would be nicer; 45 s shows its shape.
  await new Promise((resolve) => setTimeout(resolve, 45_000))
  const browser = await launchChromium()
  try {
    const page = await browser.newPage({ viewport: { width: 1360, height: 860 } })
    const shoot = async (route: string, name: string, ready: string) => {
      await page.goto(`${app.url}#${route}`)
      await page.waitForSelector(ready)
      await page.waitForTimeout(1200) // a sample or two in, so the live parts are filled
      await page.screenshot({ path: `${out}console-${name}.png`, fullPage: false })
      console.log(`wrote docs/images/console-${name}.png`)
    }
    await page.goto(`${app.url}#token=${app.token}`)
    await shoot('/overview', 'overview', '.chart')
    await shoot('/groups', 'groups', 'table.groups')
    await shoot('/groups/group/order-emails', 'dead-letters', '.dead-letter')
    await shoot('/projections', 'projections', '#projections table')
    await shoot('/tail', 'tail', '.tail-row')
    await shoot(`/streams/${encodeURIComponent('account-mallory')}`, 'stream', '.event')
  } finally {
    await browser.close()
  }
  await stop()
  process.exit(0)
}
