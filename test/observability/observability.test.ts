import { firstValueFrom, take, toArray } from 'rxjs'
import { describe, expect, it } from 'vitest'
import {
  createEventStore,
  type OtelMeter,
  type OtelSpan,
  type OtelTracer,
  type StrataLogger,
} from '../../src/index.js'
import { aStreamId } from '../support/factories.js'
import { terminate } from '../support/torture.js'
import { useTestDatabase } from '../support/test-database.js'
import { waitFor } from '../support/wait-for.js'

const db = useTestDatabase()

/** A tracer and a meter that remember what they were given (the structural OpenTelemetry API). */
function recordingTelemetry() {
  const spans: Array<{
    name: string
    attributes: Record<string, unknown>
    ended: boolean
    error?: string
  }> = []
  const counters = new Map<string, number>()
  const histograms = new Map<string, number[]>()
  const tracer: OtelTracer = {
    startActiveSpan(name, options, fn) {
      const record: (typeof spans)[number] = {
        name,
        attributes: { ...options.attributes },
        ended: false,
      }
      spans.push(record)
      const span: OtelSpan = {
        setAttribute: (key, value) => (record.attributes[key] = value),
        setStatus: (status) => {
          if (status.message !== undefined) record.error = status.message
        },
        recordException: () => undefined,
        end: () => (record.ended = true),
      }
      return fn(span)
    },
  }
  const meter: OtelMeter = {
    createCounter: (name) => ({
      add: (value) => counters.set(name, (counters.get(name) ?? 0) + value),
    }),
    createHistogram: (name) => ({
      record: (value) => histograms.set(name, [...(histograms.get(name) ?? []), value]),
    }),
  }
  return { tracer, meter, spans, counters, histograms }
}

describe('OpenTelemetry', () => {
  it('records spans and metrics for appends, reads, subscription deliveries and consumer processing', async () => {
    const telemetry = recordingTelemetry()
    const store = createEventStore(
      { connectionString: db.url },
      { telemetry: { tracer: telemetry.tracer, meter: telemetry.meter }, migrate: 'auto' },
    )
    try {
      const id = aStreamId('otel')
      await store.appendToStream(id, [
        { type: 'T', data: {} },
        { type: 'T', data: {} },
      ])
      await store.readStream(id)
      await store.readAll()
      await firstValueFrom(store.subscribeToStream(id).pipe(take(2), toArray()))
      const group = store.consumerGroup('otel-group', { source: { category: 'otel' } })
      let handled = 0
      const consumer = group.consume(() => {
        handled++
      })
      await waitFor(() => handled === 2)
      await consumer.stop()

      const names = telemetry.spans.map((s) => s.name)
      for (const name of [
        'strata.append',
        'strata.read_stream',
        'strata.read_all',
        'strata.subscription.read',
        'strata.consumer.process',
      ]) {
        expect(names).toContain(name)
      }
      expect(telemetry.spans.every((s) => s.ended)).toBe(true)
      expect(telemetry.spans.find((s) => s.name === 'strata.append')!.attributes).toMatchObject({
        'strata.stream_id': id,
        'strata.event_count': 2,
      })
      expect(telemetry.counters.get('strata.events.appended')).toBe(2)
      expect(telemetry.counters.get('strata.consumer.processed')).toBe(2)
      expect(telemetry.counters.get('strata.subscription.delivered')).toBeGreaterThanOrEqual(2)
      expect(telemetry.histograms.get('strata.append.duration')!.length).toBe(1)
    } finally {
      await store.close()
    }
  })

  it('marks a failed span with the error', async () => {
    const telemetry = recordingTelemetry()
    const store = createEventStore(
      { connectionString: db.url },
      { telemetry: telemetry, migrate: 'auto' },
    )
    try {
      const id = aStreamId()
      await expect(
        store.appendToStream(id, [{ type: 'T', data: {} }], { expectedVersion: 5n }),
      ).rejects.toThrow()
      expect(telemetry.spans.at(-1)).toMatchObject({
        name: 'strata.append',
        ended: true,
        error: expect.stringContaining('Wrong expected version'),
      })
    } finally {
      await store.close()
    }
  })

  it('is off with telemetry: false', async () => {
    const store = createEventStore({ connectionString: db.url }, { telemetry: false })
    expect(store.telemetry.enabled).toBe(false)
    await store.close()
  })
})

describe('logging', () => {
  it('goes to a pino-compatible logger: migrations, reconnects, projection states', async () => {
    const lines: Array<{ level: string; fields: Record<string, unknown>; message?: string }> = []
    const logger: StrataLogger = {
      debug: (fields, message) =>
        lines.push({
          level: 'debug',
          fields: fields as Record<string, unknown>,
          ...(message === undefined ? {} : { message }),
        }),
      info: (fields, message) =>
        lines.push({
          level: 'info',
          fields: fields as Record<string, unknown>,
          ...(message === undefined ? {} : { message }),
        }),
      warn: (fields, message) =>
        lines.push({
          level: 'warn',
          fields: fields as Record<string, unknown>,
          ...(message === undefined ? {} : { message }),
        }),
      error: (fields, message) =>
        lines.push({
          level: 'error',
          fields: fields as Record<string, unknown>,
          ...(message === undefined ? {} : { message }),
        }),
    }
    const store = createEventStore({ connectionString: db.url }, { logger, schema: 'logged' })
    try {
      await store.migrate()
      expect(lines).toContainEqual(
        expect.objectContaining({
          level: 'info',
          message: 'migrations applied',
          fields: expect.objectContaining({ component: 'migrate' }),
        }),
      )
      const seen: unknown[] = []
      const subscription = store
        .subscribeToAll({ retry: { initialMs: 10 } })
        .subscribe((e) => seen.push(e))
      await store.appendToStream(aStreamId(), [{ type: 'T', data: {} }])
      await waitFor(() => seen.length === 1)
      await terminate(db, 'strata subscription')
      await store.appendToStream(aStreamId(), [{ type: 'T', data: {} }])
      await waitFor(() => seen.length === 2)
      subscription.unsubscribe()
      expect(lines).toContainEqual(
        expect.objectContaining({
          level: 'warn',
          message: 'subscription reconnecting',
          fields: expect.objectContaining({ component: 'subscription' }),
        }),
      )
    } finally {
      await store.close()
    }
  })

  it('is silent without a logger', () => {
    const store = createEventStore({ connectionString: db.url })
    expect(typeof store.logger.info).toBe('function')
    void store.close()
  })
})
