import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { aStreamId } from '../support/factories.js'
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js'
import { useTestDatabase } from '../support/test-database.js'

// A replica that goes away in the middle of a read (a restart, a failover, a network cut) must
// fail that read, which falls back to the primary, and nothing else: pg-pool hands a client out
// without an 'error' listener, so an unguarded client would end the process.
const db = useTestDatabase()
let proxy: TcpProxy

beforeAll(async () => {
  await db.store() // migrated
  // The "replica" is this file's database behind a proxy that can cut a connection mid-query.
  proxy = await startTcpProxy(db.url)
})

afterAll(async () => {
  await proxy?.close()
})

describe('a replica connection lost during a read', () => {
  it('fails over to the primary and leaves no unhandled error event', async () => {
    const store = await db.store({
      replicas: { connections: { connectionString: proxy.url }, maxLagMs: 200 },
    })
    const streamId = aStreamId()
    await store.appendToStream(streamId, [{ type: 'T', data: { n: 1 } }])
    const uncaught: unknown[] = []
    const record = (error: unknown) => void uncaught.push(error)
    process.on('uncaughtException', record)
    try {
      // The replica's first statement of a read: its view (horizon, lag, replayed LSN).
      const lost = proxy.loseReplyTo('published_horizon h')
      const page = await store.readAll({ readFrom: 'replica' })
      await lost
      expect(page.events.map((e) => e.streamId)).toContain(streamId)
      await new Promise((resolve) => setImmediate(resolve))
      expect(uncaught).toEqual([])
    } finally {
      process.off('uncaughtException', record)
    }
  })
})
