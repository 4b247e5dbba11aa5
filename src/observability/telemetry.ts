import { createRequire } from 'node:module'

/**
 * OpenTelemetry without depending on it: the few members of @opentelemetry/api strata uses,
 * structurally. Pass your own tracer and meter, or let strata load @opentelemetry/api (an
 * optional peer dependency) when it is installed; without it everything here is a no-op.
 */
export interface OtelSpan {
  setAttribute(key: string, value: string | number | boolean): unknown
  setStatus(status: { code: number; message?: string }): unknown
  recordException(exception: Error | string): void
  end(): void
}

export interface OtelTracer {
  startActiveSpan<T>(
    name: string,
    options: { attributes?: Record<string, string | number | boolean>; kind?: number },
    fn: (span: OtelSpan) => T,
  ): T
}

export interface OtelCounter {
  add(value: number, attributes?: Record<string, string | number | boolean>): void
}

export interface OtelHistogram {
  record(value: number, attributes?: Record<string, string | number | boolean>): void
}

export interface OtelMeter {
  createCounter(name: string, options?: { description?: string; unit?: string }): OtelCounter
  createHistogram(name: string, options?: { description?: string; unit?: string }): OtelHistogram
}

/** `'auto'` (default): use @opentelemetry/api when installed; `false`: off; or your own. */
export type TelemetryOption = 'auto' | false | { tracer?: OtelTracer; meter?: OtelMeter }

type Attributes = Record<string, string | number | boolean>

const SPAN_STATUS_ERROR = 2

/** The spans and metrics strata records. */
export class Telemetry {
  readonly #tracer: OtelTracer | undefined
  readonly #counters = new Map<string, OtelCounter>()
  readonly #histograms = new Map<string, OtelHistogram>()
  readonly #meter: OtelMeter | undefined

  constructor(option: TelemetryOption = 'auto') {
    const resolved = option === 'auto' ? loadApi() : option === false ? undefined : option
    this.#tracer = resolved?.tracer
    this.#meter = resolved?.meter
  }

  get enabled(): boolean {
    return this.#tracer !== undefined || this.#meter !== undefined
  }

  /** Runs `work` in a span named `name` (ended on completion, marked on error). */
  span<T>(name: string, attributes: Attributes, work: () => Promise<T>): Promise<T> {
    if (this.#tracer === undefined) return work()
    return this.#tracer.startActiveSpan(name, { attributes }, async (span) => {
      try {
        return await work()
      } catch (error) {
        span.recordException(error instanceof Error ? error : String(error))
        span.setStatus({
          code: SPAN_STATUS_ERROR,
          message: error instanceof Error ? error.message : String(error),
        })
        throw error
      } finally {
        span.end()
      }
    })
  }

  count(name: string, value: number, attributes?: Attributes, description?: string): void {
    if (this.#meter === undefined || value === 0) return
    let counter = this.#counters.get(name)
    if (counter === undefined) {
      counter = this.#meter.createCounter(name, description === undefined ? {} : { description })
      this.#counters.set(name, counter)
    }
    counter.add(value, attributes)
  }

  /** Records a duration in milliseconds. */
  duration(name: string, ms: number, attributes?: Attributes, description?: string): void {
    if (this.#meter === undefined) return
    let histogram = this.#histograms.get(name)
    if (histogram === undefined) {
      histogram = this.#meter.createHistogram(name, {
        unit: 'ms',
        ...(description === undefined ? {} : { description }),
      })
      this.#histograms.set(name, histogram)
    }
    histogram.record(ms, attributes)
  }
}

interface OtelApi {
  trace: { getTracer(name: string, version?: string): OtelTracer }
  metrics: { getMeter(name: string, version?: string): OtelMeter }
}

function loadApi(): { tracer: OtelTracer; meter: OtelMeter } | undefined {
  try {
    const api = createRequire(import.meta.url)('@opentelemetry/api') as OtelApi
    return { tracer: api.trace.getTracer('strata'), meter: api.metrics.getMeter('strata') }
  } catch {
    return undefined
  }
}
