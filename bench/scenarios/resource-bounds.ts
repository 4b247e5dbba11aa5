import pg from 'pg'
import { createEventStore } from '../../src/index.js'
import { rowOf, type Row, type Scenario } from '../lib/types.js'

/** Seconds of load: 60 by default, fewer for --quick and --smoke. */
function durationSeconds(context: { smoke: boolean; quick?: boolean }): number {
  const override = process.argv.find((a) => a.startsWith('--resource-seconds='))
  if (override !== undefined) return Number(override.slice('--resource-seconds='.length))
  return context.smoke ? 4 : context.quick === true ? 20 : 60
}

interface Sample {
  readonly atSeconds: number
  readonly rssMb: number
  readonly heapMb: number
  readonly connections: number
}

const mb = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10

/**
 * Resource bounds under a mixed load: 16 appenders, two live subscriptions of $all and a
 * consumer group with two consumers, for 60 s; RSS, heap and the database's connections are
 * sampled every few seconds. Flat is the figure; the first sample is taken after a warm-up.
 */
export const resourceBoundsScenario: Scenario = {
  name: 'resource-bounds',
  title: 'Resource bounds under a mixed load (16 appenders, 2 subscriptions, 1 group)',
  limits:
    "One process holds the store, the appenders, both subscriptions and the consumers, so RSS is all of it. Connections are counted in pg_stat_activity for the database: the pool (at most `max`, 20), one per subscription, the shared listener and the consumers' own.",
  async run(context) {
    const seconds = durationSeconds(context)
    const everyMs = context.smoke ? 1000 : 5000
    const url = await context.createDatabase()
    const store = createEventStore({ connectionString: url })
    await store.migrate()
    const watcher = new pg.Client({ connectionString: url, application_name: 'bench watcher' })
    await watcher.connect()

    let running = true
    let appended = 0
    const appenders = Array.from({ length: 16 }, async (_, w) => {
      for (let i = 0; running; i++) {
        await store.appendToStream(`load${w}-${i % 50}`, [
          { type: 'Loaded', data: { w, i, pad: 'x'.repeat(200) } },
        ])
        appended++
      }
    })
    const delivered = [0, 0]
    const subscriptions = delivered.map((_, s) =>
      store.subscribeToAll({ from: 'end' }).subscribe(() => void delivered[s]!++),
    )
    const group = store.consumerGroup('bench-resources', { source: 'all', startFrom: 'end' })
    let handled = 0
    const consumers = [
      group.consume(() => void handled++, { concurrency: 4 }),
      group.consume(() => void handled++, { concurrency: 4 }),
    ]

    const samples: Sample[] = []
    const started = Date.now()
    const sample = async () => {
      const { rows } = await watcher.query<{ n: string }>(
        `SELECT count(*) AS n FROM pg_stat_activity
          WHERE datname = current_database() AND pid <> pg_backend_pid()`,
      )
      const memory = process.memoryUsage()
      samples.push({
        atSeconds: Math.round((Date.now() - started) / 100) / 10,
        rssMb: mb(memory.rss),
        heapMb: mb(memory.heapUsed),
        connections: Number(rows[0]!.n),
      })
      const last = samples[samples.length - 1]!
      context.log(
        `${String(last.atSeconds).padStart(5)} s  rss ${last.rssMb} MB  heap ${last.heapMb} MB  connections ${last.connections}  appended ${appended}  delivered ${delivered.join('/')}  handled ${handled}`,
      )
    }
    try {
      while (Date.now() - started < seconds * 1000) {
        await new Promise((resolve) => setTimeout(resolve, everyMs))
        await sample()
      }
    } finally {
      running = false
      await Promise.all(appenders)
      for (const s of subscriptions) s.unsubscribe()
      await Promise.all(consumers.map((c) => c.stop()))
      await store.close()
      await watcher.end()
    }
    const rss = samples.map((s) => s.rssMb)
    const heap = samples.map((s) => s.heapMb)
    const connections = samples.map((s) => s.connections)
    const flat = (values: number[], unit = '') =>
      `first ${values[0]}${unit}, last ${values[values.length - 1]}${unit}, max ${Math.max(...values)}${unit} over ${seconds} s`
    const caseName = `${seconds} s, 16 appenders + 2 subscriptions + 1 group`
    const rows: Row[] = [
      rowOf(
        {
          scenario: 'resource-bounds',
          case: `RSS (MB), ${caseName}`,
          system: 'strata',
          unit: 'MB',
          higherIsBetter: false,
          note: flat(rss, ' MB'),
        },
        rss,
      ),
      rowOf(
        {
          scenario: 'resource-bounds',
          case: `JS heap used (MB), ${caseName}`,
          system: 'strata',
          unit: 'MB',
          higherIsBetter: false,
          note: flat(heap, ' MB'),
        },
        heap,
      ),
      rowOf(
        {
          scenario: 'resource-bounds',
          case: `connections to the database, ${caseName}`,
          system: 'strata',
          unit: 'connections',
          higherIsBetter: false,
          note: flat(connections),
        },
        connections,
      ),
      rowOf(
        {
          scenario: 'resource-bounds',
          case: `appends/s while everything runs, ${caseName}`,
          system: 'strata',
          unit: 'appends/s',
          higherIsBetter: true,
          note: `${appended} appends, each subscription delivered ${delivered.join(' and ')} events, the group handled ${handled}`,
        },
        [appended / seconds],
      ),
    ]
    context.log(`RSS: ${flat(rss, ' MB')}; connections: ${flat(connections)}`)
    return rows
  },
}
