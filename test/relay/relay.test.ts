import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import {
  ConfigError,
  defineEvent,
  InvalidArgumentError,
  RelayError,
  relayStatus,
  startRelay,
  type EventStore,
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

async function caughtUp(relay: Relay, store: EventStore) {
  const head = await store.headPosition()
  await waitFor(() => relay.position >= head, { timeoutMs: 20_000, message: 'relay caught up' })
}

describe('startRelay', () => {
  it('publishes every event once, in position order, with the event id as Nats-Msg-Id and the documented headers', async () => {
    const store = await db.store()
    const stream = nats.stream()
    const account = aStreamId('account')
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
    const relay = startRelay(store, { name: 'all', nats: { servers: nats.servers }, stream })
    await caughtUp(relay, store)
    await store.appendToStream(aStreamId('order'), [{ type: 'Placed', data: {} }])
    await caughtUp(relay, store)
    expect(relay.state).toBe('live')

    const messages = await nats.readBack(stream)
    const expected = await committed()
    expect(messages.map((m) => m.id)).toEqual(expected.map((e) => e.id))
    expect(messages.map((m) => m.position)).toEqual(expected.map((e) => e.position))
    const [first, second] = messages
    expect(first!.subject).toBe(`${stream}.account.Deposited`)
    expect(second!.subject).toBe(`${stream}.account.Withdrawn_Partly`) // '.' is no token character
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
})
