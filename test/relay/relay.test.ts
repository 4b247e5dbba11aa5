import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import {
  ConfigError,
  defineEvent,
  InvalidArgumentError,
  RelayError,
  type Relay,
} from '../../src/index.js'
import { aStreamId } from '../support/factories.js'
import { useTestDatabase } from '../support/test-database.js'
import { waitFor } from '../support/wait-for.js'
import { useNats } from './helpers.js'

const db = useTestDatabase()
const nats = useNats()

/** Every event of $all (or of the category) by position: what the stream must hold, in order. */
async function committed(category?: string): Promise<Array<{ id: string; position: bigint }>> {
  const rows = await db.query<{ id: string; position: string }>(
    `SELECT id, position FROM strata.events
      WHERE $1::text IS NULL OR split_part(stream_id, '-', 1) = $1 ORDER BY position`,
    [category ?? null],
  )
  return rows.map((r) => ({ id: r.id, position: BigInt(r.position) }))
}

/** A category of this test's own: tests share the database, so each relay filters on one. */
const aCategory = (name: string) => `${name}${randomBytes(4).toString('hex')}`

/** Waits until the relay has published the category's last event (all of $all without one). */
async function caughtUp(relay: Relay, category?: string) {
  const events = await committed(category)
  const last = events.at(-1)?.position ?? 0n
  await waitFor(() => relay.position >= last, { timeoutMs: 20_000, message: 'relay caught up' })
}

describe('store.relay', () => {
  it('publishes every event once, in position order, with the event id as Nats-Msg-Id and the documented headers', async () => {
    const store = await db.store()
    const stream = nats.stream()
    const category = aCategory('account')
    const account = aStreamId(category)
    await store.appendToStream(account, [
      {
        type: 'Deposited',
        data: { amount: 5 },
        metadata: {
          correlationId: 'corr-1',
          causationId: 'cause-1',
          traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
          tenant: 'acme',
        },
      },
      { type: 'Withdrawn.Partly', data: { amount: 2 } },
    ])
    const relay = store.relay({
      name: 'all',
      nats: { servers: nats.servers },
      stream,
      filter: { category },
    })
    await caughtUp(relay, category)
    await store.appendToStream(aStreamId(category), [{ type: 'Placed', data: {} }])
    await caughtUp(relay, category)
    expect(relay.state).toBe('live')

    const messages = await nats.readBack(stream)
    const expected = await committed(category)
    expect(messages.map((m) => m.id)).toEqual(expected.map((e) => e.id))
    expect(messages.map((m) => m.position)).toEqual(expected.map((e) => e.position))
    const [first, second] = messages
    expect(first!.subject).toBe(`${stream}.${category}.Deposited`)
    expect(second!.subject).toBe(`${stream}.${category}.Withdrawn_Partly`) // '.' is no token character
    expect(first!.headers).toMatchObject({
      'Strata-Relay': 'all',
      'Strata-Stream-Id': account,
      'Strata-Stream-Version': '1',
      'Strata-Event-Type': 'Deposited',
      'Strata-Correlation-Id': 'corr-1',
      'Strata-Causation-Id': 'cause-1',
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    })
    expect(JSON.parse(first!.headers['Strata-Metadata']!)).toMatchObject({ tenant: 'acme' })
    expect(JSON.parse(first!.body)).toEqual({ amount: 5 })
    expect(second!.headers['Strata-Metadata']).toBeUndefined()
    await relay.stop()
    expect(relay.state).toBe('stopped')
  })

  it('relays a filtered part of $all and resumes after a restart without repeating or missing an event', async () => {
    const store = await db.store()
    const stream = nats.stream()
    const category = aCategory('cart')
    const append = async (n: number) => {
      for (let i = 0; i < n; i++) {
        await store.appendToStream(aStreamId(category), [{ type: 'Added', data: { i } }])
        await store.appendToStream(aStreamId('noise'), [{ type: 'Noise', data: { i } }])
      }
    }
    const options = {
      name: 'carts',
      nats: { servers: nats.servers },
      stream,
      filter: { category },
      maxInFlight: 4,
    }
    await append(20)
    let relay = store.relay(options)
    await waitFor(async () => (await nats.readBack(stream)).length === 20, { timeoutMs: 20_000 })
    await relay.stop()
    await append(15)
    relay = store.relay(options)
    await waitFor(async () => (await nats.readBack(stream)).length >= 35, { timeoutMs: 20_000 })
    await append(5)
    await waitFor(async () => (await nats.readBack(stream)).length >= 40, { timeoutMs: 20_000 })
    const messages = await nats.readBack(stream)
    expect(messages.map((m) => m.id)).toEqual((await committed(category)).map((e) => e.id))
    expect(messages.every((m) => m.subject === `${stream}.${category}.Added`)).toBe(true)
    expect(relay.published).toBe(20) // the second run published only what was new
    await relay.stop()
  })

  it('resumes after the last message in the stream, not after a checkpoint that trails it, whatever the duplicate window', async () => {
    const store = await db.store()
    const stream = nats.stream()
    const category = aCategory('trail')
    // JetStream's shortest duplicate window (100 ms), long over when the relay restarts: a
    // re-send would not be dropped, so nothing may be re-sent.
    const options = {
      name: 'trailing',
      nats: { servers: nats.servers },
      stream,
      filter: { category },
      createStream: { duplicateWindowMs: 100 },
    }
    const ids = async (n: number) => {
      for (let i = 0; i < n; i++)
        await store.appendToStream(aStreamId(category), [{ type: 'T', data: { i } }])
    }
    await ids(12)
    let relay = store.relay(options)
    await caughtUp(relay, category)
    await relay.stop()
    // As if the instance had been killed right after its publishes were acknowledged.
    await db.query(
      `UPDATE strata.relays SET position = 0, stream_sequence = 0 WHERE name = 'trailing'`,
    )
    await ids(3)
    relay = store.relay(options)
    await caughtUp(relay, category)
    expect(relay.published).toBe(3)
    const messages = await nats.readBack(stream)
    expect(messages.map((m) => m.id)).toEqual((await committed(category)).map((e) => e.id))
    await relay.stop()
  })

  it('counts deleted or expired last messages by their sequence numbers and publishes none of them again', async () => {
    const store = await db.store()
    const stream = nats.stream()
    const category = aCategory('gone')
    const options = { name: 'gone', nats: { servers: nats.servers }, stream, filter: { category } }
    const append = async (n: number) => {
      for (let i = 0; i < n; i++)
        await store.appendToStream(aStreamId(category), [{ type: 'T', data: { i } }])
    }
    await append(10)
    let relay = store.relay(options)
    await caughtUp(relay, category)
    await relay.stop()
    const before = await nats.readBack(stream)
    // A checkpoint at the 5th message, and the last two messages deleted from the stream.
    await db.query(
      `UPDATE strata.relays SET position = $1, stream_sequence = 5 WHERE name = 'gone'`,
      [before[4]!.position.toString()],
    )
    const nc = await nats.connection()
    const { jetstreamManager } = await import('@nats-io/jetstream')
    const jsm = await jetstreamManager(nc)
    await jsm.streams.deleteMessage(stream, 10)
    await jsm.streams.deleteMessage(stream, 9)
    await append(3)
    relay = store.relay(options)
    await caughtUp(relay, category)
    const after = await nats.readBack(stream)
    const all = await committed(category)
    expect(after.map((m) => m.sequence)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 11, 12, 13])
    expect(after.map((m) => m.id)).toEqual([...all.slice(0, 8), ...all.slice(10)].map((e) => e.id))
    expect(relay.published).toBe(3)
    await relay.stop()
  })

  it('runs one instance per relay name; a standby takes over when it stops, and every event is published once', async () => {
    const store = await db.store()
    const stream = nats.stream()
    const category = aCategory('pair')
    const options = {
      name: 'pair',
      nats: { servers: nats.servers },
      stream,
      filter: { category },
      leaseMs: 1000,
    }
    const append = async (n: number) => {
      for (let i = 0; i < n; i++)
        await store.appendToStream(aStreamId(category), [{ type: 'T', data: { i } }])
    }
    await append(10)
    const a = store.relay(options)
    await waitFor(() => a.state === 'live', { timeoutMs: 20_000 })
    const b = store.relay(options)
    await waitFor(() => b.state === 'standby')
    const [status] = await store.relayStatus('pair')
    expect(status!.activeInstance).toBe(a.owner)
    await append(5)
    await caughtUp(a, category)
    await a.stop()
    await waitFor(() => b.state === 'live', { timeoutMs: 10_000 })
    await append(5)
    await caughtUp(b, category)
    expect(a.published + b.published).toBe(20)
    const messages = await nats.readBack(stream)
    expect(messages.map((m) => m.id)).toEqual((await committed(category)).map((e) => e.id))
    await b.stop()
  })

  it('stops with a RelayError when its stream holds a message it did not publish', async () => {
    const store = await db.store()
    const stream = nats.stream()
    const category = aCategory('own')
    const options = { name: 'owned', nats: { servers: nats.servers }, stream, filter: { category } }
    await store.appendToStream(aStreamId(category), [{ type: 'T', data: {} }])
    let relay = store.relay(options)
    await caughtUp(relay, category)
    await relay.stop()
    const nc = await nats.connection()
    const { jetstream } = await import('@nats-io/jetstream')
    await jetstream(nc).publish(`${stream}.intruder`, 'hello')
    await store.appendToStream(aStreamId(category), [{ type: 'T', data: {} }])
    relay = store.relay(options)
    await expect(relay.done).rejects.toThrow(RelayError)
    await expect(relay.done).rejects.toThrow(/did not publish/)
    expect(relay.state).toBe('failed')
    expect(await nats.readBack(stream)).toHaveLength(2) // nothing published after the intruder
  })

  it('refuses to resume after a last message this store does not hold (a restored database, another deployment)', async () => {
    const store = await db.store()
    const stream = nats.stream()
    const category = aCategory('timeline')
    for (let i = 0; i < 3; i++)
      await store.appendToStream(aStreamId(category), [{ type: 'T', data: {} }])
    const options = {
      name: 'timeline',
      nats: { servers: nats.servers },
      stream,
      filter: { category },
    }
    const relay = store.relay(options)
    await caughtUp(relay, category)
    await relay.stop()
    // Another store (schema) with a relay of the same name into the same stream: its log does
    // not have the stream's last event, as a database restored to an earlier point would not.
    const other = await db.store({ schema: 'restored' })
    await other.appendToStream(aStreamId(category), [{ type: 'T', data: {} }])
    const stranger = other.relay(options)
    await expect(stranger.done).rejects.toThrow(/restored or belongs to another deployment/)
    expect(await nats.readBack(stream)).toHaveLength(3)
  })

  it("starts from 'end' when asked, and stops with its store, releasing the lease", async () => {
    const store = await db.store()
    const stream = nats.stream()
    const category = aCategory('end')
    await store.appendToStream(aStreamId(category), [{ type: 'Before', data: {} }])
    const relay = store.relay({
      name: 'from-end',
      nats: { servers: nats.servers },
      stream,
      filter: { category },
      from: 'end',
    })
    await waitFor(() => relay.state === 'live', { timeoutMs: 20_000 })
    await store.appendToStream(aStreamId(category), [{ type: 'After', data: {} }])
    await caughtUp(relay, category)
    await store.close()
    expect(relay.state).toBe('stopped')
    const messages = await nats.readBack(stream)
    expect(messages.map((m) => m.headers['Strata-Event-Type'])).toEqual(['After'])
    const [row] = await db.query(`SELECT lease_owner FROM strata.relays WHERE name = 'from-end'`)
    expect(row).toEqual({ lease_owner: null })
  })

  it('refuses bad options with a typed error naming the value, and writes nothing', async () => {
    const store = await db.store()
    const base = { name: 'bad', nats: { servers: nats.servers }, stream: 'S' }
    expect(() => store.relay({ ...base, name: '' })).toThrow(ConfigError)
    expect(() => store.relay({ ...base, stream: 'a.b' })).toThrow(/"a\.b"/)
    expect(() => store.relay({ ...base, nats: { servers: [] } })).toThrow(ConfigError)
    expect(() => store.relay({ ...base, maxInFlight: 0 })).toThrow(/maxInFlight/)
    expect(() => store.relay({ ...base, subjectPrefix: 'a b' })).toThrow(/whitespace/)
    expect(() => store.relay({ ...base, filter: { category: '' } })).toThrow(ConfigError)
    expect(() => store.relay({ ...base, from: -1n })).toThrow(InvalidArgumentError)
    expect(await db.query(`SELECT name FROM strata.relays WHERE name = 'bad'`)).toEqual([])
  })

  it('refuses a relay name already bound to another JetStream stream', async () => {
    const store = await db.store()
    const first = nats.stream()
    const relay = store.relay({
      name: 'bound',
      nats: { servers: nats.servers },
      stream: first,
    })
    await waitFor(() => relay.state === 'live', { timeoutMs: 20_000 })
    await relay.stop()
    const other = store.relay({
      name: 'bound',
      nats: { servers: nats.servers },
      stream: nats.stream(),
    })
    await expect(other.done).rejects.toThrow(ConfigError)
    await expect(other.done).rejects.toThrow(new RegExp(first))
  })

  it('stops with a RelayError on a subject it cannot publish to, before publishing the event', async () => {
    const store = await db.store()
    const stream = nats.stream()
    const category = aCategory('subj')
    await store.appendToStream(aStreamId(category), [{ type: 'T', data: {} }])
    const relay = store.relay({
      name: 'bad-subject',
      nats: { servers: nats.servers },
      stream,
      filter: { category },
      subject: () => `${stream}.*`,
    })
    await expect(relay.done).rejects.toThrow(/wildcard/)
    expect(await nats.readBack(stream)).toHaveLength(0)
  })
})

describe('the NATS client, an optional peer dependency', () => {
  it('is loaded only by a relay, which fails with a MissingDependencyError naming the packages when it is absent', async () => {
    const fixtures = new URL('./fixtures/', import.meta.url)
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        '--import',
        fileURLToPath(new URL('hide-nats.js', fixtures)),
        fileURLToPath(new URL('without-nats.ts', fixtures)),
      ],
      { env: { ...process.env, DATABASE_URL: db.url }, stdio: ['ignore', 'pipe', 'inherit'] },
    )
    let out = ''
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()))
    const code = await new Promise((resolve) => child.on('exit', resolve))
    expect(code).toBe(0)
    const failure = JSON.parse(out) as Record<string, string>
    expect(failure).toMatchObject({
      name: 'MissingDependencyError',
      code: 'MISSING_DEPENDENCY',
      state: 'failed',
    })
    expect(failure.message).toContain('npm install @nats-io/transport-node @nats-io/jetstream')
  })
})

describe('relay telemetry', () => {
  it('records spans for reconciles and checkpoints and metrics for acknowledged publishes, and logs its states', async () => {
    const spans: string[] = []
    const counters = new Map<string, number>()
    const histograms = new Set<string>()
    const logged: string[] = []
    const noop = () => undefined
    const store = await db.store({
      telemetry: {
        tracer: {
          startActiveSpan: (name, _options, fn) => {
            spans.push(name)
            return fn({ setAttribute: noop, setStatus: noop, recordException: noop, end: noop })
          },
        },
        meter: {
          createCounter: (name) => ({
            add: (value) => counters.set(name, (counters.get(name) ?? 0) + value),
          }),
          createHistogram: (name) => ({ record: () => histograms.add(name) }),
        },
      },
      logger: { debug: noop, info: (_f, m) => logged.push(m ?? ''), warn: noop, error: noop },
    })
    const stream = nats.stream()
    const category = aCategory('otel')
    await store.appendToStream(aStreamId(category), [
      { type: 'T', data: {} },
      { type: 'T', data: {} },
    ])
    const relay = store.relay({
      name: 'otel',
      nats: { servers: nats.servers },
      stream,
      filter: { category },
    })
    await caughtUp(relay, category)
    await waitFor(() => spans.includes('strata.relay.checkpoint'))
    await relay.stop()
    expect(spans).toContain('strata.relay.reconcile')
    expect(counters.get('strata.relay.published')).toBe(2)
    expect([...histograms]).toEqual(
      expect.arrayContaining(['strata.relay.ack.duration', 'strata.relay.latency']),
    )
    expect(logged).toEqual(expect.arrayContaining(['relay live', 'relay stopped']))
  })
})

describe('store.relayStatus', () => {
  it('reports the checkpoint, the lag in events and seconds, and the active instance', async () => {
    const store = await db.store()
    const stream = nats.stream()
    const category = aCategory('st')
    const options = {
      name: 'status',
      nats: { servers: nats.servers },
      stream,
      filter: { category },
    }
    await store.appendToStream(aStreamId(category), [{ type: 'T', data: {} }])
    const relay = store.relay(options)
    await caughtUp(relay, category)
    await waitFor(async () => (await store.relayStatus('status'))[0]?.eventsBehind === 0)
    let [status] = await store.relayStatus('status')
    expect(status).toMatchObject({
      name: 'status',
      stream,
      filter: { category },
      streamSequence: 1,
      eventsBehind: 0,
      eventsBehindExact: true,
      secondsBehind: 0,
      activeInstance: relay.owner,
    })
    await relay.stop()
    ;[status] = await store.relayStatus('status')
    expect(status!.activeInstance).toBeNull()
    await store.appendToStream(aStreamId('other'), [{ type: 'T', data: {} }])
    await store.appendToStream(aStreamId(category), [
      { type: 'T', data: {} },
      { type: 'T', data: {} },
    ])
    ;[status] = await store.relayStatus('status')
    expect(status!.eventsBehind).toBe(2) // the filter's events only
    expect(status!.secondsBehind).toBeGreaterThanOrEqual(0)
    expect(await store.relayStatus('nobody')).toEqual([])
  })
})

describe('consumeRelay', () => {
  const Deposited = defineEvent(z.object({ amount: z.number() })).nextVersion(
    z.object({ cents: z.number().int() }),
    (v1) => ({ cents: v1.amount * 100 }),
  )

  it('yields typed events validated with the registry, from an ordered or a durable consumer', async () => {
    const { consumeRelay } = await import('../../src/index.js')
    // The relay's store knows version 1; the consumer is a newer deployment (version 2).
    const store = await db.store({
      events: { Deposited: z.object({ amount: z.number() }) },
      allowUnregisteredTypes: true,
    })
    const stream = nats.stream()
    const category = aCategory('acct')
    const account = aStreamId(category)
    await store.appendToStream(account, [
      { type: 'Deposited', data: { amount: 1.5 }, metadata: { correlationId: 'c-1' } },
      { type: 'Deposited', data: { amount: 2 } },
    ])
    const relay = store.relay({
      name: 'consumed',
      nats: { servers: nats.servers },
      stream,
      filter: { category },
    })
    await caughtUp(relay, category)

    const ordered = []
    for await (const event of consumeRelay({
      nats: { servers: nats.servers },
      stream,
      events: { Deposited },
    })) {
      expect(event.type).toBe('Deposited')
      ordered.push(event)
      if (ordered.length === 2) break
    }
    expect(ordered.map((e) => e.data)).toEqual([{ cents: 150 }, { cents: 200 }])
    expect(ordered[0]).toMatchObject({
      streamId: account,
      version: 1n,
      sequence: 1,
      metadata: { correlationId: 'c-1' },
    })
    expect(ordered[1]!.position).toBeGreaterThan(ordered[0]!.position)

    // A durable consumer resumes after what it acknowledged.
    const durable = {
      nats: { servers: nats.servers },
      stream,
      events: { Deposited },
      consumer: 'billing',
    }
    for await (const event of consumeRelay(durable)) {
      event.ack()
      break
    }
    await store.appendToStream(account, [{ type: 'Deposited', data: { amount: 3 } }])
    await caughtUp(relay, category)
    const rest: number[] = []
    for await (const event of consumeRelay(durable)) {
      rest.push(event.data.cents)
      event.ack()
      if (rest.length === 2) break
    }
    expect(rest).toEqual([200, 300])

    // afterPosition: the consumer's own checkpoint.
    const after = []
    for await (const event of consumeRelay({
      nats: { servers: nats.servers },
      stream,
      afterPosition: ordered[1]!.position,
    })) {
      after.push(event.data)
      break
    }
    expect(after).toEqual([{ amount: 3 }])
    await relay.stop()
  })

  it("throws the registry's error for a payload it refuses", async () => {
    const { consumeRelay, EventValidationError } = await import('../../src/index.js')
    const store = await db.store()
    const stream = nats.stream()
    const category = aCategory('bad')
    await store.appendToStream(aStreamId(category), [{ type: 'Deposited', data: { amount: 'x' } }])
    const relay = store.relay({
      name: 'refused',
      nats: { servers: nats.servers },
      stream,
      filter: { category },
    })
    await caughtUp(relay, category)
    const iterate = async () => {
      for await (const _ of consumeRelay({
        nats: { servers: nats.servers },
        stream,
        events: { Deposited },
      }))
        break
    }
    await expect(iterate()).rejects.toThrow(EventValidationError)
    await relay.stop()
  })
})
