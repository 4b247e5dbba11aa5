import { fileURLToPath } from 'node:url'
import { beforeAll, describe, expect, it } from 'vitest'
import { createEventStore, type EventStore } from '../../src/index.js'
import { waitFor } from '../support/wait-for.js'
import { useChildProcesses, type Child } from '../support/child-process.js'
import { useTestDatabase } from '../support/test-database.js'
import { aCategory, aGroupName, appendInterleaved, sleep, waitUntilDrained } from './helpers.js'

const db = useTestDatabase()
let store: EventStore

interface Scenario {
  readonly category: string
  readonly group: string
  readonly child: Child
}
let killed: Scenario
let stalled: Scenario
let terminated: Scenario

beforeAll(async () => {
  store = await db.store()
  // Start every child now: each takes a second or two to start (transpiling), in parallel.
  const scenario = (name: string, env: Record<string, string>): Scenario => {
    const category = aCategory(name)
    const group = aGroupName(name)
    return { category, group, child: startChild({ GROUP: group, CATEGORY: category, ...env }) }
  }
  killed = scenario('kill', {
    STRATEGY: 'round-robin',
    LEASE_MS: '1500',
    HANDLER_MS: 'forever',
    CONCURRENCY: '4',
  })
  stalled = scenario('stall', {
    STRATEGY: 'per-stream',
    LEASE_MS: '600',
    HANDLER_MS: 'forever',
    IGNORE_ABORT: '1',
    CONCURRENCY: '1',
  })
  terminated = scenario('term', {
    STRATEGY: 'round-robin',
    LEASE_MS: '60000',
    HANDLER_MS: 'forever',
    CONCURRENCY: '2',
    STOP_TIMEOUT_MS: '200',
  })
  await waitFor(() => [killed, stalled, terminated].every((s) => s.child.count('ready') === 1), {
    timeoutMs: 30_000,
    message: 'children ready',
  })
})

const fixture = fileURLToPath(new URL('./fixtures/consumer-process.ts', import.meta.url))

const startFixture = useChildProcesses()

/** Runs test/consumers/fixtures/consumer-process.ts with this environment. */
function startChild(env: Record<string, string>): Child {
  return startFixture(fixture, { DATABASE_URL: db.url, ...env })
}

describe('a consumer killed mid-handler', () => {
  it('SIGKILL: its leases expire, every event is acked elsewhere, none lost', async () => {
    const { category, group, child } = killed
    const { ids } = await appendInterleaved(store, category, 12, 1)
    await waitFor(() => child.count('started') === 4, { message: 'child busy' })
    child.process.kill('SIGKILL')
    await child.exited
    const started = child.facts.filter((f) => 'started' in f).map((f) => f.started as string)

    const ours = store.consumerGroup(group, { source: { category } })
    expect((await ours.status()).inFlight).toBe(4) // the dead consumer's leases, until expiry
    const handled = new Map<string, number>()
    const consumer = ours.consume((event, ctx) => void handled.set(event.id, ctx.attempt), {
      concurrency: 4,
    })
    await waitFor(() => handled.size === ids.length, { timeoutMs: 15_000 })
    await waitUntilDrained(ours)
    expect([...handled.keys()].sort()).toEqual([...ids].sort())
    for (const id of started) expect(handled.get(id)).toBe(2) // redelivered after expiry
    // The dead consumer drops off the group's list once its heartbeat is overdue.
    await waitFor(async () => (await ours.status()).consumers === 1, { timeoutMs: 10_000 })
    await consumer.stop()
  })

  it('SIGSTOP: a stalled consumer loses its lease to another; resumed, it aborts and its late ack is refused', async () => {
    const { category, group, child } = stalled
    const { ids } = await appendInterleaved(store, category, 1, 1)
    await waitFor(() => child.count('started') === 1)
    child.process.kill('SIGSTOP')

    const ours = store.consumerGroup(group, { source: { category }, strategy: 'per-stream' })
    let release: () => void = () => undefined
    const held = new Promise<void>((resolve) => (release = resolve))
    const attempts: number[] = []
    const consumer = ours.consume(async (_event, ctx) => {
      attempts.push(ctx.attempt)
      await held
    })
    await waitFor(() => attempts.length === 1, { timeoutMs: 10_000, message: 'taken over' })
    expect(attempts).toEqual([2])

    child.process.kill('SIGCONT')
    await waitFor(() => child.count('done') === 1, { timeoutMs: 10_000 })
    expect(child.facts.find((f) => 'aborted' in f)).toMatchObject({
      aborted: ids[0],
      reason: 'DeliveryLeaseLostError',
    })
    child.process.kill('SIGTERM') // its graceful stop waits for its (late) ack to be answered
    await waitFor(() => child.count('stopped') === 1, { timeoutMs: 10_000 })
    expect((await ours.status()).inFlight).toBe(1) // the late ack was refused: still ours
    release()
    await waitUntilDrained(ours)
    await consumer.stop()
    expect(await child.exited).toBe(0)
  })

  it('SIGTERM: the documented one-liner stops gracefully and releases leases at once, not at expiry', async () => {
    const { category, group, child } = terminated
    const { ids } = await appendInterleaved(store, category, 5, 1)
    await waitFor(() => child.count('started') === 2)
    child.process.kill('SIGTERM')
    expect(await child.exited).toBe(0)
    expect(child.facts.find((f) => 'stopped' in f)).toEqual({
      stopped: { completed: 0, aborted: 2, released: 0 },
    })
    const ours = store.consumerGroup(group, { source: { category } })
    const handled = new Map<string, number>()
    const consumer = ours.consume((event, ctx) => void handled.set(event.id, ctx.attempt), {
      concurrency: 5,
    })
    // Well inside the 60 s lease.
    await waitFor(() => handled.size === ids.length, { timeoutMs: 10_000 })
    const started = child.facts.filter((f) => 'started' in f).map((f) => f.started as string)
    for (const id of started) expect(handled.get(id)).toBe(2)
    expect((await ours.status()).consumers).toBe(1) // the stopped one unregistered
    await consumer.stop()
  })

  it('connections dropped with pg_terminate_backend, again and again: every event is acked, none lost', async () => {
    const category = aCategory('drop')
    const { ids } = await appendInterleaved(store, category, 20, 10)
    const url = new URL(db.url)
    url.searchParams.set('application_name', 'strata-victim')
    const victim = createEventStore({ connectionString: url.toString() })
    const group = aGroupName('drop')
    const errors: unknown[] = []
    const vgroup = victim.consumerGroup(group, {
      source: { category },
      strategy: 'per-stream',
      leaseMs: 1000,
      maxAttempts: Infinity,
      onError: (e) => errors.push(e),
    })
    const handled = new Set<string>()
    const consumers = [1, 2, 3].map(() =>
      vgroup.consume(
        async (event) => {
          await sleep(3)
          handled.add(event.id)
        },
        { concurrency: 2 },
      ),
    )
    let kills = 0
    // Kill until most events are handled and the consumers have seen a connection die (a kill
    // can land on idle pooled connections only); bounded, the assertions below say what failed.
    const deadline = Date.now() + 15_000
    while ((handled.size < ids.length * 0.7 || errors.length === 0) && Date.now() < deadline) {
      await sleep(60)
      const killed = await db.query<{ killed: boolean }>(
        `SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity
          WHERE datname = current_database() AND application_name = 'strata-victim'`,
      )
      kills += killed.length
    }
    await waitFor(() => handled.size === ids.length, { timeoutMs: 20_000, message: 'all handled' })
    await waitUntilDrained(
      store.consumerGroup(group, { source: { category }, strategy: 'per-stream' }),
    )
    expect(kills).toBeGreaterThan(3)
    expect(errors.length).toBeGreaterThan(0) // the consumers did see the connections die
    await Promise.all(consumers.map((c) => c.stop()))
    await victim.close()
  })
})
