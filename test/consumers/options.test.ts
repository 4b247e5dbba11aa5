import fc from 'fast-check'
import { afterAll, describe, expect, it } from 'vitest'
import {
  ConfigError,
  createEventStore,
  EventSerializationError,
  InvalidArgumentError,
  isStrataError,
  type ConsumerGroupOptions,
} from '../../src/index.js'
import { backoffDelay } from '../../src/config/index.js'
import { checkConsumeOptions, checkDeliveriesOptions } from '../../src/consumers/options.js'

// Nothing listens on port 1: any SQL would fail with ECONNREFUSED, so every error below was
// raised before the first statement.
const store = createEventStore({ connectionString: 'postgres://nobody@127.0.0.1:1/none' })
afterAll(() => store.close())

const valid: ConsumerGroupOptions = { source: { category: 'order' } }

function configError(run: () => unknown, option: string): ConfigError {
  let caught: unknown
  try {
    run()
  } catch (error) {
    caught = error
  }
  expect(caught).toBeInstanceOf(ConfigError)
  const error = caught as ConfigError
  expect(error.option).toBe(option)
  expect(error.message).toContain(option)
  return error
}

describe('consumer group options', () => {
  it('refuses an unknown strategy, naming it', () => {
    const error = configError(
      () => store.consumerGroup('g', { ...valid, strategy: 'fifo' as never }),
      'strategy',
    )
    expect(error.value).toBe('fifo')
    expect(error.message).toMatch(/'round-robin' or 'per-stream'/)
  })

  it('refuses maxAttempts 0, negative or fractional', () => {
    for (const maxAttempts of [0, -1, 1.5, Number.NaN]) {
      const error = configError(
        () => store.consumerGroup('g', { ...valid, maxAttempts }),
        'maxAttempts',
      )
      expect(error.value).toBe(maxAttempts)
    }
    expect(() => store.consumerGroup('g', { ...valid, maxAttempts: Infinity })).not.toThrow()
  })

  it('refuses sources that name nothing, unknown criteria and impossible categories', () => {
    configError(() => store.consumerGroup('g', { source: {} }), 'source')
    configError(() => store.consumerGroup('g', { source: 'everything' as never }), 'source')
    configError(
      () => store.consumerGroup('g', { source: { stream: 'a-1' } as never }),
      'source.stream',
    )
    const dash = configError(
      () => store.consumerGroup('g', { source: { category: 'order-1' } }),
      'source.category',
    )
    expect(dash.message).toMatch(/first '-'/)
    configError(() => store.consumerGroup('g', { source: { eventTypes: [] } }), 'source.eventTypes')
    configError(
      () => store.consumerGroup('g', { source: { eventTypes: ['A', ''] } }),
      'source.eventTypes[1]',
    )
    configError(
      () => store.consumerGroup('g', { source: { streams: [' padded'] } }),
      'source.streams[0]',
    )
  })

  it('refuses bad leases, windows, limits, backoff and start positions', () => {
    configError(() => store.consumerGroup('g', { ...valid, leaseMs: -5 }), 'leaseMs')
    configError(
      () => store.consumerGroup('g', { ...valid, leaseMs: 1000, heartbeatMs: 1000 }),
      'heartbeatMs',
    )
    configError(() => store.consumerGroup('g', { ...valid, windowSize: 0 }), 'windowSize')
    configError(() => store.consumerGroup('g', { ...valid, maxConcurrency: -1 }), 'maxConcurrency')
    configError(() => store.consumerGroup('g', { ...valid, maxPerSecond: 0 }), 'maxPerSecond')
    configError(
      () => store.consumerGroup('g', { ...valid, backoff: { jitter: 2 } }),
      'backoff.jitter',
    )
    configError(
      () => store.consumerGroup('g', { ...valid, backoff: { initialMs: 500, maxMs: 100 } }),
      'backoff.maxMs',
    )
    configError(() => store.consumerGroup('g', { ...valid, startFrom: -1n }), 'startFrom')
    configError(
      () => store.consumerGroup('g', { ...valid, startFrom: new Date(Number.NaN) }),
      'startFrom',
    )
    configError(
      () => store.consumerGroup('g', { ...valid, parkedStream: 'skip' as never }),
      'parkedStream',
    )
  })

  it('refuses unknown keys, naming them: typos and options of other calls are never ignored', () => {
    const concurrency = configError(
      () => store.consumerGroup('g', { source: 'all', concurrency: -1 } as never),
      'concurrency',
    )
    expect(concurrency.value).toBe(-1)
    expect(concurrency.message).toMatch(/cap across all its consumers.*consume\(\)/)
    expect(concurrency.message).toMatch(/maxConcurrency/)
    // One name per option: the names users bring from other systems say which option it is.
    expect(
      configError(
        () => store.consumerGroup('g', { ...valid, visibilityTimeoutMs: 5000 } as never),
        'visibilityTimeoutMs',
      ).message,
    ).toMatch(/leaseMs/)
    expect(
      configError(
        () => store.consumerGroup('g', { ...valid, maxDeliveriesPerSecond: 100 } as never),
        'maxDeliveriesPerSecond',
      ).message,
    ).toMatch(/maxPerSecond/)
    const typo = configError(
      () => store.consumerGroup('g', { ...valid, maxAttempt: 0 } as never),
      'maxAttempt',
    )
    expect(typo.message).toMatch(/did you mean maxAttempts\?/)
    configError(() => store.consumerGroup('g', { ...valid, prefetch: 10 } as never), 'prefetch')
    configError(
      () => store.consumerGroup('g', { ...valid, backoff: { initialMS: 10 } as never }),
      'backoff.initialMS',
    )
    // Every known option still passes.
    expect(() =>
      store.consumerGroup('g', {
        source: 'all',
        strategy: 'per-stream',
        startFrom: 'end',
        parkedStream: 'continue',
        maxAttempts: 3,
        backoff: { initialMs: 10, maxMs: 100, multiplier: 2, jitter: 0 },
        leaseMs: 1000,
        heartbeatMs: 100,
        windowSize: 10,
        maxConcurrency: 2,
        maxPerSecond: 5,
        pollIntervalMs: 100,
        maxWaitMs: 10,
        vacuumEvery: 0,
        onError: () => undefined,
      }),
    ).not.toThrow()
  })

  it('refuses unknown task-queue options, naming them (a queue is always round-robin)', () => {
    const strategy = configError(
      () => store.queue('q', { strategy: 'per-stream' } as never),
      'strategy',
    )
    expect(strategy.message).toMatch(/round-robin/)
    configError(() => store.queue('q', { source: 'all' } as never), 'source')
    const concurrency = configError(
      () => store.queue('q', { concurrency: 4 } as never),
      'concurrency',
    )
    expect(concurrency.message).toMatch(/consume\(/)
    expect(
      configError(() => store.queue('q', { leaseMS: 10 } as never), 'leaseMS').message,
    ).toMatch(/did you mean leaseMs\?/)
    configError(() => store.queue('q', null as never), 'options')
  })

  it('takes a start position as a non-negative safe integer, not as a fraction or an unsafe one', () => {
    expect(() => store.consumerGroup('g', { ...valid, startFrom: 42 })).not.toThrow()
    for (const startFrom of [-1, 1.5, 2 ** 53, Number.NaN]) {
      const error = configError(
        () => store.consumerGroup('g', { ...valid, startFrom }),
        'startFrom',
      )
      expect(error.message).toMatch(/non-negative safe integer/)
    }
  })

  it('refuses invalid group names with an InvalidArgumentError', () => {
    for (const name of ['', '$reserved', 'a\u0000b', 'x'.repeat(201), 42]) {
      expect(() => store.consumerGroup(name as string, valid)).toThrow(InvalidArgumentError)
    }
  })
})

describe('consume options', () => {
  const group = store.consumerGroup('g', valid)

  it('refuses a negative, zero or fractional concurrency, naming the value', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.integer({ max: 0 }),
          fc.double({ noNaN: false }).filter((n) => !Number.isInteger(n)),
        ),
        (concurrency) => {
          const error = configError(
            () => group.consume(() => undefined, { concurrency }),
            'concurrency',
          )
          expect(Object.is(error.value, concurrency)).toBe(true)
        },
      ),
    )
    configError(() => group.deliveries({ concurrency: -3 }), 'concurrency')
    // One form per call: the Observable form is deliveries(), consume() takes a handler.
    expect(() => group.consume({ concurrency: 1 } as never)).toThrow(/deliveries\(/)
  })

  it('refuses unknown consume() and deliveries() options, naming them', () => {
    const typo = configError(
      () => group.consume(() => undefined, { concurency: 2 } as never),
      'concurency',
    )
    expect(typo.message).toMatch(/did you mean concurrency\?/)
    const groupOption = configError(
      () => group.consume(() => undefined, { maxAttempts: 2 } as never),
      'maxAttempts',
    )
    expect(groupOption.message).toMatch(/option of the group/)
    configError(() => group.deliveries({ prefetch: 2 } as never), 'prefetch')
    configError(() => group.deliveries({ stopTimeoutMs: 5 } as never), 'stopTimeoutMs')
    configError(() => group.deliveries({ whatever: true } as never), 'whatever')
    // Every known option still passes (checked without starting a consumer).
    expect(
      checkConsumeOptions({ concurrency: 2, prefetch: 4, label: 'x', stopTimeoutMs: 1 }),
    ).toMatchObject({ concurrency: 2, prefetch: 4, label: 'x', stopTimeoutMs: 1 })
    expect(checkDeliveriesOptions({ concurrency: 3, label: 'y' })).toMatchObject({
      concurrency: 3,
      label: 'y',
    })
  })

  it('refuses a prefetch below the concurrency and a bad handler', () => {
    configError(() => group.consume(() => undefined, { concurrency: 4, prefetch: 2 }), 'prefetch')
    expect(() => group.consume(42 as never)).toThrow(InvalidArgumentError)
  })
})

describe('arguments', () => {
  const group = store.consumerGroup('g', valid)
  const queue = store.queue('emails')

  it('refuses bad reset targets and dead-letter targets before any SQL', async () => {
    await expect(group.reset(-1n)).rejects.toBeInstanceOf(InvalidArgumentError)
    await expect(group.reset(-1)).rejects.toBeInstanceOf(InvalidArgumentError)
    await expect(group.reset({ position: 1.5 })).rejects.toBeInstanceOf(InvalidArgumentError)
    await expect(group.reset({ position: 1n, time: new Date() })).rejects.toBeInstanceOf(
      InvalidArgumentError,
    )
    await expect(group.deadLetters.replay(2.5)).rejects.toBeInstanceOf(InvalidArgumentError)
    await expect(group.reset('middle' as never)).rejects.toBeInstanceOf(InvalidArgumentError)
    await expect(group.reset({ time: 'yesterday' as never })).rejects.toBeInstanceOf(
      InvalidArgumentError,
    )
    await expect(group.deadLetters.replay('not-a-uuid')).rejects.toBeInstanceOf(
      InvalidArgumentError,
    )
    await expect(group.deadLetters.discard([1n, 2.5])).rejects.toBeInstanceOf(InvalidArgumentError)
    await expect(group.deadLetters.list({ limit: 0 })).rejects.toBeInstanceOf(InvalidArgumentError)
  })

  it('refuses task payloads that are not JSON and bad send options', async () => {
    await expect(queue.send(undefined)).rejects.toBeInstanceOf(EventSerializationError)
    await expect(queue.send({ n: 1n })).rejects.toBeInstanceOf(EventSerializationError)
    await expect(queue.send({}, { delayMs: -1 })).rejects.toBeInstanceOf(InvalidArgumentError)
    await expect(queue.send({}, { delayMs: 1.5 })).rejects.toBeInstanceOf(InvalidArgumentError)
    await expect(queue.send({}, { dedupKey: '' })).rejects.toBeInstanceOf(InvalidArgumentError)
    const unknown = await queue.send({}, { delay: 5 } as never).catch((e: unknown) => e)
    expect(unknown).toBeInstanceOf(InvalidArgumentError)
    expect((unknown as InvalidArgumentError).argument).toBe('delay')
    expect((unknown as Error).message).toMatch(/did you mean delayMs\?/)
    await expect(group.deadLetters.list({ limt: 5 } as never)).rejects.toBeInstanceOf(
      InvalidArgumentError,
    )
    expect(() => store.queue('emails', { maxAttempts: 0 })).toThrow(ConfigError)
    expect(() => store.queue('')).toThrow(InvalidArgumentError)
  })

  it('marks every refusal as a strata error', () => {
    try {
      store.consumerGroup('g', { ...valid, strategy: 'lifo' as never })
    } catch (error) {
      expect(isStrataError(error, 'CONFIG')).toBe(true)
    }
  })
})

describe('backoffDelay', () => {
  it('grows exponentially, never above maxMs, jittered within its bounds', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 80 }),
        fc.integer({ min: 0, max: 10_000 }),
        fc.integer({ min: 0, max: 1_000_000 }),
        fc.double({ min: 1, max: 10, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 0.999999, noNaN: true }),
        (attempt, initialMs, extra, multiplier, jitter, random) => {
          const backoff = { initialMs, maxMs: initialMs + extra, multiplier, jitter }
          const delay = backoffDelay(attempt, backoff, () => random)
          const capped = Math.min(backoff.maxMs, initialMs * multiplier ** (attempt - 1))
          expect(delay).toBeGreaterThanOrEqual(Math.floor(capped * (1 - jitter)) - 1)
          expect(delay).toBeLessThanOrEqual(Math.ceil(capped))
          expect(delay).toBeLessThanOrEqual(backoff.maxMs + 1)
        },
      ),
    )
  })

  it('without jitter doubles from initialMs up to the cap', () => {
    const backoff = { initialMs: 100, maxMs: 1000, multiplier: 2, jitter: 0 }
    expect([1, 2, 3, 4, 5, 6].map((a) => backoffDelay(a, backoff))).toEqual([
      100, 200, 400, 800, 1000, 1000,
    ])
  })
})
