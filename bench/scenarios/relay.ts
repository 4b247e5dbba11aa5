/**
 * The relay to NATS JetStream: throughput of a backlog (events/s acknowledged by JetStream) and
 * live latency (append → a JetStream consumer), beside a bare publish loop with the same client,
 * the same window of publishes in flight and messages of the same size.
 */
import { randomBytes } from 'node:crypto'
import { DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream'
import { connect, headers, type NatsConnection } from '@nats-io/transport-node'
import { createEventStore, type EventStore } from '../../src/index.js'
import { absent, nats, reachable } from '../lib/services.js'
import { percentile, summarize } from '../lib/stats.js'
import { interleaved, rowOf, SkipScenario, type Row, type Scenario } from '../lib/types.js'

const WINDOW = 256
const payload = (i: number) => ({ i, note: 'a payload of a typical size for an event' })
const servers = `nats://${nats.host}:${nats.port}`
const streamName = () => `BENCH_RELAY_${randomBytes(4).toString('hex').toUpperCase()}`

/** Headers like the relay's (ids, version, position, type, time), for the bare loop. */
function bareHeaders(i: number) {
  const h = headers()
  h.set('Strata-Relay', 'bench')
  h.set('Strata-Stream-Id', `bench-${i % 100}`)
  h.set('Strata-Stream-Version', String(i))
  h.set('Strata-Position', String(i))
  h.set('Strata-Event-Type', 'Happened')
  h.set('Strata-Created-At', new Date().toISOString())
  return h
}

async function withStream<T>(nc: NatsConnection, work: (name: string) => Promise<T>): Promise<T> {
  const jsm = await jetstreamManager(nc)
  const name = streamName()
  await jsm.streams.add({ name, subjects: [`${name}.>`] })
  try {
    return await work(name)
  } finally {
    await jsm.streams.delete(name).catch(() => undefined)
  }
}

/** A bare publish loop: `count` messages, at most WINDOW unacknowledged; returns messages/s. */
async function bareLoop(nc: NatsConnection, count: number, fenced: boolean): Promise<number> {
  return withStream(nc, async (name) => {
    const js = jetstream(nc)
    const inFlight = new Set<Promise<unknown>>()
    const started = performance.now()
    for (let i = 0; i < count; i++) {
      const sent = js.publish(`${name}.bench.Happened`, JSON.stringify(payload(i)), {
        msgID: randomBytes(16).toString('hex'),
        headers: bareHeaders(i),
        ...(fenced ? { expect: { lastSequence: i } } : {}),
      })
      inFlight.add(sent)
      void sent.finally(() => inFlight.delete(sent))
      if (inFlight.size >= WINDOW) await Promise.race(inFlight)
    }
    await Promise.all(inFlight)
    return count / ((performance.now() - started) / 1000)
  })
}

/** The relay from start to the backlog's last event acknowledged; returns events/s. */
async function relayBacklog(store: EventStore, nc: NatsConnection, head: bigint): Promise<number> {
  const name = streamName()
  const started = performance.now()
  const relay = store.relay({
    name: `bench-${name}`,
    nats: { servers },
    stream: name,
    maxInFlight: WINDOW,
  })
  try {
    while (relay.position < head && relay.state !== 'failed')
      await new Promise((resolve) => setTimeout(resolve, 2))
    if (relay.state === 'failed') await relay.done
    return Number(head) / ((performance.now() - started) / 1000)
  } finally {
    await relay.stop()
    await (await jetstreamManager(nc)).streams.delete(name).catch(() => undefined)
  }
}

/** A consumer that resolves `seen(id)` when the message with that Nats-Msg-Id arrives. */
async function watch(nc: NatsConnection, stream: string) {
  const waiting = new Map<string, (at: number) => void>()
  const early = new Map<string, number>()
  const consumer = await jetstream(nc).consumers.get(stream, { deliver_policy: DeliverPolicy.New })
  const messages = await consumer.consume({ max_messages: 100 })
  void (async () => {
    for await (const m of messages) {
      const at = performance.now()
      const id = m.headers?.get('Nats-Msg-Id') ?? ''
      const resolve = waiting.get(id)
      if (resolve === undefined) early.set(id, at)
      else resolve(at)
    }
  })()
  return {
    seen: (id: string) =>
      new Promise<number>((resolve) => {
        const at = early.get(id)
        if (at !== undefined) resolve(at)
        else waiting.set(id, resolve)
      }),
    close: () => messages.close(),
  }
}

export const relayScenario: Scenario = {
  name: 'relay',
  title: 'Relay to NATS JetStream',
  limits:
    'Each relayed event is read from Postgres (the gap-safe $all reader, in pages), encoded with about ten headers and published with a sequence expectation, in a window of 256 unacknowledged publishes; acknowledgements move a checkpoint saved every 200 ms. The bare loop publishes the same window of similar messages straight from memory. Live latency adds the commit, the NOTIFY wake-up and one read before the publish.',
  async run(context) {
    if (!(await reachable(nats))) throw new SkipScenario(absent(nats))
    const events = context.smoke ? 300 : 20_000
    const samples = context.smoke ? 30 : 1000
    const url = await context.createDatabase()
    const store = createEventStore({ connectionString: url })
    await store.migrate()
    // The relay's own connection settings (noAsyncTraces) for the bare loop too.
    const nc = await connect({ servers, noAsyncTraces: true })
    try {
      for (let from = 0; from < events; from += 500) {
        await store.appendToStreams(
          Array.from({ length: 10 }, (_, s) => ({
            streamId: `bench-${s}`,
            events: Array.from({ length: Math.min(50, (events - from) / 10) }, (_, k) => ({
              type: 'Happened',
              data: payload(from + s * 50 + k),
            })),
          })),
        )
      }
      const head = await store.headPosition()
      const throughput = await interleaved(
        context.reps,
        {
          strata: () => relayBacklog(store, nc, head),
          bare: () => bareLoop(nc, Number(head), false),
          fenced: () => bareLoop(nc, Number(head), true),
        },
        (variant, rep, value) => context.log(`${variant} rep ${rep}: ${Math.round(value)}/s`),
      )
      const kase = `backlog of ${Number(head).toLocaleString('en-US')} events, ${WINDOW} in flight`
      const rows: Row[] = [
        rowOf(
          {
            scenario: 'relay',
            case: kase,
            system: 'strata relay',
            unit: 'events/s',
            higherIsBetter: true,
          },
          throughput.strata,
        ),
        rowOf(
          {
            scenario: 'relay',
            case: kase,
            system: 'bare js.publish loop',
            unit: 'messages/s',
            higherIsBetter: true,
          },
          throughput.bare,
        ),
        rowOf(
          {
            scenario: 'relay',
            case: kase,
            system: 'bare loop, fenced on the last sequence',
            unit: 'messages/s',
            higherIsBetter: true,
          },
          throughput.fenced,
        ),
      ]

      // Live latency: one event at a time, append call → a consumer of the JetStream stream.
      const latencies = {
        strata: [] as number[][],
        subscriber: [] as number[][],
        bare: [] as number[][],
      }
      // The same appends seen by a plain subscription: the relay's own share of the latency.
      const subscribed = new Map<string, number>()
      const subscription = store
        .subscribeToAll({ from: 'end' })
        .subscribe((event) => subscribed.set(event.id, performance.now()))
      await withStream(nc, (relayed) =>
        withStream(nc, async (bareStream) => {
          const relay = store.relay({
            name: `bench-live-${relayed}`,
            nats: { servers },
            stream: relayed,
            from: 'end',
          })
          // The relay must be its stream's only publisher: the bare loop has a stream of its own.
          const relayWatch = await watch(nc, relayed)
          const bareWatch = await watch(nc, bareStream)
          const js = jetstream(nc)
          try {
            while (relay.state !== 'live') await new Promise((resolve) => setTimeout(resolve, 5))
            await interleaved(context.reps, {
              strata: async () => {
                const run: number[] = []
                const viaSubscription: number[] = []
                for (let i = 0; i < samples; i++) {
                  const id = crypto.randomUUID()
                  const started = performance.now()
                  await store.appendToStream(`live-${i % 10}`, [
                    { id, type: 'Happened', data: payload(i) },
                  ])
                  run.push((await relayWatch.seen(id)) - started)
                  while (!subscribed.has(id)) await new Promise((resolve) => setImmediate(resolve))
                  viaSubscription.push(subscribed.get(id)! - started)
                  subscribed.delete(id)
                }
                latencies.strata.push(run.sort((a, b) => a - b))
                latencies.subscriber.push(viaSubscription.sort((a, b) => a - b))
                return 0
              },
              bare: async () => {
                const run: number[] = []
                for (let i = 0; i < samples; i++) {
                  const id = crypto.randomUUID()
                  const started = performance.now()
                  await js.publish(`${bareStream}.bare.Happened`, JSON.stringify(payload(i)), {
                    msgID: id,
                    headers: bareHeaders(i),
                  })
                  run.push((await bareWatch.seen(id)) - started)
                }
                latencies.bare.push(run.sort((a, b) => a - b))
                return 0
              },
            })
          } finally {
            subscription.unsubscribe()
            await relayWatch.close()
            await bareWatch.close()
            await relay.stop()
          }
        }),
      )
      for (const p of [50, 99]) {
        const kase = `p${p}, ${samples.toLocaleString('en-US')} sequential events × ${context.reps}`
        const of = (runs: number[][]) => summarize(runs.map((sorted) => percentile(sorted, p)))
        rows.push(
          {
            scenario: 'relay',
            case: kase,
            system: 'strata relay',
            unit: 'ms',
            higherIsBetter: false,
            summary: of(latencies.strata),
            note: 'appendToStream call → JetStream consumer',
          },
          {
            scenario: 'relay',
            case: kase,
            system: 'strata subscribeToAll, same appends',
            unit: 'ms',
            higherIsBetter: false,
            summary: of(latencies.subscriber),
            note: 'appendToStream call → handler (what the relay reads from)',
          },
          {
            scenario: 'relay',
            case: kase,
            system: 'bare js.publish',
            unit: 'ms',
            higherIsBetter: false,
            summary: of(latencies.bare),
            note: 'publish call → JetStream consumer',
          },
        )
        context.log(
          `p${p}: relay ${of(latencies.strata).median.toFixed(2)} ms, subscription ${of(latencies.subscriber).median.toFixed(2)} ms, bare ${of(latencies.bare).median.toFixed(2)} ms`,
        )
      }
      return rows
    } finally {
      await nc.close()
      await store.close()
    }
  },
}
