import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  ConfigError,
  createEventStore,
  defineAggregate,
  defineProjection,
  EventSerializationError,
  InvalidArgumentError,
  InvalidStreamIdError,
  type EventStore,
} from '../../src/index.js'
import { describeValue } from '../../src/errors.js'
import { richJsonCodec } from '../../src/snapshots/snapshot-codec.js'
import { aStreamId } from '../support/factories.js'
import { useTestDatabase } from '../support/test-database.js'
import { waitFor } from '../support/wait-for.js'

/** Issue 22, the smaller points: each bad input gets a typed error (or a fix), never a crash. */
const db = useTestDatabase()
let store: EventStore

beforeAll(async () => {
  store = await db.store()
})

describe('huge strings', () => {
  it('a message shows 80 characters and copies no more', () => {
    const long = `${'😀'.repeat(100)}`
    const shown = describeValue(long)
    expect(shown).toBe(`${JSON.stringify(`${'😀'.repeat(80)}…`)} (100 characters)`)
    expect(describeValue('x'.repeat(2_000_000))).toMatch(/\(2000000 UTF-16 code units\)$/)
    expect(describeValue('short')).toBe('"short"')
  })

  it('a 3e8-character stream id, type or checkpoint name is refused in small memory', async () => {
    const huge = 'x'.repeat(3e8)
    huge.charCodeAt(huge.length - 1) // flatten it now: its own 300 MB are not what is measured
    global.gc?.()
    const before = process.memoryUsage().rss
    const errors: unknown[] = []
    errors.push(
      await store.appendToStream(huge, [{ type: 'T', data: {} }]).catch((e: unknown) => e),
    )
    errors.push(
      await store.appendToStream(aStreamId(), [{ type: huge, data: {} }]).catch((e: unknown) => e),
    )
    errors.push(await store.checkpoints.save(huge, 1n).catch((e: unknown) => e))
    errors.push(await store.readStream(huge).catch((e: unknown) => e))
    errors.push(await store.readAll({ filter: { category: huge } }).catch((e: unknown) => e))
    errors.push(await store.readAll({ filter: { eventTypes: [huge] } }).catch((e: unknown) => e))
    const grown = process.memoryUsage().rss - before
    expect(errors[0]).toBeInstanceOf(InvalidStreamIdError)
    for (const error of errors) {
      expect(error).toBeInstanceOf(InvalidArgumentError)
      expect((error as Error).message.length).toBeLessThan(400)
    }
    // A copy of the string would be 300 MB at least (600 MB spread into an array of characters).
    expect(grown).toBeLessThan(100 * 1024 * 1024)
  })

  it('a huge key in event data is named by its first 80 characters', async () => {
    const key = 'k'.repeat(1_000_000)
    const error = await store
      .appendToStream(aStreamId(), [{ type: 'T', data: { [key]: 1n } }])
      .catch((e: unknown) => e)
    expect(error).toBeInstanceOf(EventSerializationError)
    expect((error as Error).message.length).toBeLessThan(400)
  })
})

describe('deep values', () => {
  it('objects nested beyond 1000 levels are refused with a typed error, not a RangeError', async () => {
    let deep: Record<string, unknown> = {}
    const root = deep
    for (let i = 0; i < 5000; i++) {
      const next = {}
      deep.a = next
      deep = next
    }
    const error = await store
      .appendToStream(aStreamId(), [{ type: 'T', data: root }])
      .catch((e: unknown) => e)
    expect(error).toBeInstanceOf(EventSerializationError)
    expect((error as Error).message).toMatch(/deeper than 1000 levels/)
  })

  it('1000 levels are stored', async () => {
    let deep: unknown = 1
    for (let i = 0; i < 999; i++) deep = [deep]
    await expect(
      store.appendToStream(aStreamId(), [{ type: 'T', data: { deep } }]),
    ).resolves.toBeDefined()
  })
})

describe('names Postgres would not store as given', () => {
  const lone = 'name-\ud800'
  const other = 'name-\udc00' // both would become 'name-\ufffd'

  it('checkpoint names with a lone surrogate or \\u0000 are refused', async () => {
    for (const name of [lone, other, 'a\u0000b']) {
      await expect(store.checkpoints.save(name, 1n)).rejects.toThrow(InvalidArgumentError)
      await expect(store.checkpoints.load(name)).rejects.toThrow(InvalidArgumentError)
      expect(() => store.subscribeToAll({ checkpoint: name })).toThrow(InvalidArgumentError)
    }
  })

  it('group names and group sources with a lone surrogate or \\u0000 are refused', () => {
    expect(() => store.consumerGroup(lone, { source: 'all' })).toThrow(/lone UTF-16 surrogate/)
    expect(() => store.queue(other)).toThrow(/lone UTF-16 surrogate/)
    for (const source of [
      { category: 'a\u0000b' },
      { category: lone },
      { streamIdPrefix: 'p\u0000' },
      { eventTypes: ['T\u0000'] },
      { eventTypes: [lone] },
    ]) {
      expect(() => store.consumerGroup('g', { source })).toThrow(ConfigError)
    }
  })
})

describe('other names', () => {
  const nats = { servers: 'nats://127.0.0.1:4222' }
  it('relay names and streams, aggregate names and categories refuse lone surrogates', () => {
    expect(() => store.relay({ name: 'r\ud800', stream: 'S', nats })).toThrow(ConfigError)
    expect(() => store.relay({ name: 'r', stream: 'S\udc00', nats })).toThrow(ConfigError)
    const aggregate = { evolve: () => ({}), decide: () => [], initialState: () => ({}) }
    expect(() => defineAggregate({ category: 'c', name: 'n\ud800', ...aggregate })).toThrow(
      /lone UTF-16 surrogate/,
    )
    expect(() => defineAggregate({ category: 'c\ud800', ...aggregate })).toThrow(
      /lone UTF-16 surrogate/,
    )
  })
})

describe('limits that reached Postgres raw', () => {
  it('a schema name whose NOTIFY channel would pass 63 bytes is refused', () => {
    expect(() =>
      createEventStore({ connectionString: db.url }, { schema: 'a'.repeat(57) }),
    ).toThrow(ConfigError)
    const fits = createEventStore({ connectionString: db.url }, { schema: 'a'.repeat(56) })
    void fits.close()
  })

  it('maxWaitMs over 2^31-1 is refused', async () => {
    await expect(store.readAll({ maxWaitMs: 2 ** 31 })).rejects.toThrow(InvalidArgumentError)
    await expect(store.readAll({ maxWaitMs: 2 ** 31 - 1, limit: 1 })).resolves.toBeDefined()
  })

  it("checkpoints.save() as the first call of a store with migrate: 'auto' migrates first", async () => {
    const fresh = createEventStore(
      { connectionString: db.url },
      { schema: 'checkpoints_first', migrate: 'auto' },
    )
    try {
      await fresh.checkpoints.save('first', 5n)
      expect(await fresh.checkpoints.load('first')).toBe(5n)
    } finally {
      await fresh.close()
    }
  })
})

describe('retry policies share one set of names', () => {
  it('the old names are refused naming the new ones', () => {
    expect(() => store.subscribeToAll({ retry: { initialDelayMs: 10 } as never })).toThrow(
      /retry\.initialDelayMs.*retry\.initialMs/,
    )
    expect(() => store.subscribeToAll({ retry: { maxDelayMs: 10 } as never })).toThrow(
      /retry\.maxMs/,
    )
    expect(() =>
      defineProjection({
        name: 'p',
        version: 1,
        handlers: { T: () => undefined },
        onError: { retry: { initialDelayMs: 10 } as never },
      }),
    ).toThrow(/onError\.retry\.initialMs/)
    expect(() =>
      store.consumerGroup('g', { source: 'all', backoff: { initialDelayMs: 1 } as never }),
    ).toThrow(/backoff\.initialMs/)
  })

  it('subscriptions take the consumers’ names and Infinity', () => {
    const subscription = store.subscribeToAll({
      retry: { maxAttempts: Infinity, initialMs: 1, maxMs: 10, multiplier: 3, jitter: 0 },
    })
    expect(subscription).toBeDefined()
    expect(() => store.subscribeToAll({ retry: { maxAttempts: 0 } })).toThrow(/maxAttempts/)
    expect(() => store.subscribeToAll({ retry: { onRetry: 1 as never } })).toThrow(/onRetry/)
  })
})

afterAll(async () => {
  await db.query('DROP SCHEMA IF EXISTS checkpoints_first CASCADE')
})

describe('deep snapshot state', () => {
  it('is refused by the snapshot codec with its typed error, not a RangeError', () => {
    let deep: unknown = 1
    for (let i = 0; i < 5000; i++) deep = { a: deep }
    expect(() => richJsonCodec.encode(deep)).toThrow(/deeper than 500 levels/)
  })
})

describe('handler errors Postgres would refuse', () => {
  it('an error with \\u0000 and a pair cut at the size limit still parks its message', async () => {
    const category = `nul${Math.random().toString(36).slice(2, 8)}`
    const group = store.consumerGroup(`nul-${category}`, {
      source: { category },
      maxAttempts: 1,
    })
    const consumer = group.consume(() => {
      throw new Error(`a\u0000b ${'x'.repeat(1998)}😀 and \ud800 alone`)
    })
    try {
      await store.appendToStream(aStreamId(category), [{ type: 'T', data: {} }])
      await waitFor(async () => (await group.deadLetters.count()) === 1, { message: 'parked' })
      const [dead] = await group.deadLetters.list()
      expect(dead!.lastError!.message.startsWith('a\\u0000b x')).toBe(true)
    } finally {
      await consumer.stop()
    }
  })
})
