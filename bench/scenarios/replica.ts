import pg from 'pg'
import { filter, firstValueFrom } from 'rxjs'
import { createEventStore, defineProjection } from '../../src/index.js'
import { canStartCluster, startPgCluster } from '../../test/support/pg-cluster.js'
import { seedEvents } from '../lib/seed.js'
import { summarize } from '../lib/stats.js'
import { interleaved, SkipScenario, type Row, type Scenario } from '../lib/types.js'

const DATABASE = 'strata_bench_replica'
const WRITERS = 16

/**
 * Reading from a streaming replica beside the primary, on a primary and a hot standby of the
 * scenario's own (initdb + pg_basebackup, both on this machine): catch-up of a long log through
 * readAll from the replica and from the primary; then the primary's append rate (16 callers)
 * alone, while a projection rebuild reads the whole log from the primary, and while it reads
 * from the replica.
 */
export const replicaScenario: Scenario = {
  name: 'replica',
  title: 'Reading from a streaming replica',
  limits:
    'Both servers and the benchmark share the same 2 cores: a read moved to the replica still takes CPU from the machine the primary runs on, so the gain measured here is the primary backend work (index scans, jsonb output, buffer reads) that leaves the primary, not a second machine. The replica read adds a round trip per page (the published horizon and the lag check before the page). Appends are durable commits (fsync on), 16 callers to distinct streams; the rebuild is a projection from position 0 with a handler that writes nothing (its position is committed on the primary per batch).',
  async run(context) {
    if (!(await canStartCluster())) {
      throw new SkipScenario('needs root, a postgres OS user and /usr/lib/postgresql/15/bin')
    }
    const count = context.smoke ? 5_000 : 1_000_000
    const windowMs = context.smoke ? 1_000 : 8_000
    context.log('starting a primary and a streaming replica')
    const cluster = await startPgCluster({
      databases: [DATABASE],
      // Durable commits, as the append scenario measures them.
      settings: ['fsync = on', 'full_page_writes = on'],
    })
    const primaryUrl = cluster.url('primary', DATABASE)
    const replicaUrl = cluster.url('replica', DATABASE)
    const store = createEventStore(
      { connectionString: primaryUrl },
      { notify: false, replicas: { connections: { connectionString: replicaUrl } } },
    )
    // Appends come from a store without replicas: no commitLsn query on their path.
    const writer = createEventStore(
      { connectionString: primaryUrl, max: WRITERS + 2 },
      { notify: false },
    )
    const pool = new pg.Pool({ connectionString: primaryUrl, max: 4 })
    pool.on('error', () => undefined)
    try {
      await store.migrate()
      context.log(`seeding ${count.toLocaleString('en-US')} events on the primary`)
      await seedEvents(pool, count, { rebuildIndexes: !context.smoke, log: context.log })
      await cluster.waitForReplay()
      const rate = (n: number, ms: number) => n / (ms / 1000)
      const catchUp = async (readFrom: 'primary' | 'replica') => {
        const started = performance.now()
        let after = 0n
        let seen = 0
        for (;;) {
          const page = await store.readAll({ after, limit: 1000, readFrom })
          seen += page.events.length
          after = page.lastPosition
          if (page.isEnd && seen >= count) break
        }
        if (seen !== count) throw new Error(`readAll from the ${readFrom} read ${seen} of ${count}`)
        return rate(count, performance.now() - started)
      }
      const reads = await interleaved(
        context.reps,
        { replica: () => catchUp('replica'), primary: () => catchUp('primary') },
        (variant, rep, value) =>
          context.log(`catch-up from the ${variant} rep ${rep}: ${Math.round(value)} events/s`),
      )

      // The primary's append rate over a window, alone or while a rebuild reads the log.
      let projections = 0
      const rebuildRates: Record<'primary' | 'replica', number[]> = { primary: [], replica: [] }
      const appendWindow = async (rebuildFrom: 'primary' | 'replica' | undefined) => {
        const runner =
          rebuildFrom === undefined
            ? undefined
            : store.runProjection(
                defineProjection({
                  name: `bench_rebuild_${++projections}`,
                  version: 1,
                  handlers: { Counted: () => undefined },
                }),
                { readFrom: rebuildFrom, batchSize: 1000 },
              )
        if (runner !== undefined) {
          // Measure while it reads, not while it sets up.
          await firstValueFrom(runner.state$.pipe(filter((s) => s === 'catching-up')))
        }
        const from = await positionOf(pool, runner?.name)
        let appended = 0
        const deadline = Date.now() + windowMs
        const started = performance.now()
        await Promise.all(
          Array.from({ length: WRITERS }, async (_, w) => {
            for (let i = 0; Date.now() < deadline; i++) {
              await writer.appendToStream(`bench-${w}-${i % 50}`, [
                { type: 'Appended', data: { i } },
              ])
              appended++
            }
          }),
        )
        const elapsed = performance.now() - started
        if (runner !== undefined && rebuildFrom !== undefined) {
          const read = (await positionOf(pool, runner.name)) - from
          rebuildRates[rebuildFrom].push(rate(read, elapsed))
          await runner.stop()
        }
        return rate(appended, elapsed)
      }
      const appends = await interleaved(
        context.reps,
        {
          alone: () => appendWindow(undefined),
          rebuildFromPrimary: () => appendWindow('primary'),
          rebuildFromReplica: () => appendWindow('replica'),
        },
        (variant, rep, value) =>
          context.log(`appends/s on the primary, ${variant} rep ${rep}: ${Math.round(value)}`),
      )
      const median = (xs: number[]) => summarize(xs).median
      const ratio = median(appends.rebuildFromReplica) / median(appends.rebuildFromPrimary)
      context.log(
        `append rate with the rebuild on the replica / on the primary: ${ratio.toFixed(2)}; ` +
          `vs alone: primary ${(median(appends.rebuildFromPrimary) / median(appends.alone)).toFixed(2)}, ` +
          `replica ${(median(appends.rebuildFromReplica) / median(appends.alone)).toFixed(2)}`,
      )
      const kase = `${count.toLocaleString('en-US')} events, readAll pages of 1000`
      const appendCase = `primary's append rate, ${WRITERS} callers, while a full rebuild reads`
      const row = (
        kase: string,
        system: string,
        unit: string,
        samples: number[],
        note?: string,
      ): Row => ({
        scenario: 'replica',
        case: kase,
        system,
        unit,
        higherIsBetter: true,
        summary: summarize(samples),
        ...(note === undefined ? {} : { note }),
      })
      return [
        row(kase, 'strata readAll from the replica', 'events/s', reads.replica),
        row(kase, 'strata readAll from the primary', 'events/s', reads.primary),
        row(appendCase, 'no rebuild', 'appends/s', appends.alone),
        row(
          appendCase,
          'rebuild reads from the primary',
          'appends/s',
          appends.rebuildFromPrimary,
          `rebuild read ${Math.round(median(rebuildRates.primary))} events/s meanwhile`,
        ),
        row(
          appendCase,
          'rebuild reads from the replica',
          'appends/s',
          appends.rebuildFromReplica,
          `rebuild read ${Math.round(median(rebuildRates.replica))} events/s meanwhile; ${ratio.toFixed(2)}× the rate with the rebuild on the primary`,
        ),
      ]
    } finally {
      await writer.close().catch(() => undefined)
      await store.close().catch(() => undefined)
      await pool.end().catch(() => undefined)
      await cluster.stop()
    }
  },
}

/** A projection's committed position (0 before it has one; 0 for no projection). */
async function positionOf(pool: pg.Pool, name: string | undefined): Promise<number> {
  if (name === undefined) return 0
  const { rows } = await pool.query<{ position: string }>(
    'SELECT position FROM strata.projections WHERE name = $1',
    [name],
  )
  return Number(rows[0]?.position ?? 0)
}
