import { fileURLToPath } from 'node:url'
import { jetstreamManager } from '@nats-io/jetstream'
import { describe, expect, it } from 'vitest'
import { useChildProcesses, type Child } from '../support/child-process.js'
import { committedIds, tortureWriters } from '../support/torture.js'
import { useTestDatabase } from '../support/test-database.js'
import { waitFor } from '../support/wait-for.js'
import { useNats } from '../relay/helpers.js'

const db = useTestDatabase()
const nats = useNats()
const fixture = fileURLToPath(new URL('../relay/fixtures/relay-process.ts', import.meta.url))

const startFixture = useChildProcesses()
const startChild = (env: Record<string, string>) =>
  startFixture(fixture, { DATABASE_URL: db.url, ...env })
/** The relay instance's owner id, as the child reported it. */
const ownerOf = (child: Child) =>
  child.facts.find((f) => typeof f.owner === 'string')?.owner as string | undefined

describe('a relay killed with SIGKILL at random points while writers append', () => {
  it('leaves every event in the JetStream stream exactly once, in position order, after standbys take over', async () => {
    const store = await db.store()
    const stream = nats.stream('KILL')
    // JetStream's shortest duplicate window: re-sends after a takeover would not be dropped, so
    // exactly-once rests on the relay resuming after the stream's last message.
    const env = {
      NATS_URL: nats.servers,
      RELAY: 'killed',
      STREAM: stream,
      LEASE_MS: '1000',
      DUPLICATE_WINDOW_MS: '100',
    }
    const nc = await nats.connection()
    const jsm = await jetstreamManager(nc)
    const count = async () =>
      (await jsm.streams.info(stream).catch(() => undefined))?.state.messages ?? 0
    const live = new Set([startChild(env), startChild(env)])
    const active = async () => {
      const rows = await db.query<{ lease_owner: string }>(
        `SELECT lease_owner FROM strata.relays WHERE name = 'killed' AND lease_until > now()`,
      )
      return [...live].find((c) => ownerOf(c) !== undefined && ownerOf(c) === rows[0]?.lease_owner)
    }

    const stopWriters = new AbortController()
    const writers = tortureWriters(db, store, {
      writers: 2,
      durationMs: 60_000,
      signal: stopWriters.signal,
    })
    let kills = 0
    const deadline = Date.now() + 60_000
    while (kills < 4 && Date.now() < deadline) {
      // A random point: after the active instance has published 1 to 60 more messages.
      const victim = await waitFor(active, { timeoutMs: 30_000, message: 'an active relay' })
      const target = (await count()) + 1 + Math.floor(Math.random() * 60)
      await waitFor(async () => (await count()) >= target || Date.now() > deadline, {
        timeoutMs: 20_000,
        message: 'progress before the kill',
      })
      victim.process.kill('SIGKILL')
      await victim.exited
      live.delete(victim)
      kills++
      live.add(startChild(env)) // the next standby
    }
    stopWriters.abort()
    const { forbidden } = await writers

    const committed = await committedIds(db)
    await waitFor(async () => (await count()) >= committed.length, {
      timeoutMs: 60_000,
      message: 'every event relayed',
    })
    const messages = await nats.readBack(stream)
    expect(messages.map((m) => m.id)).toEqual(committed)
    for (let i = 1; i < messages.length; i++)
      expect(messages[i]!.position).toBeGreaterThan(messages[i - 1]!.position)
    for (const m of messages) expect(forbidden.has(m.id)).toBe(false)
    console.log(`relay kill test: ${kills} kills, ${messages.length} events`)
    expect(kills).toBeGreaterThanOrEqual(3)
    expect(committed.length).toBeGreaterThan(100)
    for (const child of live) child.process.kill('SIGTERM')
    await Promise.all([...live].map((c) => c.exited))
  }, 180_000)
})
