/**
 * The queue peers of the consumer-group scenario, as functions a scenario calls once per
 * repetition: each publishes a backlog of `messages` (not timed), then times `consumers`
 * competing consumers draining it, every delivery acknowledged, and returns deliveries/s.
 */
import { randomUUID } from 'node:crypto'
import amqp from 'amqplib'
import { AckPolicy, connect as natsConnect, RetentionPolicy, StorageType } from 'nats'
import PgBoss from 'pg-boss'
import { nats, rabbitmq } from '../lib/services.js'

/** One repetition of a queue peer. */
export interface QueueRun {
  readonly consumers: number
  readonly messages: number
}

/** Batch size of pg-boss fetches, and prefetch of RabbitMQ and NATS consumers. */
export const PREFETCH = 100
/** pg-boss work()'s polling interval: its minimum (0.5 s). */
const PG_BOSS_POLLING_SECONDS = 0.5

const payload = (i: number) => ({ i, note: 'a payload of a typical size for an event' })
const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const rate = (count: number, startedAt: number) => count / ((performance.now() - startedAt) / 1000)

/**
 * pg-boss on a database: one instance (its pool, its schema) for all repetitions, a new queue
 * each (left behind: pg-boss 10's deleteQueue trips over its own partition's foreign key; the
 * database is dropped after the scenario).
 */
export interface PgBossPeer {
  /**
   * send + work(): the backlog sent with insert() (send's batch form; not timed), then
   * `consumers` work() workers, batches of {@link PREFETCH}, each batch completed by pg-boss.
   */
  work(run: QueueRun): Promise<number>
  /** fetch + complete in a loop per consumer: pg-boss without work()'s polling pause. */
  fetchLoop(run: QueueRun): Promise<number>
  stop(): Promise<void>
}

/** Starts pg-boss (creating its schema) on `url`, with a pool large enough for 16 consumers. */
export async function startPgBoss(url: string): Promise<PgBossPeer> {
  const boss = new PgBoss({ connectionString: url, max: 20, supervise: false, schedule: false })
  boss.on('error', (error) => console.error(`  pg-boss: ${error.message}`))
  await boss.start()

  const backlog = async (messages: number) => {
    const name = `bench_${randomUUID().slice(0, 8)}`
    await boss.createQueue(name)
    for (let from = 0; from < messages; from += 1000) {
      const jobs = Array.from({ length: Math.min(1000, messages - from) }, (_, k) => ({
        name,
        data: payload(from + k),
      }))
      await boss.insert(jobs)
    }
    return name
  }
  const completed = async (name: string) =>
    Number(
      (
        await boss
          .getDb()
          .executeSql(
            `SELECT count(*) AS n FROM pgboss.job WHERE name = $1 AND state = 'completed'`,
            [name],
          )
      ).rows[0].n,
    )

  return {
    async work({ consumers, messages }) {
      const name = await backlog(messages)
      const started = performance.now()
      for (let c = 0; c < consumers; c++) {
        await boss.work(
          name,
          { batchSize: PREFETCH, pollingIntervalSeconds: PG_BOSS_POLLING_SECONDS },
          () => Promise.resolve(), // resolving completes the whole batch
        )
      }
      // work() completes a batch after its handler without waiting: count completions.
      while ((await completed(name)) < messages) await delay(20)
      const result = rate(messages, started)
      await boss.offWork(name)
      return result
    },
    async fetchLoop({ consumers, messages }) {
      const name = await backlog(messages)
      let done = 0
      const started = performance.now()
      await Promise.all(
        Array.from({ length: consumers }, async () => {
          while (done < messages) {
            const jobs = await boss.fetch(name, { batchSize: PREFETCH })
            if (jobs.length === 0) {
              await delay(5) // the rest is in other consumers' hands
              continue
            }
            await boss.complete(
              name,
              jobs.map((j) => j.id),
            )
            done += jobs.length
          }
        }),
      )
      return rate(messages, started)
    },
    async stop() {
      await boss.stop({ graceful: false, wait: true })
    },
  }
}

/**
 * RabbitMQ: a durable queue, persistent messages published with confirms; `consumers`
 * connections, each a channel with prefetch {@link PREFETCH} acking every message on its own.
 */
export async function rabbitmqDrain({ consumers, messages }: QueueRun): Promise<number> {
  const url = `amqp://guest:guest@${rabbitmq.host}:${rabbitmq.port}`
  const queue = `bench.${randomUUID().slice(0, 8)}`
  const publisher = await amqp.connect(url)
  try {
    const channel = await publisher.createConfirmChannel()
    await channel.assertQueue(queue, { durable: true })
    for (let i = 0; i < messages; i++) {
      const content = Buffer.from(JSON.stringify(payload(i)))
      if (!channel.sendToQueue(queue, content, { persistent: true })) {
        await new Promise((resolve) => channel.once('drain', resolve))
      }
      if (i % 1000 === 999) await channel.waitForConfirms()
    }
    await channel.waitForConfirms()

    const connections = await Promise.all(
      Array.from({ length: consumers }, () => amqp.connect(url)),
    )
    let acked = 0
    let finish: () => void = () => undefined
    const allAcked = new Promise<void>((resolve) => (finish = resolve))
    const started = performance.now()
    const channels = await Promise.all(
      connections.map(async (connection) => {
        const ch = await connection.createChannel()
        await ch.prefetch(PREFETCH)
        await ch.consume(
          queue,
          (message) => {
            if (message === null) return
            ch.ack(message)
            if (++acked === messages) finish()
          },
          { noAck: false },
        )
        return ch
      }),
    )
    await allAcked
    // A round trip on each channel: the broker has processed every ack sent before it.
    await Promise.all(channels.map((ch) => ch.checkQueue(queue)))
    const result = rate(messages, started)
    await Promise.all(connections.map((c) => c.close()))
    await channel.deleteQueue(queue)
    return result
  } finally {
    await publisher.close()
  }
}

/**
 * NATS JetStream: a file-backed work-queue stream, messages published with acks; one durable
 * pull consumer with explicit acks shared by `consumers` connections (competing), each pulling
 * up to {@link PREFETCH} at a time.
 */
export async function natsDrain({ consumers, messages }: QueueRun): Promise<number> {
  const servers = `${nats.host}:${nats.port}`
  const stream = `bench_${randomUUID().slice(0, 8)}`
  const publisher = await natsConnect({ servers })
  try {
    const jsm = await publisher.jetstreamManager()
    await jsm.streams.add({
      name: stream,
      subjects: [stream],
      storage: StorageType.File,
      retention: RetentionPolicy.Workqueue,
    })
    await jsm.consumers.add(stream, { durable_name: 'workers', ack_policy: AckPolicy.Explicit })
    const js = publisher.jetstream()
    const encoder = new TextEncoder()
    for (let from = 0; from < messages; from += 500) {
      const acks = []
      for (let i = from; i < Math.min(messages, from + 500); i++) {
        acks.push(js.publish(stream, encoder.encode(JSON.stringify(payload(i)))))
      }
      await Promise.all(acks)
    }

    const connections = await Promise.all(
      Array.from({ length: consumers }, () => natsConnect({ servers })),
    )
    let acked = 0
    const started = performance.now()
    const iterators = await Promise.all(
      connections.map(async (connection) =>
        (await connection.jetstream().consumers.get(stream, 'workers')).consume({
          max_messages: PREFETCH,
        }),
      ),
    )
    await Promise.all(
      iterators.map(async (iterator) => {
        for await (const message of iterator) {
          message.ack()
          // The last one: every consumer stops waiting for more.
          if (++acked === messages) for (const each of iterators) each.stop()
        }
      }),
    )
    // flush: a round trip per connection, so the server has every ack sent before it.
    await Promise.all(connections.map((c) => c.flush()))
    const result = rate(messages, started)
    await Promise.all(connections.map((c) => c.close()))
    await jsm.streams.delete(stream)
    return result
  } finally {
    await publisher.close()
  }
}
