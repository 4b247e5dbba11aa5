import { randomUUID } from 'node:crypto'
import { beforeAll, describe, expect, it } from 'vitest'
import {
  defineProjection,
  type EventStore,
  type EventStoreOptions,
  type RecordedEvent,
} from '../../src/index.js'
import { aStreamId } from '../support/factories.js'
import { useTestDatabase } from '../support/test-database.js'
import { committedIds, installAppendDelays, tortureWriters } from '../support/torture.js'
import { waitFor } from '../support/wait-for.js'

/** How live readers learn of appends: the three modes a store can run in. */
export interface WakeUpMode {
  readonly name: string
  readonly options: Pick<EventStoreOptions, 'listen' | 'notify'>
}

export const WAKE_UP_MODES = {
  notify: { name: 'LISTEN/NOTIFY (default)', options: {} },
  polling: { name: 'polling only (listen: false)', options: { listen: false } },
  silent: { name: 'appends without NOTIFY (notify: false)', options: { notify: false } },
} satisfies Record<string, WakeUpMode>

const POLL = { pollIntervalMs: 50 }

/**
 * The behaviour every live reader must have whatever wakes it: each test file runs it in one
 * mode (a database of its own), so a mode that loses or repeats an event, or never wakes, fails.
 */
export function subscriptionSuite(mode: WakeUpMode): void {
  const db = useTestDatabase()
  let store: EventStore

  beforeAll(async () => {
    store = await db.store(mode.options)
    await installAppendDelays(db)
  })

  describe(`live reads, ${mode.name}`, () => {
    it('subscribeToAll delivers every committed event once, in order, under concurrent writers that commit out of order', async () => {
      const start = await store.headPosition()
      const seen: RecordedEvent[] = []
      const subscription = store
        .subscribeToAll({ from: start, ...POLL })
        .subscribe((event) => seen.push(event))
      try {
        const { forbidden } = await tortureWriters(db, store, { writers: 8, durationMs: 1500 })
        const committed = (await committedIds(db)).slice(Number(start))
        await waitFor(() => seen.length >= committed.length, {
          timeoutMs: 20_000,
          message: 'every committed event delivered',
        })
        const ids = seen.map((event) => event.id)
        expect(ids.filter((id) => forbidden.has(id))).toEqual([])
        expect(ids).toEqual(committed)
        for (let i = 1; i < seen.length; i++) {
          expect(seen[i]!.position).toBeGreaterThan(seen[i - 1]!.position)
        }
      } finally {
        subscription.unsubscribe()
      }
    })

    it('subscribeToCategory and subscribeToStream follow new events live', async () => {
      const category = `c${randomUUID().replaceAll('-', '').slice(0, 10)}`
      const streamId = `${category}-1`
      const inCategory: RecordedEvent[] = []
      const inStream: RecordedEvent[] = []
      const a = store
        .subscribeToCategory(category, { from: 'end', eventTypes: ['Wanted'], ...POLL })
        .subscribe((event) => inCategory.push(event))
      const b = store
        .subscribeToStream(streamId, { from: 'end', ...POLL })
        .subscribe((event) => inStream.push(event))
      try {
        // Let both reach the live phase, then append.
        await new Promise((resolve) => setTimeout(resolve, 200))
        await store.appendToStream(streamId, [
          { type: 'Wanted', data: { n: 1 } },
          { type: 'Other', data: { n: 2 } },
        ])
        await store.appendToStream(`${category}-2`, [{ type: 'Wanted', data: { n: 3 } }])
        await store.appendToStream(aStreamId(), [{ type: 'Wanted', data: { n: 4 } }])
        await waitFor(() => inCategory.length >= 2 && inStream.length >= 2)
        expect(inCategory.map((e) => e.data)).toEqual([{ n: 1 }, { n: 3 }])
        expect(inStream.map((e) => e.version)).toEqual([1n, 2n])
      } finally {
        a.unsubscribe()
        b.unsubscribe()
      }
    })

    it('a durable subscription resumes after its checkpoint', async () => {
      const name = `durable_${randomUUID().slice(0, 8)}`
      const streamId = aStreamId('durable')
      const start = await store.headPosition()
      await store.appendToStream(streamId, [
        { type: 'A', data: {} },
        { type: 'B', data: {} },
      ])
      const first: RecordedEvent[] = []
      const one = store
        .subscribeToAll({ from: start, checkpoint: name, checkpointEvery: 1, ...POLL })
        .subscribe((event) => first.push(event))
      await waitFor(
        async () => (await store.checkpoints.load(name)) !== undefined && first.length >= 2,
      )
      await waitFor(async () => (await store.checkpoints.load(name)) === first.at(-1)!.position)
      one.unsubscribe()
      await store.appendToStream(streamId, [{ type: 'C', data: {} }])
      const second: RecordedEvent[] = []
      const two = store
        .subscribeToAll({ from: start, checkpoint: name, ...POLL })
        .subscribe((event) => second.push(event))
      try {
        await waitFor(() => second.some((event) => event.type === 'C'))
        expect(second.filter((e) => e.streamId === streamId).map((e) => e.type)).toEqual(['C'])
      } finally {
        two.unsubscribe()
      }
    })

    it('a consumer group and a projection runner are woken by new events', async () => {
      const category = `g${randomUUID().replaceAll('-', '').slice(0, 10)}`
      const group = store.consumerGroup(`live-${category}`, {
        source: { category },
        startFrom: 'end',
        pollIntervalMs: 50,
      })
      await group.ensure()
      const delivered: RecordedEvent[] = []
      const consumer = group.consume((event) => {
        delivered.push(event)
      })
      const counted = defineProjection({
        name: `count_${category}`,
        version: 1,
        handlers: {
          Counted: (event) => {
            if (event.streamId.startsWith(`${category}-`)) projected.push(event)
          },
        },
      })
      const projected: RecordedEvent[] = []
      const runner = store.runProjection(counted, { pollIntervalMs: 50 })
      try {
        await waitFor(() => runner.state === 'live', { timeoutMs: 20_000 })
        await store.appendToStream(`${category}-1`, [
          { type: 'Counted', data: { n: 1 } },
          { type: 'Counted', data: { n: 2 } },
        ])
        await waitFor(() => delivered.length === 2 && projected.length === 2)
        expect(delivered.map((e) => e.data)).toEqual([{ n: 1 }, { n: 2 }])
        expect(projected.map((e) => e.data)).toEqual([{ n: 1 }, { n: 2 }])
      } finally {
        await consumer.stop()
        await runner.stop()
      }
    })

    it(`opens a LISTEN connection only when it listens`, async () => {
      const listening = async () =>
        Number(
          (
            await db.query<{ n: string }>(
              `SELECT count(*) AS n FROM pg_stat_activity
                WHERE datname = current_database() AND application_name = 'strata listener'`,
            )
          )[0]!.n,
        )
      const subscription = store.subscribeToAll({ from: 'end', ...POLL }).subscribe()
      try {
        if (mode.options.listen === false) {
          await new Promise((resolve) => setTimeout(resolve, 300))
          expect(await listening()).toBe(0)
        } else {
          await waitFor(async () => (await listening()) === 1)
        }
      } finally {
        subscription.unsubscribe()
      }
    })
  })
}
