import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createEventStore, type StrataLogger } from '../../src/index.js'
import { sharesSession } from '../../src/store/notification-listener.js'
import { aStreamId } from '../support/factories.js'
import { startPgBouncer, throughPooler, type PgBouncerServer } from '../support/pgbouncer-server.js'
import { useTestDatabase } from '../support/test-database.js'
import { waitFor } from '../support/wait-for.js'

// Issue 22: LISTEN through a transaction-mode pooler loses notifications; strata says so.
const db = useTestDatabase()
let transactionMode: PgBouncerServer
let sessionMode: PgBouncerServer

beforeAll(async () => {
  await db.store() // migrated
  transactionMode = await startPgBouncer(db.url, { poolMode: 'transaction' })
  sessionMode = await startPgBouncer(db.url, { poolMode: 'session' })
})

afterAll(async () => {
  await transactionMode?.stop()
  await sessionMode?.stop()
})

async function shared(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    await client.query('LISTEN strata_check')
    return await sharesSession(client, { connectionString: url })
  } finally {
    await client.end()
  }
}

describe('LISTEN behind a pooler', () => {
  it('a transaction-mode PgBouncer is detected; a direct connection and session mode are not', async () => {
    expect(await shared(db.url)).toBe(false)
    expect(await shared(throughPooler(sessionMode, db.url))).toBe(false)
    expect(await shared(throughPooler(transactionMode, db.url))).toBe(true)
  })

  it('the store warns through the logger, and subscriptions still deliver by polling', async () => {
    const warnings: string[] = []
    const quiet = () => undefined
    const logger: StrataLogger = {
      debug: quiet,
      info: quiet,
      error: quiet,
      warn: (_fields, message) => void warnings.push(message ?? ''),
    }
    const store = createEventStore(
      { connectionString: throughPooler(transactionMode, db.url) },
      { logger, migrate: 'off' },
    )
    try {
      const seen: string[] = []
      const subscription = store
        .subscribeToAll({ pollIntervalMs: 50 })
        .subscribe((e) => void seen.push(e.streamId))
      await waitFor(() => warnings.some((w) => w.includes('transaction-mode pooler')), {
        message: 'the pooler warning',
      })
      const streamId = aStreamId()
      await store.appendToStream(streamId, [{ type: 'T', data: {} }])
      await waitFor(() => seen.includes(streamId), { message: 'delivered' })
      subscription.unsubscribe()
    } finally {
      await store.close()
    }
  })
})
