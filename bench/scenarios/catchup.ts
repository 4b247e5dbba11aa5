import pg from 'pg'
import { concatMap, lastValueFrom, take } from 'rxjs'
import { createEventStore, handleEach } from '../../src/index.js'
import { seedEvents } from '../lib/seed.js'
import { summarize } from '../lib/stats.js'
import { interleaved, type Row, type Scenario } from '../lib/types.js'

/**
 * Catching up on a long log: readAll and subscribeToAll beside a raw keyset-paged SELECT of the
 * same rows and columns; then the peak memory of a slow consumer that catches up with
 * backpressure (handleEach) beside one that queues the work in concatMap (no backpressure).
 */
export const catchupScenario: Scenario = {
  name: 'catchup',
  title: 'Catch-up of a long log',
  limits:
    'CPU of one Node process parsing rows (pg builds an object per row and parses jsonb) and of Postgres scanning the position index; no fsync is involved. strata adds mapping to RecordedEvent (bigint positions, upcasting check) and, for subscriptions, an async iterator step per event.',
  async run(context) {
    const count = context.smoke ? 5_000 : 1_000_000
    const url = await context.createDatabase()
    const store = createEventStore({ connectionString: url }, { notify: false })
    await store.migrate()
    const pool = new pg.Pool({ connectionString: url, max: 4 })
    pool.on('error', () => undefined)
    try {
      context.log(`seeding ${count.toLocaleString('en-US')} events`)
      await seedEvents(pool, count, { rebuildIndexes: !context.smoke, log: context.log })
      const rate = (ms: number) => count / (ms / 1000)
      const samples = await interleaved(
        context.reps,
        {
          raw: async () => {
            const client = await pool.connect()
            const started = performance.now()
            let after = '0'
            let seen = 0
            try {
              for (;;) {
                const { rows } = await client.query<{ position: string }>(
                  `SELECT position, stream_id, version, id, type, data, metadata, data_version, created_at
                     FROM strata.events WHERE position > $1 ORDER BY position LIMIT 1000`,
                  [after],
                )
                if (rows.length === 0) break
                seen += rows.length
                after = rows[rows.length - 1]!.position
              }
            } finally {
              client.release()
            }
            if (seen !== count) throw new Error(`raw read ${seen} of ${count}`)
            return rate(performance.now() - started)
          },
          readAll: async () => {
            const started = performance.now()
            let after = 0n
            let seen = 0
            for (;;) {
              const page = await store.readAll({ after, limit: 1000 })
              seen += page.events.length
              after = page.lastPosition
              if (page.isEnd) break
            }
            if (seen !== count) throw new Error(`readAll read ${seen} of ${count}`)
            return rate(performance.now() - started)
          },
          subscribeToAll: async () => {
            const started = performance.now()
            let seen = 0
            for await (const _event of store.subscribeToAll({ from: 'start' })) {
              if (++seen === count) break
            }
            return rate(performance.now() - started)
          },
        },
        (variant, rep, value) =>
          context.log(`${variant} rep ${rep}: ${Math.round(value)} events/s`),
      )
      const kase = `${count.toLocaleString('en-US')} events, pages of 1000`
      const rows: Row[] = [
        row(kase, 'strata', 'subscribeToAll', samples.subscribeToAll),
        row(kase, 'strata readAll', undefined, samples.readAll),
        row(kase, 'raw SQL (keyset-paged SELECT)', undefined, samples.raw),
      ]

      // Memory of a slow consumer catching up on the first 100,000 events at most: concatMap
      // dequeues its buffer with Array#shift, quadratic in its length, so the source is cut to
      // that many before it (1,000,000 buffered took over 15 minutes). handleEach must sit
      // directly on the subscription to pull from it.
      const memoryCount = Math.min(count, 100_000)
      const slowConsumer = async (mode: 'handleEach' | 'concatMap', events = memoryCount) => {
        global.gc?.()
        const base = process.memoryUsage().rss
        let peak = base
        const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50)
        const slow = () => new Promise<void>((resolve) => setImmediate(resolve))
        const subscription = store.subscribeToAll({ from: 'start' })
        await lastValueFrom(
          mode === 'handleEach'
            ? subscription.pipe(handleEach(slow), take(events))
            : subscription.pipe(take(events), concatMap(slow)),
        )
        clearInterval(timer)
        return (peak - base) / 1024 / 1024
      }
      const memoryCase = `peak RSS growth while a slow consumer catches up on ${memoryCount.toLocaleString('en-US')} events`
      const backpressured = await slowConsumer('handleEach')
      context.log(`handleEach: +${backpressured.toFixed(1)} MiB`)
      const queued = await slowConsumer('concatMap')
      context.log(`concatMap: +${queued.toFixed(1)} MiB`)
      // With backpressure the whole log can be caught up slowly in flat memory.
      const wholeLog = count > memoryCount ? await slowConsumer('handleEach', count) : backpressured
      context.log(`handleEach over all ${count} events: +${wholeLog.toFixed(1)} MiB`)
      rows.push(
        {
          scenario: 'catchup',
          case: `peak RSS growth while a slow consumer catches up on all ${count.toLocaleString('en-US')} events`,
          system: 'strata',
          unit: 'MiB',
          higherIsBetter: false,
          summary: summarize([wholeLog]),
          note: 'subscribeToAll + handleEach (backpressure)',
        },
        {
          scenario: 'catchup',
          case: memoryCase,
          system: 'strata',
          unit: 'MiB',
          higherIsBetter: false,
          summary: summarize([backpressured]),
          note: 'subscribeToAll + handleEach (backpressure)',
        },
        {
          scenario: 'catchup',
          case: memoryCase,
          system: 'RxJS concatMap on the same subscription (no backpressure)',
          unit: 'MiB',
          higherIsBetter: false,
          summary: summarize([queued]),
        },
      )
      return rows
    } finally {
      await store.close()
      await pool.end()
    }
  },
}

function row(kase: string, system: string, note: string | undefined, samples: number[]): Row {
  return {
    scenario: 'catchup',
    case: kase,
    system,
    unit: 'events/s',
    higherIsBetter: true,
    summary: summarize(samples),
    ...(note === undefined ? {} : { note }),
  }
}
