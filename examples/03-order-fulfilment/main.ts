/**
 * Order fulfilment with consumer groups and a task queue: `npx tsx examples/03-order-fulfilment/main.ts`.
 *
 * - Orders are event streams (`order-<id>`). A per-stream consumer group, "fulfilment", reacts
 *   to each order's events in order and sends a confirmation e-mail task when an order is paid.
 * - The e-mail queue's handler fails sometimes: a flaky mail server (retried with backoff) and
 *   one mailbox that always bounces (dead-lettered after 3 attempts), inspected, then discarded.
 *
 * Runs on DATABASE_URL, or on an embedded Postgres when it is unset.
 */
import { z } from 'zod'
import { createEventStore, NonRetryableError, type Task } from 'pg-strata'
import { acquireDatabase } from 'pg-strata/dev'

const database = await acquireDatabase()
const store = createEventStore(
  { connectionString: database.url },
  {
    events: {
      OrderPlaced: z.object({ customer: z.string(), email: z.string(), total: z.number() }),
      OrderPaid: z.object({ amount: z.number() }),
      OrderShipped: z.object({ carrier: z.string() }),
    },
  },
)
await store.migrate()

interface Email {
  to: string
  subject: string
}

// ---- the e-mail queue: retries with backoff, dead letters after 3 attempts ----------------
const emails = store.queue<Email>('emails', {
  maxAttempts: 3,
  backoff: { initialMs: 50, maxMs: 500 },
})

const sent: string[] = []
const mailer = emails.consume(
  (task: Task<Email>, ctx) => {
    const { to, subject } = task.payload
    const fail = (message: string) => {
      const next = ctx.attempt < ctx.maxAttempts ? 'will retry' : 'giving up: dead letter'
      console.log(`  ✗  "${subject}" to ${to}, attempt ${ctx.attempt}: ${message} (${next})`)
      throw new Error(message)
    }
    if (to.endsWith('@invalid.example')) fail(`550 mailbox ${to} does not exist`) // always
    if (to.startsWith('flaky') && ctx.attempt === 1) fail('421 mail server busy') // once
    if (to === '') throw new NonRetryableError('no address') // would park at once
    sent.push(to)
    console.log(`  ✉  sent "${subject}" to ${to} (attempt ${ctx.attempt})`)
  },
  { concurrency: 4 },
)

// ---- the fulfilment group: each order's events in order, orders in parallel ----------------
const fulfilment = store.consumerGroup('fulfilment', {
  source: { category: 'order' },
  strategy: 'per-stream',
})
const emailOf = new Map<string, string>()
const worker = fulfilment.consume(
  async (event) => {
    switch (event.type) {
      case 'OrderPlaced':
        emailOf.set(event.streamId, event.data.email)
        console.log(
          `  📦 ${event.streamId}: placed by ${event.data.customer} (${event.data.total} €)`,
        )
        break
      case 'OrderPaid': {
        console.log(`  💶 ${event.streamId}: paid ${event.data.amount} €`)
        // The dedup key makes this idempotent: a redelivered OrderPaid enqueues no second e-mail.
        await emails.send(
          {
            to: emailOf.get(event.streamId) ?? '',
            subject: `Your order ${event.streamId} is paid`,
          },
          { dedupKey: `${event.streamId}:paid` },
        )
        break
      }
      case 'OrderShipped':
        console.log(`  🚚 ${event.streamId}: shipped with ${event.data.carrier}`)
        break
    }
  },
  { concurrency: 4 },
)

// ---- traffic -------------------------------------------------------------------------------
console.log('Orders come in:')
const customers = [
  { customer: 'Ada', email: 'ada@example.com' },
  { customer: 'Grace', email: 'flaky-grace@example.com' },
  { customer: 'Linus', email: 'linus@invalid.example' },
  { customer: 'Barbara', email: 'barbara@example.com' },
]
for (const [i, c] of customers.entries()) {
  await store.appendToStream(`order-${1001 + i}`, [
    { type: 'OrderPlaced', data: { ...c, total: 20 * (i + 1) } },
    { type: 'OrderPaid', data: { amount: 20 * (i + 1) } },
    { type: 'OrderShipped', data: { carrier: i % 2 === 0 ? 'DHL' : 'UPS' } },
  ])
}

// Wait until every order was handled and every e-mail was sent or dead-lettered.
await until(async () => {
  const [groupStatus, queueStatus] = await Promise.all([fulfilment.status(), emails.status()])
  return (
    groupStatus.behind === 0n &&
    groupStatus.pending + groupStatus.inFlight + groupStatus.retrying === 0 &&
    queueStatus.pending + queueStatus.inFlight + queueStatus.retrying + queueStatus.delayed === 0 &&
    queueStatus.parked === 1
  )
})

console.log('\nDead letters of the e-mail queue:')
for (const dead of await emails.deadLetters.list()) {
  console.log(
    `  ☠  to ${dead.event?.payload.to}: ${dead.reason} (${dead.attempts} attempts, last error: ${dead.lastError?.message})`,
  )
}
// `replay` would deliver them again (after a fix); this address is simply wrong, so drop it.
console.log(`  discarded ${await emails.deadLetters.discard('all')} dead letter(s)`)

const status = await emails.status()
console.log(
  `\nE-mails sent: ${sent.length} (${sent.join(', ')}); queue now: ${status.pending} pending, ${status.parked} parked`,
)

// Graceful stop: in a service, the same calls go in `process.once('SIGTERM', ...)`.
await Promise.all([worker.stop(), mailer.stop()])
await store.close()
await database.release()

async function until(check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('the example did not finish in time')
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}
