import { randomUUID } from 'node:crypto'
import pg from 'pg'
import { createEventStore } from '../../src/index.js'
import { openEmmett } from '../lib/emmett.js'
import {
  createLeanTable,
  createRawTable,
  insertNextVersion,
  insertOne,
  LEAN_TABLE,
} from '../lib/raw.js'
import { throughput } from '../lib/stats.js'
import { interleaved, rowOf, type Row, type Scenario } from '../lib/types.js'

/** One setting of the scenario: how many callers, and whether they share one stream. */
interface AppendCase {
  readonly concurrency: number
  readonly hot: boolean
  /** Appends per repetition in a full run. */
  readonly count: number
}

// Concurrency 1 waits for one commit per append, so it gets fewer appends; a hot stream
// serialises every writer (Emmett retries its conflicts), so it gets fewer too.
const CASES: readonly AppendCase[] = [
  { concurrency: 1, hot: false, count: 3_000 },
  { concurrency: 8, hot: false, count: 20_000 },
  // The store's headline figure: 100,000 single-event appends from 16 clients.
  { concurrency: 16, hot: false, count: 100_000 },
  { concurrency: 32, hot: false, count: 20_000 },
  { concurrency: 1, hot: true, count: 3_000 },
  { concurrency: 8, hot: true, count: 5_000 },
  { concurrency: 32, hot: true, count: 5_000 },
]
const SMOKE_COUNT = 200
const POOL_SIZE = 34

/**
 * Single-event appends from 1, 8, 16 and 32 concurrent callers, to distinct streams and to one hot
 * stream: strata's appendToStream beside a raw one-statement INSERT into a table of the same
 * shape and Emmett's PostgreSQL event store.
 */
export const appendScenario: Scenario = {
  name: 'append',
  title: 'Append, one event per append',
  limits:
    'Commits. Every append is a durable commit (fsync, synchronous_commit on): at concurrency 1 each append waits for its own WAL flush, so all three systems are bounded by fsync latency plus round trips (raw: 1, strata: 1, Emmett: 3 — BEGIN, its append function, COMMIT). With more callers Postgres shares flushes between commits (group commit) and the limit moves to CPU on 2 cores (parsing, index maintenance on 5 indexes, and Node). strata also batches queued appends into one transaction (its append function, stream locks and version checks run once per batch). ' +
    'Two raw tables: one of the same shape as strata.events (its 5 B-tree indexes and BRIN), and a lean one with what a hand-written store needs (position primary key, unique (stream_id, version), unique id). ' +
    'Raw baseline: for distinct streams a one-row INSERT with version 1 (nothing to check); for the hot stream the version must come from the table, so the raw row takes a per-stream advisory lock and inserts max(version) + 1 in the same round trip (two statements in one simple-protocol query, one implicit transaction), the least a correct hand-written append needs; a lock-free INSERT … SELECT max + 1 retried on unique violations would make every loser wait for the winner and start over. ' +
    'Emmett, given no expected version, still reports a concurrent append to the same stream as a version conflict (its stream row is updated with a compare-and-set); like an application would, the benchmark retries those, and the retries are counted in the note.',
  async run(context) {
    const url = await context.createDatabase()
    const store = createEventStore({ connectionString: url, max: POOL_SIZE }, { notify: false })
    await store.migrate()
    const pool = new pg.Pool({ connectionString: url, max: POOL_SIZE, idleTimeoutMillis: 1000 })
    pool.on('error', () => undefined) // idle clients of a dropped database
    await createRawTable(pool)
    await createLeanTable(pool)
    const emmett = await openEmmett(url, POOL_SIZE)
    const rows: Row[] = []
    try {
      const cases =
        context.quick === true
          ? CASES.filter((c) => !c.hot && [1, 8, 32].includes(c.concurrency))
          : CASES
      for (const kase of cases) {
        const count = context.smoke ? SMOKE_COUNT : kase.count
        const { concurrency, hot } = kase
        const label = `c=${concurrency}${hot ? ' hot' : ''}`
        const conflictsBefore = emmett.conflicts()
        const samples = await interleaved(
          context.reps,
          {
            strata: () => {
              const run = randomUUID().slice(0, 8)
              return throughput(count, concurrency, (i) =>
                store.appendToStream(hot ? `hot-${run}` : `s${run}-${i}`, [
                  { type: 'Counted', data: { i } },
                ]),
              )
            },
            raw: () => {
              const run = randomUUID().slice(0, 8)
              return throughput(count, concurrency, (i) =>
                hot
                  ? insertNextVersion(pool, `hot-${run}`, { i })
                  : insertOne(pool, { streamId: `r${run}-${i}`, version: 1, data: { i } }),
              )
            },
            lean: () => {
              const run = randomUUID().slice(0, 8)
              return throughput(count, concurrency, (i) =>
                hot
                  ? insertNextVersion(pool, `hot-${run}`, { i }, LEAN_TABLE)
                  : insertOne(
                      pool,
                      { streamId: `l${run}-${i}`, version: 1, data: { i } },
                      LEAN_TABLE,
                    ),
              )
            },
            emmett: () => {
              const run = randomUUID().slice(0, 8)
              return throughput(count, concurrency, (i) =>
                emmett.append(hot ? `hot-${run}` : `e${run}-${i}`, [
                  { type: 'Counted', data: { i } },
                ]),
              )
            },
          },
          (variant, rep, value) =>
            context.log(`${label} ${variant} rep ${rep}: ${Math.round(value)}/s`),
        )
        const conflicts = emmett.conflicts() - conflictsBefore
        const name = `${count.toLocaleString('en-US')} appends, concurrency ${concurrency}, ${hot ? 'one hot stream' : 'distinct streams'}`
        const base = { scenario: 'append', case: name, unit: 'appends/s', higherIsBetter: true }
        rows.push(
          rowOf({ ...base, system: 'strata' }, samples.strata),
          rowOf(
            {
              ...base,
              system: hot ? 'raw SQL (stream lock + INSERT max+1)' : 'raw SQL (one-row INSERT)',
            },
            samples.raw,
          ),
          rowOf(
            {
              ...base,
              system: hot
                ? 'raw SQL, lean table (stream lock + INSERT max+1)'
                : 'raw SQL, lean table (one-row INSERT)',
            },
            samples.lean,
          ),
          rowOf(
            {
              ...base,
              system: 'Emmett',
              ...(conflicts > 0
                ? { note: `${conflicts.toLocaleString('en-US')} version conflicts retried` }
                : {}),
            },
            samples.emmett,
          ),
        )
      }
    } finally {
      await emmett.close()
      await store.close()
      await pool.end()
    }
    return rows
  },
}
