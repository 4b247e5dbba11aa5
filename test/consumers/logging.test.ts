import { beforeAll, describe, expect, it } from 'vitest'
import {
  createEventStore,
  NonRetryableError,
  type EventStore,
  type OtelMeter,
  type OtelTracer,
  type StrataLogger,
} from '../../src/index.js'
import { useTestDatabase } from '../support/test-database.js'
import { waitFor } from '../support/wait-for.js'
import { aCategory, aGroupName, waitUntilDrained } from './helpers.js'

const db = useTestDatabase()

interface Line {
  level: string
  fields: Record<string, unknown>
  message: string | undefined
}

/** A pino-shaped logger that remembers its lines. */
function recordingLogger(): { logger: StrataLogger; lines: Line[] } {
  const lines: Line[] = []
  const at =
    (level: string) =>
    (fields: object, message?: string): void =>
      void lines.push({ level, fields: fields as Record<string, unknown>, message })
  return {
    lines,
    logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') },
  }
}

let store: EventStore
let lines: Line[]

beforeAll(async () => {
  const recording = recordingLogger()
  lines = recording.lines
  store = await db.store({ logger: recording.logger })
})

const consumerLines = (group: string) =>
  lines.filter((l) => l.fields.component === 'consumer' && l.fields.group === group)

describe('consumer logging', () => {
  it('logs handler failures (retry scheduled) and parked messages at warn, with structured fields', async () => {
    const category = aCategory()
    const name = aGroupName()
    const group = store.consumerGroup(name, {
      source: { category },
      maxAttempts: 2,
      backoff: { initialMs: 10, jitter: 0 },
    })
    const { position } = await store.appendToStream(`${category}-1`, [{ type: 'Ship', data: {} }])
    const consumer = group.consume(() => {
      throw new Error('carrier down')
    })
    await waitUntilDrained(group, { parked: 1 })
    await consumer.stop()

    const logged = consumerLines(name)
    expect(logged).toEqual([
      {
        level: 'warn',
        message: 'delivery failed, retry scheduled',
        fields: expect.objectContaining({
          component: 'consumer',
          group: name,
          position: position.toString(),
          streamId: `${category}-1`,
          attempt: 1,
          maxAttempts: 2,
          retryInMs: 10,
          error: expect.objectContaining({ name: 'Error', message: 'carrier down' }),
        }),
      },
      {
        level: 'warn',
        message: 'delivery parked (dead-lettered)',
        fields: expect.objectContaining({
          group: name,
          position: position.toString(),
          streamId: `${category}-1`,
          attempt: 2,
          reason: 'attempt 2 of 2 failed: carrier down',
          error: expect.objectContaining({ message: 'carrier down' }),
        }),
      },
    ])
    // The fields are plain JSON (positions as strings): a JSON logger can write them.
    expect(() => JSON.stringify(logged.map((l) => l.fields))).not.toThrow()
  })

  it('logs a NonRetryableError park, and nacks and parks of the Observable form', async () => {
    const category = aCategory()
    const name = aGroupName()
    const group = store.consumerGroup(name, { source: { category }, maxAttempts: 5 })
    await store.appendToStream(`${category}-1`, [{ type: 'A', data: {} }])
    const consumer = group.consume(() => {
      throw new NonRetryableError('malformed order')
    })
    await waitUntilDrained(group, { parked: 1 })
    await consumer.stop()
    expect(consumerLines(name)).toEqual([
      expect.objectContaining({
        level: 'warn',
        message: 'delivery parked (dead-lettered)',
        fields: expect.objectContaining({ attempt: 1, reason: 'malformed order' }),
      }),
    ])

    const observed = aGroupName()
    const other = store.consumerGroup(observed, {
      source: { category },
      backoff: { initialMs: 10 },
    })
    const subscription = other.deliveries().subscribe((d) => {
      void (d.attempt === 1 ? d.nack({ error: new Error('not yet') }) : d.park('given up'))
    })
    await waitUntilDrained(other, { parked: 1 })
    subscription.unsubscribe()
    expect(consumerLines(observed).map((l) => [l.message, l.fields.attempt])).toEqual([
      ['delivery failed, retry scheduled', 1],
      ['delivery parked (dead-lettered)', 2],
    ])
    expect(consumerLines(observed)[1]!.fields.reason).toBe('given up')
  })

  it("names a task queue by the user's name in logs, status and delivery contexts", async () => {
    const queue = store.queue<{ n: number }>('emails', { maxAttempts: 1 })
    expect(queue.name).toBe('emails')
    await queue.send({ n: 1 })
    const contexts: string[] = []
    const consumer = queue.consume((_task, ctx) => {
      contexts.push(ctx.group)
      throw new Error('smtp down')
    })
    expect(consumer.group).toBe('emails')
    await waitUntilDrained(queue, { parked: 1 })
    await consumer.stop()
    expect(contexts).toEqual(['emails'])
    expect(await queue.status()).toMatchObject({ name: 'emails', kind: 'queue', parked: 1 })
    expect(consumerLines('emails')).toEqual([
      expect.objectContaining({
        message: 'delivery parked (dead-lettered)',
        fields: expect.objectContaining({ group: 'emails', kind: 'queue' }),
      }),
    ])
    const group = store.consumerGroup(aGroupName(), { source: { category: aCategory() } })
    expect((await group.status()).kind).toBe('group')
    expect(await queue.delete()).toBe(true)
  })
})

describe('telemetry of the Observable form', () => {
  it('records a strata.consumer.process span per delivery, ended when it is settled, and the processed counter', async () => {
    const spans: Array<{
      name: string
      attributes: Record<string, unknown>
      ended: boolean
      error?: string
    }> = []
    const counters: Array<{ name: string; attributes: Record<string, unknown> | undefined }> = []
    const tracer: OtelTracer = {
      startActiveSpan(name, options, fn) {
        const span = {
          name,
          attributes: { ...options.attributes },
          ended: false,
        } as (typeof spans)[number]
        spans.push(span)
        return fn({
          setAttribute: () => undefined,
          setStatus: (status) => {
            if (status.message !== undefined) span.error = status.message
          },
          recordException: () => undefined,
          end: () => (span.ended = true),
        })
      },
    }
    const meter: OtelMeter = {
      createCounter: (name) => ({
        add: (_value, attributes) => void counters.push({ name, attributes }),
      }),
      createHistogram: () => ({ record: () => undefined }),
    }
    const traced = createEventStore({ connectionString: db.url }, { telemetry: { tracer, meter } })
    try {
      const category = aCategory()
      const name = aGroupName()
      const group = traced.consumerGroup(name, { source: { category }, backoff: { initialMs: 10 } })
      await traced.appendToStream(`${category}-1`, [
        { type: 'A', data: {} },
        { type: 'B', data: {} },
      ])
      const subscription = group.deliveries({ concurrency: 2 }).subscribe((d) => {
        const event = d.event as { type: string }
        void (event.type === 'A' ? d.ack() : d.attempt === 1 ? d.nack() : d.park('no B'))
      })
      await waitUntilDrained(group, { parked: 1 })
      subscription.unsubscribe()
      const processed = spans.filter((s) => s.name === 'strata.consumer.process')
      expect(processed).toHaveLength(3)
      expect(processed.every((s) => s.ended)).toBe(true)
      expect(processed.every((s) => s.attributes['strata.group'] === name)).toBe(true)
      expect(processed.map((s) => s.error).sort()).toEqual(['nacked', 'parked: no B', undefined])
      await waitFor(
        () => counters.filter((c) => c.name === 'strata.consumer.processed').length === 3,
      )
      expect(
        counters
          .filter((c) => c.name === 'strata.consumer.processed')
          .map((c) => c.attributes?.['strata.outcome'])
          .sort(),
      ).toEqual(['ack', 'park', 'retry'])
    } finally {
      await traced.close()
    }
  })

  it('ends the span of a delivery left unsettled when its consumer stops', async () => {
    const spans: Array<{ name: string; ended: boolean; error?: string }> = []
    const tracer: OtelTracer = {
      startActiveSpan(name, _options, fn) {
        const span: (typeof spans)[number] = { name, ended: false }
        spans.push(span)
        return fn({
          setAttribute: () => undefined,
          setStatus: (status) => {
            if (status.message !== undefined) span.error = status.message
          },
          recordException: () => undefined,
          end: () => (span.ended = true),
        })
      },
    }
    const traced = createEventStore({ connectionString: db.url }, { telemetry: { tracer } })
    try {
      const category = aCategory()
      const group = traced.consumerGroup(aGroupName(), { source: { category } })
      await traced.appendToStream(`${category}-1`, [{ type: 'A', data: {} }])
      let emitted = 0
      const subscription = group.deliveries().subscribe(() => void emitted++)
      await waitFor(() => emitted === 1)
      subscription.unsubscribe()
      await waitFor(() => spans.some((s) => s.name === 'strata.consumer.process' && s.ended))
      expect(spans.find((s) => s.name === 'strata.consumer.process')!.error).toMatch(/stopped/)
    } finally {
      await traced.close()
    }
  })
})
