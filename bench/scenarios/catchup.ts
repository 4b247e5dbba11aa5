import pg from 'pg'
import { lastValueFrom, take } from 'rxjs'
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

      // Memory of a slow consumer (a macrotask per event) catching up on the whole log through
      // subscribeToAll + handleEach: with backpressure the subscription holds one page at a time.
      global.gc?.()
      const base = process.memoryUsage().rss
      let peak = base
      const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50)
      const slow = () => new Promise<void>((resolve) => setImmediate(resolve))
      await lastValueFrom(
        store.subscribeToAll({ from: 'start' }).pipe(handleEach(slow), take(count)),
      )
      clearInterval(timer)
      const growth = (peak - base) / 1024 / 1024
      context.log(`slow consumer over all ${count} events: peak RSS +${growth.toFixed(1)} MiB`)
      rows.push({
        scenario: 'catchup',
        case: `peak RSS growth while a slow consumer catches up on all ${count.toLocaleString('en-US')} events`,
        system: 'strata',
        unit: 'MiB',
        higherIsBetter: false,
        summary: summarize([growth]),
        note: 'subscribeToAll + handleEach (backpressure), one macrotask per event',
      })
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
