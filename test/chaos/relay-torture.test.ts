import { jetstreamManager } from '@nats-io/jetstream'
import { connect } from '@nats-io/transport-node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { EventStore, Relay } from '../../src/index.js'
import { committedIds, terminate, tortureWriters } from '../support/torture.js'
import { useTestDatabase } from '../support/test-database.js'
import { sleep, waitFor } from '../support/wait-for.js'
import { startOwnNats, useNats } from '../relay/helpers.js'

const db = useTestDatabase()
const shared = useNats()
let store: EventStore
let own: Awaited<ReturnType<typeof startOwnNats>>

beforeAll(async () => {
  store = await db.store()
  own = await startOwnNats()
})
afterAll(async () => {
  await own?.remove()
})

/** Messages in the stream (0 while the server is unreachable). */
async function count(servers: string, stream: string): Promise<number> {
  const nc = await connect({ servers, reconnect: false, timeout: 2000 }).catch(() => undefined)
  if (nc === undefined) return 0
  try {
    return (await (await jetstreamManager(nc)).streams.info(stream)).state.messages
  } catch {
    return 0
  } finally {
    await nc.close()
  }
}

/** Waits until the stream holds every committed event, then checks: once each, in order. */
async function everyEventOnce(
  relay: Relay,
  read: (stream: string) => Promise<Array<{ id: string; position: bigint }>>,
  servers: string,
  stream: string,
  forbidden: ReadonlySet<string>,
) {
  const committed = await committedIds(db)
  await waitFor(async () => (await count(servers, stream)) >= committed.length, {
    timeoutMs: 60_000,
    message: 'every event relayed',
  })
  const messages = await read(stream)
  expect(messages.map((m) => m.id)).toEqual(committed)
  for (let i = 1; i < messages.length; i++)
    expect(messages[i]!.position).toBeGreaterThan(messages[i - 1]!.position)
  for (const m of messages) expect(forbidden.has(m.id)).toBe(false)
  await relay.stop()
  return messages.length
}

describe('a relay under faults', () => {
  it('publishes every event once, in order, while its Postgres connections are terminated', async () => {
    const stream = shared.stream('PGKILL')
    const relay = store.relay({
      name: 'pg-killed',
      nats: { servers: shared.servers },
      stream,
      maxInFlight: 32,
      pageSize: 100,
    })
    let kills = 0
    let running = true
    const killer = (async () => {
      while (running) {
        // Kill points spread over the writers' run (a random pause, not a wait for a condition).
        await sleep(200 + Math.random() * 400)
        kills += await terminate(db)
      }
    })()
    const { forbidden } = await tortureWriters(db, store, { writers: 4, durationMs: 4000 })
    running = false
    await killer
    const total = await everyEventOnce(
      relay,
      (name) => shared.readBack(name),
      shared.servers,
      stream,
      forbidden,
    )
    expect(total).toBeGreaterThan(100)
    expect(kills).toBeGreaterThan(3)
  }, 120_000)

  it('publishes every event once, in order, while NATS is killed, restarted and paused past the publish timeout', async () => {
    const stream = shared.stream('RESTART')
    const errors: unknown[] = []
    const relay = store.relay({
      name: 'nats-restarted',
      nats: { servers: own.url, reconnectTimeWait: 100 },
      stream,
      maxInFlight: 64,
      publishTimeoutMs: 500,
      pageSize: 100,
      onError: (error) => errors.push(error),
    })
    const stop = new AbortController()
    const writers = tortureWriters(db, store, {
      writers: 2,
      durationMs: 60_000,
      signal: stop.signal,
    })
    const progress = async () => {
      const at = await count(own.url, stream)
      await waitFor(async () => (await count(own.url, stream)) > at, {
        timeoutMs: 30_000,
        message: 'relaying',
      })
    }
    try {
      for (const fault of ['SIGKILL', 'pause', 'SIGTERM', 'SIGKILL'] as const) {
        await progress()
        if (fault === 'pause') {
          const before = errors.length
          own.pause() // publishes time out; the server stores them when it resumes
          await waitFor(() => errors.length > before && relay.state === 'recovering', {
            timeoutMs: 20_000,
            message: 'publishes timing out',
          })
          own.resume()
        } else {
          await own.stop(fault)
          await own.start()
        }
      }
      await progress()
    } finally {
      stop.abort()
    }
    const { forbidden } = await writers
    const read = (name: string) => shared.readBack(name, own.url)
    const total = await everyEventOnce(relay, read, own.url, stream, forbidden)
    expect(total).toBeGreaterThan(50)
  }, 180_000)
})
