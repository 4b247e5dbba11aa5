import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ConfigError, createEventStore, type EventStore } from '../../src/index.js'
import { aStreamId } from '../support/factories.js'
import { useTestDatabase } from '../support/test-database.js'

// The store's hot statements go as named prepared statements (the preparedStatements option);
// a connection that lost them, as behind a transaction-mode pooler, falls back to unnamed ones.
const db = useTestDatabase()
const opened: EventStore[] = []

beforeAll(async () => {
  await db.store() // migrates
})

afterAll(async () => {
  await Promise.all(opened.map((s) => s.close()))
})

/** A store on one connection, so that its session's prepared statements can be listed. */
function oneConnectionStore(preparedStatements?: boolean): EventStore {
  const store = createEventStore(
    { connectionString: db.url, max: 1 },
    preparedStatements === undefined ? {} : { preparedStatements },
  )
  opened.push(store)
  return store
}

async function sessionStatements(store: EventStore): Promise<string[]> {
  const { rows } = await store.pool.query<{ statement: string }>(
    'SELECT statement FROM pg_prepared_statements',
  )
  return rows.map((r) => r.statement)
}

const event = { type: 'Counted', data: { n: 1 } }

describe('named prepared statements', () => {
  it('the single append is prepared once per connection by default', async () => {
    const store = oneConnectionStore()
    for (let i = 0; i < 3; i++) await store.appendToStream(aStreamId(), [event])
    const statements = await sessionStatements(store)
    expect(statements.filter((s) => s.includes('append_event('))).toHaveLength(1)
  })

  it('preparedStatements: false sends every statement unnamed', async () => {
    const store = oneConnectionStore(false)
    await store.appendToStream(aStreamId(), [event])
    await store.appendToStream(aStreamId(), [event, event])
    expect(await sessionStatements(store)).toEqual([])
  })

  it('a connection that lost its statements (DEALLOCATE, a pooler) falls back: every append lands once', async () => {
    const store = oneConnectionStore()
    const first = aStreamId()
    await store.appendToStream(first, [event])
    // The client still believes the statement is parsed on this connection and sends only Bind.
    await store.pool.query('DEALLOCATE ALL')
    const second = aStreamId()
    const result = await store.appendToStream(second, [event], { expectedVersion: 'no_stream' })
    expect(result.nextExpectedVersion).toBe(1n)
    expect((await store.readStream(second)).map((e) => e.version)).toEqual([1n])
    // From then on, unnamed.
    await store.appendToStream(aStreamId(), [event])
    expect(await sessionStatements(store)).toEqual([])
  })

  it('refuses a value that is not a boolean, naming the option', () => {
    expect(() =>
      createEventStore({ connectionString: db.url }, { preparedStatements: 'yes' as never }),
    ).toThrow(ConfigError)
    expect(() =>
      createEventStore({ connectionString: db.url }, { preparedStatements: 'yes' as never }),
    ).toThrow(/preparedStatements/)
  })
})
