import { optionalScenarioModule, scenarioExport } from '../lib/optional.js'
import { absent, nats, rabbitmq, reachable } from '../lib/services.js'
import { interleaved, rowOf, type Row, type Scenario, type ScenarioContext } from '../lib/types.js'
import { natsDrain, PREFETCH, rabbitmqDrain, startPgBoss, type QueueRun } from './queue-peers.js'

/** One repetition of strata's consumer groups, as bench/scenarios/consumers.ts provides it. */
export interface StrataConsumersRun extends QueueRun {
  /** A database of the benchmark server, shared by every repetition of the scenario. */
  readonly url: string
  readonly strategy: 'round-robin' | 'per-stream'
  /** consume(handler) and the group with default options, instead of the tuned prefetch. */
  readonly defaults?: boolean
  readonly log: (message: string) => void
}

/**
 * The hook for strata's rows: bench/scenarios/consumers.ts (owned by the consumer-groups work)
 * exports `measureStrataConsumers`, which appends a backlog of `messages` events (not timed),
 * then times `consumers` consumers of one group draining it, every delivery acked, and returns
 * deliveries/s. Each call uses its own group (and events), so repetitions do not interfere.
 */
export type MeasureStrataConsumers = (run: StrataConsumersRun) => Promise<number>

const CONSUMERS = [1, 4, 16] as const
/** Backlog per repetition in a full run: pg-boss work() polls every 0.5 s, so few consumers get less. */
const FULL_MESSAGES: Record<(typeof CONSUMERS)[number], number> = {
  1: 5_000,
  4: 10_000,
  16: 20_000,
}
const SMOKE_MESSAGES = 300
const STRATEGIES = ['round-robin', 'per-stream'] as const

/**
 * Competing consumers draining a backlog, every delivery acked, 1/4/16 consumers: strata's
 * consumer groups (round-robin and per-stream, from bench/scenarios/consumers.ts) beside pg-boss
 * (send + work; and its fetch/complete loop), RabbitMQ and NATS JetStream.
 */
export const queuesScenario: Scenario = {
  name: 'consumers',
  title: 'Consumer groups and queues, every delivery acked',
  limits:
    'A backlog is published first (not timed), then the consumers drain it; the figure is deliveries acknowledged per second. ' +
    `Postgres-based systems pay a write per acknowledgement: pg-boss claims a batch (FOR UPDATE SKIP LOCKED, an UPDATE of ${PREFETCH} rows) and completes it (another UPDATE), two commits and their fsyncs per batch; its work() then waits out its polling interval (0.5 s, the minimum) before fetching again whatever it found, so work() tops out at ${PREFETCH} jobs per 0.5 s per worker, and the fetch/complete loop shows pg-boss without that pause. ` +
    `RabbitMQ and NATS keep the queue in their own process: a delivery is a frame on an open socket and an ack another (prefetch ${PREFETCH}), and neither fsyncs per message by default (RabbitMQ batches its queue index and message store writes; JetStream syncs its file store every 2 minutes), so their figures are bounded by broker and Node CPU, not by the disk. ` +
    'On 2 cores the broker, Postgres and the Node process share the same CPUs.',
  async run(context) {
    const url = await context.createDatabase()
    const strata = await strataConsumers(context)
    const rabbitUp = await reachable(rabbitmq)
    const natsUp = await reachable(nats)
    if (!rabbitUp) context.skip(absent(rabbitmq))
    if (!natsUp) context.skip(absent(nats))
    const boss = await startPgBoss(url)
    const rows: Row[] = []
    try {
      for (const consumers of CONSUMERS) {
        const messages = context.smoke ? SMOKE_MESSAGES : FULL_MESSAGES[consumers]
        const run: QueueRun = { consumers, messages }
        const variants: Record<string, () => Promise<number>> = {}
        if (strata.kind === 'measure') {
          for (const strategy of STRATEGIES) {
            variants[`strata ${strategy}`] = () =>
              strata.measure({ ...run, url, strategy, log: context.log })
          }
          variants['strata round-robin, default options'] = () =>
            strata.measure({
              ...run,
              url,
              strategy: 'round-robin',
              defaults: true,
              log: context.log,
            })
        }
        variants['pg-boss work()'] = () => boss.work(run)
        variants['pg-boss fetch+complete loop'] = () => boss.fetchLoop(run)
        if (rabbitUp) variants.RabbitMQ = () => rabbitmqDrain(run)
        if (natsUp) variants['NATS JetStream'] = () => natsDrain(run)
        const samples = await interleaved(context.reps, variants, (variant, rep, value) =>
          context.log(`${consumers} consumers, ${variant} rep ${rep}: ${Math.round(value)}/s`),
        )
        const kase = `${consumers} consumer${consumers === 1 ? '' : 's'}, backlog of ${messages.toLocaleString('en-US')}`
        for (const [variant, values] of Object.entries(samples)) {
          rows.push(
            rowOf(
              {
                scenario: 'consumers',
                case: kase,
                // The report compares every row with the one named exactly 'strata'.
                system: variant === 'strata round-robin' ? 'strata' : variant,
                unit: 'deliveries/s',
                higherIsBetter: true,
                ...noteFor(variant),
              },
              values,
            ),
          )
        }
      }
    } finally {
      await boss.stop()
    }
    if (strata.kind === 'scenario') {
      context.log(`strata's consumer groups: ${strata.scenario.title}`)
      const own = await strata.scenario.run(context)
      rows.push(...own.map((row) => ({ ...row, scenario: 'consumers' })))
    }
    return rows
  },
}

function noteFor(variant: string): { note?: string } {
  switch (variant) {
    case 'strata round-robin':
      return {
        note: `round-robin, consume(handler, { concurrency: ${PREFETCH}, prefetch: ${PREFETCH} })`,
      }
    case 'strata round-robin, default options':
      return { note: 'consume(handler), every option left at its default' }
    case 'pg-boss work()':
      return { note: `batchSize ${PREFETCH}, pollingIntervalSeconds 0.5` }
    case 'pg-boss fetch+complete loop':
      return { note: `batchSize ${PREFETCH}, no pause` }
    case 'RabbitMQ':
      return { note: `durable queue, persistent messages, manual ack, prefetch ${PREFETCH}` }
    case 'NATS JetStream':
      return { note: `file storage, explicit acks, pull ${PREFETCH}` }
    default:
      return {}
  }
}

type StrataConsumers =
  | { kind: 'measure'; measure: MeasureStrataConsumers }
  | { kind: 'scenario'; scenario: Scenario }
  | { kind: 'absent' }

/**
 * HOOK for strata's rows (bench/scenarios/consumers.ts, delivered with the consumer groups):
 * its `measureStrataConsumers` runs interleaved with the peers; failing that, a Scenario it
 * exports runs after them and its rows join this scenario's. Absent: a visible notice.
 */
async function strataConsumers(context: ScenarioContext): Promise<StrataConsumers> {
  const module = await optionalScenarioModule('consumers')
  const measure = module?.measureStrataConsumers
  if (typeof measure === 'function') {
    return { kind: 'measure', measure: measure as MeasureStrataConsumers }
  }
  const scenario = scenarioExport(module)
  if (scenario !== undefined) return { kind: 'scenario', scenario }
  context.skip(
    module === undefined
      ? "strata's consumer-group rows: bench/scenarios/consumers.ts is not there yet; only the peers ran"
      : "strata's consumer-group rows: bench/scenarios/consumers.ts exports neither measureStrataConsumers nor a Scenario; only the peers ran",
  )
  return { kind: 'absent' }
}
