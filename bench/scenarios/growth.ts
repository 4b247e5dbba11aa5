import pg from 'pg'
import { createEventStore, type EventStore } from '../../src/index.js'
import { insertOne } from '../lib/raw.js'
import { seedEvents } from '../lib/seed.js'
import { percentile } from '../lib/stats.js'
import { interleaved, rowOf, type Row, type Scenario } from '../lib/types.js'

/** Sizes of one run: the stored levels, and the work measured at each. */
interface GrowthSizes {
  /** Events stored besides the read window. */
  readonly levels: readonly number[]
  /** Events seeded first and read back by the catch-up figure (the last ones of the log). */
  readonly window: number
  /** Sequential single appends per repetition (their p50 is the figure). */
  readonly appends: number
  /** readStream calls per repetition, each of a random seeded 100-event stream. */
  readonly reads: number
}

const FULL: GrowthSizes = {
  levels: [0, 1_000_000, 10_000_000],
  window: 100_000,
  appends: 500,
  reads: 500,
}
const SMOKE: GrowthSizes = { levels: [0, 10_000], window: 2_000, appends: 50, reads: 50 }
const COLUMNS = 'position, stream_id, version, id, type, data, metadata, data_version, created_at'

/**
 * How the figures move as the log grows: p50 of single appends, p50 of reading a 100-event
 * stream, and the catch-up rate over the last events, with 0, 1,000,000 and 10,000,000 events
 * already stored; strata beside the same operations in raw SQL on the same table.
 */
export const growthScenario: Scenario = {
  name: 'growth',
  title: 'Growth: appends, stream reads and catch-up as the log grows',
  limits:
    'Every level holds the stored events plus a 100,000-event window (seeded first, 100 events per stream), which the catch-up figure reads back (its last 100,000 positions) and whose streams are among those readStream picks at random. ' +
    'An append touches one leaf page of each of its 5 indexes and the heap end: B-tree depth grows by about one level per 100× more rows, so its p50 stays bounded by the commit (fsync) as long as the upper index pages stay in memory; the random uuid and stream indexes are the first to leave shared_buffers (128 MB) as the log grows. ' +
    'readStream of a random stream is an index range scan plus 100 heap tuples: cache misses, not row count, make it grow, and at 10 million events the table (~3.5 GB) no longer fits shared_buffers, so reads come from the OS page cache. ' +
    'Catch-up walks the position index in order: CPU of row decoding in Node, nearly independent of what lies before the window. The raw rows write and read the same strata.events table directly (an INSERT with a known version; a SELECT by stream; a keyset-paged SELECT), without strata’s append function, retention filter or read horizon.',
  async run(context) {
    const sizes = context.smoke ? SMOKE : FULL
    const url = await context.createDatabase()
    const store = createEventStore({ connectionString: url, max: 4 }, { notify: false })
    await store.migrate()
    const pool = new pg.Pool({ connectionString: url, max: 4 })
    pool.on('error', () => undefined)
    // Rows by figure, so each figure's levels stand together in the table and the chart.
    const byFigure: [Row[], Row[], Row[]] = [[], [], []]
    try {
      let seeded = 0
      let runs = 0 // each repetition appends to streams of its own
      for (const level of sizes.levels) {
        const target = level + sizes.window
        if (target > seeded) {
          context.log(`seeding to ${target.toLocaleString('en-US')} events`)
          const started = performance.now()
          seeded = await seedEvents(pool, target - seeded, {
            startAt: seeded,
            rebuildIndexes: target - seeded >= 500_000,
            log: context.log,
          })
          context.log(`seeded in ${((performance.now() - started) / 1000).toFixed(0)} s`)
        }
        const stored = `${target.toLocaleString('en-US')} events stored`
        // The window: the last seeded events, the newest of the log when measuring starts.
        const { rows: edge } = await pool.query<{ position: string }>(
          'SELECT position FROM strata.events ORDER BY position DESC OFFSET $1 LIMIT 1',
          [sizes.window],
        )
        const windowAfter = BigInt(edge[0]?.position ?? '0')
        const streams = seeded / 100
        const randomStream = () => `seed-${Math.floor(Math.random() * streams)}`
        const samples = await interleaved(
          context.reps,
          {
            strataAppend: () => {
              const run = runs++
              return latencyP50(sizes.appends, (i) =>
                store.appendToStream(`g${run}-${i}`, [{ type: 'Counted', data: { i } }]),
              )
            },
            rawAppend: () => {
              const run = runs++
              return latencyP50(sizes.appends, (i) =>
                insertOne(
                  pool,
                  { streamId: `g${run}-${i}`, version: 1, data: { i } },
                  'strata.events',
                ),
              )
            },
            strataRead: () => latencyP50(sizes.reads, () => store.readStream(randomStream())),
            rawRead: () =>
              latencyP50(sizes.reads, () =>
                pool.query(
                  `SELECT ${COLUMNS} FROM strata.events WHERE stream_id = $1 ORDER BY version`,
                  [randomStream()],
                ),
              ),
            strataCatchup: () =>
              catchUp(windowAfter, sizes.window, (after) => readAllPage(store, after)),
            rawCatchup: () => catchUp(windowAfter, sizes.window, (after) => rawPage(pool, after)),
          },
          (variant, rep, value) =>
            context.log(`${stored}: ${variant} rep ${rep}: ${value.toFixed(2)}`),
        )
        const at = (kase: string, unit: string, higherIsBetter: boolean) => ({
          scenario: 'growth',
          case: `${kase}, ${stored}`,
          unit,
          higherIsBetter,
          scale: kase, // one scale per figure across the levels: the chart shows the growth
        })
        const append = at(`append p50 (${sizes.appends} sequential)`, 'ms', false)
        const read = at(`readStream p50 (100 events, ${sizes.reads} random streams)`, 'ms', false)
        const catchup = at(
          `catch-up of the last ${sizes.window.toLocaleString('en-US')}, pages of 1000`,
          'events/s',
          true,
        )
        byFigure[0].push(
          rowOf({ ...append, system: 'strata' }, samples.strataAppend),
          rowOf({ ...append, system: 'raw SQL (one-row INSERT)' }, samples.rawAppend),
        )
        byFigure[1].push(
          rowOf({ ...read, system: 'strata' }, samples.strataRead),
          rowOf({ ...read, system: 'raw SQL (SELECT by stream)' }, samples.rawRead),
        )
        byFigure[2].push(
          rowOf({ ...catchup, system: 'strata', note: 'readAll' }, samples.strataCatchup),
          rowOf({ ...catchup, system: 'raw SQL (keyset-paged SELECT)' }, samples.rawCatchup),
        )
      }
    } finally {
      await store.close()
      await pool.end()
    }
    return byFigure.flat()
  },
}

/** p50 in ms of `count` sequential calls. */
async function latencyP50(count: number, op: (i: number) => Promise<unknown>): Promise<number> {
  const latencies: number[] = []
  for (let i = 0; i < count; i++) {
    const started = performance.now()
    await op(i)
    latencies.push(performance.now() - started)
  }
  return percentile(
    latencies.sort((a, b) => a - b),
    50,
  )
}

/** Events/s of reading `count` events after `from`, page by page. */
async function catchUp(
  from: bigint,
  count: number,
  page: (after: bigint) => Promise<{ size: number; last: bigint }>,
): Promise<number> {
  const started = performance.now()
  let after = from
  let seen = 0
  while (seen < count) {
    const { size, last } = await page(after)
    if (size === 0) throw new Error(`catch-up read ${seen} of ${count}`)
    seen += size
    after = last
  }
  return seen / ((performance.now() - started) / 1000)
}

async function readAllPage(store: EventStore, after: bigint) {
  const page = await store.readAll({ after, limit: 1000 })
  return { size: page.events.length, last: page.lastPosition }
}

async function rawPage(pool: pg.Pool, after: bigint) {
  const { rows } = await pool.query<{ position: string }>(
    `SELECT ${COLUMNS} FROM strata.events WHERE position > $1 ORDER BY position LIMIT 1000`,
    [after.toString()],
  )
  return { size: rows.length, last: BigInt(rows[rows.length - 1]?.position ?? after) }
}
