/**
 * strata's consumer groups draining a backlog, every delivery acked: the strata side of the
 * consumer-group comparison. bench/scenarios/queues.ts calls {@link measureStrataConsumers}
 * interleaved with its peers (pg-boss, RabbitMQ, NATS); {@link consumersScenario} runs strata
 * alone (1/4/16 consumers, round-robin and per-stream).
 */
import { randomUUID } from 'node:crypto'
import { createEventStore, type EventStore } from '../../src/index.js'
import { interleaved, rowOf, type Row, type Scenario } from '../lib/types.js'

/** One repetition (the shape bench/scenarios/queues.ts passes). */
export interface StrataConsumersRun {
  readonly consumers: number
  readonly messages: number
  /** A database of the benchmark server, shared by every repetition. */
  readonly url: string
  readonly strategy: 'round-robin' | 'per-stream'
  /**
   * What a new user measures: the group and consume(handler) with default options (no window,
   * concurrency or prefetch given). Otherwise tuned: prefetch and concurrency {@link PREFETCH}.
   */
  readonly defaults?: boolean
  readonly log: (message: string) => void
  /** Called once the backlog is seeded, before the drain starts (bench/profile.ts resets stats). */
  readonly onSeeded?: () => Promise<void>
}

/** Deliveries each consumer leases at once: RabbitMQ's and pg-boss's batch in the peers. */
export const PREFETCH = 100
/**
 * Events per append while seeding the backlog: appends go round the streams a few events at a
 * time, so streams interleave in the log as they do under live traffic.
 */
const EVENTS_PER_APPEND = 5

const payload = (i: number) => ({ i, note: 'a payload of a typical size for an event' })

/**
 * Appends a backlog of `messages` events (not timed) in a category of its own, spread over
 * streams (per-stream order has streams to run in parallel), then times `consumers` consumers
 * of a new group draining it with a no-op handler, until every delivery is acked (the stop of
 * each consumer waits for its acks). Returns deliveries/s.
 */
export async function measureStrataConsumers(run: StrataConsumersRun): Promise<number> {
  const category = `bench${randomUUID().replaceAll('-', '').slice(0, 10)}`
  const streams = Math.max(16, Math.min(1000, Math.floor(run.messages / 10)))
  await seed(run.url, category, streams, run.messages)
  await run.onSeeded?.()

  const store = createEventStore({ connectionString: run.url, max: run.consumers + 4 })
  try {
    const group = store.consumerGroup(`bench-${category}`, {
      source: { category },
      strategy: run.strategy,
      // Room for every consumer's prefetch, twice over, so admission stays ahead of claims; a
      // per-stream group also needs room for the events queued behind each stream's delivery in
      // flight (docs/consumers.md: the window of a per-stream group), so at least the default.
      ...(run.defaults === true
        ? {}
        : {
            windowSize: Math.max(
              run.strategy === 'per-stream' ? 4000 : 1000,
              2 * run.consumers * PREFETCH,
            ),
          }),
      onError: (error) => run.log(`consumer error: ${String(error)}`),
    })
    await group.ensure()
    let handled = 0
    let resolveDone: () => void = () => undefined
    const done = new Promise<void>((resolve) => (resolveDone = resolve))
    run.log('go')
    const startedAt = performance.now()
    const handler = () => {
      if (++handled === run.messages) resolveDone()
    }
    const consumers = Array.from({ length: run.consumers }, () =>
      run.defaults === true
        ? group.consume(handler)
        : group.consume(handler, { concurrency: PREFETCH, prefetch: PREFETCH }),
    )
    await done
    await Promise.all(consumers.map((c) => c.stop()))
    const seconds = (performance.now() - startedAt) / 1000
    const status = await group.status()
    if (status.pending + status.inFlight + status.retrying > 0) {
      throw new Error(`group ${group.name} not drained: ${JSON.stringify(status, bigints)}`)
    }
    await group.delete()
    return run.messages / seconds
  } finally {
    await store.close()
  }
}

/**
 * Seeds with a store of its own, closed afterwards: the append function's cached plans belong to
 * that store's connections, so each repetition's seeding plans against the table as it is.
 */
async function seed(url: string, category: string, streams: number, messages: number) {
  const seeder: EventStore = createEventStore({ connectionString: url, max: 8 })
  try {
    await seeder.migrate() // idempotent; the peers' scenario does not migrate strata's schema
    let i = 0
    for (let left = messages; left > 0;) {
      const round: Array<Promise<unknown>> = []
      for (let s = 0; s < streams && left > 0; s++) {
        const count = Math.min(EVENTS_PER_APPEND, left)
        left -= count
        round.push(
          seeder.appendToStream(
            `${category}-${s}`,
            Array.from({ length: count }, () => ({ type: 'Counted', data: payload(i++) })),
          ),
        )
      }
      await Promise.all(round) // one append per stream at a time keeps each stream in order
    }
  } finally {
    await seeder.close()
  }
}

function bigints(_key: string, value: unknown) {
  return typeof value === 'bigint' ? value.toString() : value
}

const CONSUMERS = [1, 4, 16] as const
const STRATEGIES = ['round-robin', 'per-stream'] as const

/** strata alone: 1/4/16 consumers, round-robin and per-stream, deliveries/s. */
export const consumersScenario: Scenario = {
  name: 'strata-consumers',
  title: 'strata consumer groups draining a backlog, every delivery acked',
  limits:
    `Each consumer leases up to ${PREFETCH} deliveries at once (claims of up to 100 per statement); ` +
    'every ack is a DELETE, batched per process, so Postgres commits (and fsyncs) a few times per ' +
    'hundred deliveries, and admission moves events from the log into the group window in batches. ' +
    'Per-stream order allows one delivery per stream in flight, so its parallelism is the number ' +
    'of streams with work. On 2 cores Postgres and the Node process share the CPUs.',
  async run(context) {
    const url = await context.createDatabase()
    const migrator = createEventStore({ connectionString: url })
    await migrator.migrate()
    await migrator.close()
    const rows: Row[] = []
    for (const consumers of CONSUMERS) {
      const messages = context.smoke
        ? 300
        : consumers === 1
          ? 5_000
          : consumers === 4
            ? 10_000
            : 20_000
      const samples = await interleaved(
        context.reps,
        Object.fromEntries(
          STRATEGIES.map((strategy) => [
            strategy,
            () => measureStrataConsumers({ consumers, messages, url, strategy, log: context.log }),
          ]),
        ) as Record<(typeof STRATEGIES)[number], () => Promise<number>>,
        (variant, rep, value) =>
          context.log(`${consumers} consumers, ${variant} rep ${rep}: ${Math.round(value)}/s`),
      )
      const kase = `${consumers} consumer${consumers === 1 ? '' : 's'}, backlog of ${messages.toLocaleString('en-US')}`
      for (const strategy of STRATEGIES) {
        rows.push(
          rowOf(
            {
              scenario: 'strata-consumers',
              case: kase,
              system: strategy === 'round-robin' ? 'strata' : 'strata per-stream',
              unit: 'deliveries/s',
              higherIsBetter: true,
              note: strategy,
            },
            samples[strategy],
          ),
        )
      }
    }
    return rows
  },
}
