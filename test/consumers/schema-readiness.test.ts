import { randomUUID } from 'node:crypto'
import { firstValueFrom } from 'rxjs'
import { afterAll, describe, expect, it } from 'vitest'
import { createEventStore, SchemaOutdatedError, type EventStore } from '../../src/index.js'
import { useTestDatabase } from '../support/test-database.js'
import { waitFor } from '../support/wait-for.js'

const db = useTestDatabase()
const opened: EventStore[] = []
afterAll(async () => {
  for (const store of opened) await store.close()
})

/** A store on a schema nobody migrated. */
function unmigratedStore(migrate: 'check' | 'auto'): EventStore {
  const store = createEventStore(
    { connectionString: db.url },
    { schema: `unmigrated_${randomUUID().slice(0, 8)}`, migrate },
  )
  opened.push(store)
  return store
}

describe('consumer groups and task queues check the schema first', () => {
  it("with migrate: 'check', every entry point fails with SchemaOutdatedError, not a database error", async () => {
    const store = unmigratedStore('check')
    const group = store.consumerGroup('g', { source: 'all' })
    const queue = store.queue('emails')
    const calls: Array<[string, () => Promise<unknown>]> = [
      ['group.ensure', () => group.ensure()],
      ['group.status', () => group.status()],
      ['group.reset', () => group.reset('start')],
      ['group.delete', () => group.delete()],
      ['deadLetters.list', () => group.deadLetters.list()],
      ['deadLetters.count', () => group.deadLetters.count()],
      ['deadLetters.inspect', () => group.deadLetters.inspect(randomUUID())],
      ['deadLetters.replay', () => group.deadLetters.replay(randomUUID())],
      ['deadLetters.discard', () => group.deadLetters.discard('all')],
      ['queue.send', () => queue.send({ to: 'ada@example.com' })],
      ['queue.status', () => queue.status()],
    ]
    for (const [name, call] of calls) {
      const error = await call().then(
        () => undefined,
        (e: unknown) => e,
      )
      expect(error, name).toBeInstanceOf(SchemaOutdatedError)
    }

    // A consumer stops by itself, with the error in `done` (and its Observable form errors).
    const consumer = group.consume(() => undefined)
    const result = await consumer.done
    expect(result.error).toBeInstanceOf(SchemaOutdatedError)
    expect(consumer.running).toBe(false)
    await expect(firstValueFrom(queue.deliveries())).rejects.toBeInstanceOf(SchemaOutdatedError)

    // Nothing was created behind the user's back.
    const [row] = await db.query<{ exists: boolean }>(
      'SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1) AS exists',
      [store.schema],
    )
    expect(row!.exists).toBe(false)
  })

  it("with migrate: 'auto', the first use migrates: a queue sends and delivers, a group reports status", async () => {
    const store = unmigratedStore('auto')
    const queue = store.queue<{ n: number }>('emails')
    const sent = await queue.send({ n: 1 })
    expect(sent.duplicate).toBe(false)
    const got: number[] = []
    const consumer = queue.consume((task) => void got.push(task.payload.n))
    await waitFor(() => got.length === 1)
    await consumer.stop()
    expect(got).toEqual([1])

    const other = unmigratedStore('auto')
    const group = other.consumerGroup('g', { source: 'all' })
    expect(await group.status()).toMatchObject({ name: 'g', kind: 'group', parked: 0 })
    const [row] = await db.query<{ count: string }>(
      `SELECT count(*) FROM ${other.schema}.schema_migrations`,
    )
    expect(Number(row!.count)).toBeGreaterThan(0)

    // And a consumer started first (no other call before it) migrates too.
    const third = unmigratedStore('auto')
    const seen: string[] = []
    const first = third.consumerGroup('g', { source: 'all' }).consume((e) => void seen.push(e.type))
    await waitFor(
      async () => (await third.consumerGroup('g', { source: 'all' }).status()).consumers === 1,
    )
    await third.appendToStream('s-1', [{ type: 'Hello', data: {} }])
    await waitFor(() => seen.length === 1)
    await first.stop()
  })
})
