import { randomUUID } from 'node:crypto'
import pg from 'pg'
import { createEventStore } from '../../src/index.js'
import { openEmmett } from '../lib/emmett.js'
import { copyMany, createRawTable, insertMany, type RawEvent } from '../lib/raw.js'
import { throughput } from '../lib/stats.js'
import { interleaved, rowOf, type Row, type Scenario } from '../lib/types.js'

const BATCH = 100
const CONCURRENCY = [1, 8] as const
/** Batches per repetition: 1,000 × 100 = 100,000 events in a full run. */
const FULL_BATCHES = 1_000
const SMOKE_BATCHES = 20
const POOL_SIZE = 10

/**
 * Batches of 100 events per call, one commit each, from 1 and 8 callers: strata's
 * appendToStream (100 events to a new stream) and appendToStreams (100 streams, one event each)
 * beside a raw multi-row INSERT, COPY FROM STDIN and Emmett's appendToStream.
 */
export const batchScenario: Scenario = {
  name: 'batch',
  title: 'Append, batches of 100 events',
  limits:
    'A batch is one commit, so fsync is paid once per 100 events and the limit is CPU: Postgres inserting rows and maintaining 5 indexes, and Node serialising 100 events (JSON, parameters). COPY skips parsing a statement with parameters and is the floor; the multi-row INSERT sends 400 parameters. strata validates and serialises the events in Node, then its append function locks the stream(s), checks versions and inserts with one set-based statement; appendToStreams locks 100 streams. Emmett builds its SQL with literal values in Node and runs its append function in BEGIN … COMMIT.',
  async run(context) {
    const url = await context.createDatabase()
    const store = createEventStore({ connectionString: url, max: POOL_SIZE }, { notify: false })
    await store.migrate()
    const pool = new pg.Pool({ connectionString: url, max: POOL_SIZE })
    pool.on('error', () => undefined)
    await createRawTable(pool)
    const emmett = await openEmmett(url, POOL_SIZE)
    const batches = context.smoke ? SMOKE_BATCHES : FULL_BATCHES
    const events = (i: number) =>
      Array.from({ length: BATCH }, (_, k) => ({ type: 'Counted', data: { i, k } }))
    const rawBatch = (streamId: string, i: number): RawEvent[] =>
      Array.from({ length: BATCH }, (_, k) => ({ streamId, version: k + 1, data: { i, k } }))
    const perSecond = (batchesPerSecond: number) => batchesPerSecond * BATCH
    const rows: Row[] = []
    try {
      for (const concurrency of CONCURRENCY) {
        const run = () => randomUUID().slice(0, 8)
        const timed = (op: (i: number, id: string) => Promise<unknown>) => async () => {
          const id = run()
          return perSecond(await throughput(batches, concurrency, (i) => op(i, id)))
        }
        const samples = await interleaved(
          context.reps,
          {
            strata: timed((i, id) => store.appendToStream(`b${id}-${i}`, events(i))),
            strataStreams: timed((i, id) =>
              store.appendToStreams(
                events(i).map((e, k) => ({ streamId: `m${id}-${i}-${k}`, events: [e] })),
              ),
            ),
            insert: timed((i, id) => insertMany(pool, rawBatch(`r${id}-${i}`, i))),
            copy: timed((i, id) => copyMany(pool, rawBatch(`c${id}-${i}`, i))),
            emmett: timed((i, id) => emmett.append(`e${id}-${i}`, events(i))),
          },
          (variant, rep, value) =>
            context.log(`c=${concurrency} ${variant} rep ${rep}: ${Math.round(value)} events/s`),
        )
        const kase = `${batches.toLocaleString('en-US')} batches of ${BATCH}, concurrency ${concurrency}`
        const base = { scenario: 'batch', case: kase, unit: 'events/s', higherIsBetter: true }
        rows.push(
          rowOf({ ...base, system: 'strata', note: 'appendToStream, 100 events' }, samples.strata),
          rowOf(
            { ...base, system: 'strata appendToStreams (100 streams × 1)' },
            samples.strataStreams,
          ),
          rowOf({ ...base, system: 'raw SQL (multi-row INSERT)' }, samples.insert),
          rowOf({ ...base, system: 'raw SQL (COPY FROM STDIN)' }, samples.copy),
          rowOf({ ...base, system: 'Emmett' }, samples.emmett),
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
