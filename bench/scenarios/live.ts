import pg from 'pg'
import { createEventStore } from '../../src/index.js'
import { percentile, summarize } from '../lib/stats.js'
import { interleaved, type Row, type Scenario } from '../lib/types.js'

/**
 * Live delivery latency: from calling appendToStream (and from its commit) to a subscriber's
 * handler, one append at a time, beside a bare LISTEN/NOTIFY round trip between two connections.
 */
export const liveScenario: Scenario = {
  name: 'live',
  title: 'Live latency, append to subscriber',
  limits:
    'An append is a durable commit (an fsync) before anything can see it; then strata sends NOTIFY from its own short transaction, the listener wakes the subscription, which reads the new event (one query). The bare LISTEN/NOTIFY row has no commit to wait for and reads nothing.',
  async run(context) {
    const samplesPerRep = context.smoke ? 50 : 2000
    const url = await context.createDatabase()
    const store = createEventStore({ connectionString: url }, { notify: true })
    await store.migrate()
    const waiting = new Map<bigint, (at: number) => void>()
    const early = new Map<bigint, number>()
    const subscription = store.subscribeToAll({ from: 'end' }).subscribe((event) => {
      const at = performance.now()
      const resolve = waiting.get(event.position)
      if (resolve === undefined) early.set(event.position, at)
      else resolve(at)
    })
    const seenAt = (position: bigint) =>
      new Promise<number>((resolve) => {
        const at = early.get(position)
        if (at !== undefined) {
          early.delete(position)
          resolve(at)
        } else {
          waiting.set(position, (t) => {
            waiting.delete(position)
            resolve(t)
          })
        }
      })
    const listener = new pg.Client({ connectionString: url })
    const notifier = new pg.Client({ connectionString: url })
    await listener.connect()
    await notifier.connect()
    await listener.query('LISTEN bench_ping')
    let pong: ((at: number) => void) | undefined
    listener.on('notification', () => pong?.(performance.now()))
    try {
      await new Promise((resolve) => setTimeout(resolve, 300)) // the subscription is live
      const percentiles = {
        call: [] as number[][],
        commit: [] as number[][],
        notify: [] as number[][],
      }
      await interleaved(context.reps, {
        strata: async () => {
          const fromCall: number[] = []
          const fromCommit: number[] = []
          for (let i = 0; i < samplesPerRep; i++) {
            const started = performance.now()
            const { position } = await store.appendToStream(`live-${i % 10}`, [
              { type: 'Ping', data: { i } },
            ])
            const committed = performance.now()
            const seen = await seenAt(position)
            fromCall.push(seen - started)
            fromCommit.push(seen - committed)
          }
          percentiles.call.push(fromCall.sort((a, b) => a - b))
          percentiles.commit.push(fromCommit.sort((a, b) => a - b))
          return 0
        },
        notify: async () => {
          const latencies: number[] = []
          for (let i = 0; i < samplesPerRep; i++) {
            const received = new Promise<number>((resolve) => (pong = resolve))
            const started = performance.now()
            await notifier.query(`SELECT pg_notify('bench_ping', $1)`, [String(i)])
            latencies.push((await received) - started)
          }
          percentiles.notify.push(latencies.sort((a, b) => a - b))
          return 0
        },
      })
      const rows: Row[] = []
      for (const p of [50, 99, 99.9]) {
        const kase = `p${p}, ${samplesPerRep.toLocaleString('en-US')} sequential appends × ${context.reps}`
        const of = (runs: number[][]) => summarize(runs.map((sorted) => percentile(sorted, p)))
        rows.push(
          {
            scenario: 'live',
            case: kase,
            system: 'strata',
            unit: 'ms',
            higherIsBetter: false,
            summary: of(percentiles.call),
            note: 'appendToStream call → handler',
          },
          {
            scenario: 'live',
            case: kase,
            system: 'strata, from commit',
            unit: 'ms',
            higherIsBetter: false,
            summary: of(percentiles.commit),
          },
          {
            scenario: 'live',
            case: kase,
            system: 'raw LISTEN/NOTIFY round trip',
            unit: 'ms',
            higherIsBetter: false,
            summary: of(percentiles.notify),
          },
        )
        context.log(
          `p${p}: strata ${of(percentiles.call).median.toFixed(2)} ms (from commit ${of(percentiles.commit).median.toFixed(2)}), NOTIFY ${of(percentiles.notify).median.toFixed(2)} ms`,
        )
      }
      return rows
    } finally {
      subscription.unsubscribe()
      await listener.end()
      await notifier.end()
      await store.close()
    }
  },
}
