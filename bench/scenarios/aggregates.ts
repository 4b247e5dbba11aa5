import { randomUUID } from 'node:crypto'
import pg from 'pg'
import { z } from 'zod'
import { createEventStore, defineAggregate, snapshotAggregate } from '../../src/index.js'
import { summarize, throughput } from '../lib/stats.js'
import { interleaved, type Row, type Scenario } from '../lib/types.js'

const events = { Incremented: z.object({ by: z.number().int() }) }

function counter(snapshots: boolean) {
  return defineAggregate({
    category: 'counter',
    events,
    commands: { Increment: z.object({ by: z.number().int() }) },
    initialState: { total: 0, count: 0 },
    evolve: (state, event) => ({ total: state.total + event.data.by, count: state.count + 1 }),
    decide: (command) => [{ type: 'Incremented', data: { by: command.data.by } }],
    // Written on demand below; the policy only has to exist for loads to use it.
    ...(snapshots ? { snapshots: { every: 1_000_000, writeOnLoad: false } } : {}),
  })
}

/**
 * Aggregates: the time to load one long aggregate with and without a snapshot (beside a raw
 * SELECT of its events, the floor of a full replay), and commands per second on distinct
 * aggregates from concurrent callers (beside appendToStream alone, the floor of a command).
 */
export const aggregatesScenario: Scenario = {
  name: 'aggregates',
  title: 'Aggregates: load time and command throughput',
  limits:
    'A load without a snapshot is one round trip returning every event, then a JSON parse and an evolve call per event in Node; with a snapshot it returns one row and the few events after it. A command is a load (one round trip) plus an append (one transaction with a durable commit, batched with concurrent ones), so it is bounded by the append path and the extra round trip on 2 cores.',
  async run(context) {
    const url = await context.createDatabase()
    const store = createEventStore({ connectionString: url, max: 40 }, { events, notify: false })
    await store.migrate()
    const pool = new pg.Pool({ connectionString: url, max: 4 })
    pool.on('error', () => undefined) // idle clients of a dropped database
    const rows: Row[] = []
    const plain = counter(false)
    const snapshotted = counter(true)
    try {
      // ---- load time of one long aggregate -------------------------------------------------
      const length = context.smoke ? 500 : 10_000
      const loadsPerSample = context.smoke ? 3 : 20
      const id = randomUUID()
      for (let written = 0; written < length; written += 1000) {
        const batch = Math.min(1000, length - written)
        await store.appendToStream(
          `counter-${id}`,
          Array.from({ length: batch }, (_, i) => ({
            type: 'Incremented',
            data: { by: written + i },
          })),
        )
      }
      // The snapshot covers all but the last 10 events, so loads read a snapshot plus a tail.
      await store.appendToStream(`counter-${id}`, [{ type: 'Incremented', data: { by: 0 } }])
      await snapshotAggregate(store, snapshotted, id)
      await store.appendToStream(
        `counter-${id}`,
        Array.from({ length: 10 }, () => ({ type: 'Incremented', data: { by: 1 } })),
      )
      const check = await store.load(snapshotted, id)
      if (check.fromSnapshotAt === null) throw new Error('bench: the snapshot was not used')
      const msPerLoad = async (load: () => Promise<unknown>) => {
        const started = performance.now()
        for (let i = 0; i < loadsPerSample; i++) await load()
        return (performance.now() - started) / loadsPerSample
      }
      const loads = await interleaved(
        context.reps,
        {
          withoutSnapshot: () => msPerLoad(() => store.load(plain, id)),
          withSnapshot: () => msPerLoad(() => store.load(snapshotted, id)),
          rawSelect: () =>
            msPerLoad(() =>
              pool.query('SELECT * FROM strata.events WHERE stream_id = $1 ORDER BY version', [
                `counter-${id}`,
              ]),
            ),
        },
        (variant, rep, value) => context.log(`load ${variant} rep ${rep}: ${value.toFixed(2)} ms`),
      )
      const loadCase = `load one aggregate of ${(length + 11).toLocaleString('en-US')} events`
      const loadRow = (system: string, samples: number[], note?: string): Row => ({
        scenario: 'aggregates',
        case: loadCase,
        system,
        unit: 'ms per load',
        higherIsBetter: false,
        summary: summarize(samples),
        ...(note === undefined ? {} : { note }),
      })
      rows.push(
        loadRow('strata load, no snapshot (full replay)', loads.withoutSnapshot),
        loadRow('strata load, snapshot + 10 events', loads.withSnapshot),
        loadRow('raw SQL (SELECT the stream, no fold)', loads.rawSelect),
      )

      // ---- commands on distinct aggregates ------------------------------------------------
      const concurrency = 16
      const commands = context.smoke ? 300 : 10_000
      const samples = await interleaved(
        context.reps,
        {
          handle: async () => {
            const run = randomUUID().slice(0, 8)
            return throughput(commands, concurrency, (i) =>
              store.handle(plain, `${run}-${i}`, { type: 'Increment', data: { by: i } }),
            )
          },
          append: async () => {
            const run = randomUUID().slice(0, 8)
            return throughput(commands, concurrency, (i) =>
              store.appendToStream(
                `counter-${run}-${i}`,
                [{ type: 'Incremented', data: { by: i } }],
                {
                  expectedVersion: 'no_stream',
                },
              ),
            )
          },
        },
        (variant, rep, value) =>
          context.log(`${variant} c=${concurrency} rep ${rep}: ${Math.round(value)}/s`),
      )
      const commandCase = `${commands.toLocaleString('en-US')} commands, concurrency ${concurrency}, distinct aggregates`
      rows.push(
        {
          scenario: 'aggregates',
          case: commandCase,
          system: 'strata handle (load + decide + append)',
          unit: 'commands/s',
          higherIsBetter: true,
          summary: summarize(samples.handle),
        },
        {
          scenario: 'aggregates',
          case: commandCase,
          system: 'strata appendToStream alone',
          unit: 'commands/s',
          higherIsBetter: true,
          summary: summarize(samples.append),
        },
      )
    } finally {
      await store.close()
      await pool.end()
    }
    return rows
  },
}
