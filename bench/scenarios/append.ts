import { randomUUID } from 'node:crypto'
import pg from 'pg'
import { createEventStore } from '../../src/index.js'
import { summarize, throughput } from '../lib/stats.js'
import { interleaved, type Row, type Scenario } from '../lib/types.js'

/**
 * Single-event appends from concurrent clients: strata's appendToStream beside a raw one-row
 * INSERT (one statement, one transaction) into a table of the same shape and indexes.
 */
export const appendScenario: Scenario = {
  name: 'append',
  title: 'Append, one event per append',
  limits:
    'Commits: every append is a durable commit (fsync, synchronous_commit on), so the raw figure is bounded by WAL flushes shared through group commit and by CPU for parsing and index maintenance on 2 cores. strata adds its append function (stream lock, version check) and batches concurrent appends into one transaction when they queue up.',
  async run(context) {
    const url = await context.createDatabase()
    const store = createEventStore({ connectionString: url, max: 40 }, { notify: false })
    await store.migrate()
    const pool = new pg.Pool({ connectionString: url, max: 40 })
    pool.on('error', () => undefined) // idle clients of a dropped database
    await pool.query(
      'CREATE SCHEMA raw; CREATE TABLE raw.events (LIKE strata.events INCLUDING ALL)',
    )
    const rows: Row[] = []
    const count = context.smoke ? 1_000 : 100_000
    const concurrencies = context.smoke ? [16] : [16]
    try {
      for (const concurrency of concurrencies) {
        const runId = () => randomUUID().slice(0, 8)
        const samples = await interleaved(
          context.reps,
          {
            strata: async () => {
              const run = runId()
              return throughput(count, concurrency, (i) =>
                store.appendToStream(`s${run}-${i}`, [{ type: 'Counted', data: { i } }]),
              )
            },
            raw: async () => {
              const run = runId()
              return throughput(count, concurrency, (i) =>
                pool.query(
                  `INSERT INTO raw.events (stream_id, version, id, type, data, metadata) VALUES ($1, 1, $2, 'Counted', $3, '{}')`,
                  [`r${run}-${i}`, randomUUID(), JSON.stringify({ i })],
                ),
              )
            },
          },
          (variant, rep, value) =>
            context.log(`${variant} c=${concurrency} rep ${rep}: ${Math.round(value)}/s`),
        )
        const kase = `${count.toLocaleString('en-US')} appends, concurrency ${concurrency}, distinct streams`
        rows.push(
          {
            scenario: 'append',
            case: kase,
            system: 'strata',
            unit: 'appends/s',
            higherIsBetter: true,
            summary: summarize(samples.strata),
          },
          {
            scenario: 'append',
            case: kase,
            system: 'raw SQL (one-row INSERT per transaction)',
            unit: 'appends/s',
            higherIsBetter: true,
            summary: summarize(samples.raw),
          },
        )
      }
    } finally {
      await store.close()
      await pool.end()
    }
    return rows
  },
}
