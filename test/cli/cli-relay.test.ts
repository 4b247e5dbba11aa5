import { describe, expect, it } from 'vitest'
import { aStreamId } from '../support/factories.js'
import { useTestDatabase } from '../support/test-database.js'
import { waitFor } from '../support/wait-for.js'
import { useNats } from '../relay/helpers.js'
import { useCli } from './helpers.js'

const db = useTestDatabase()
const nats = useNats()
const strata = useCli(db, 'relay')

describe('strata relay status', () => {
  it('shows position, lag in events and seconds, and the active instance; --json for machines', async () => {
    const store = await db.store()
    await store.appendToStream(aStreamId('cli'), [
      { type: 'T', data: {} },
      { type: 'T', data: {} },
    ])
    const stream = nats.stream('CLI')
    const relay = store.relay({
      name: 'cli-relay',
      nats: { servers: nats.servers },
      stream,
      checkpointIntervalMs: 50,
    })
    const head = await store.headPosition()
    await waitFor(
      async () =>
        (await db.query(`SELECT 1 FROM strata.relays WHERE position = $1`, [head.toString()]))
          .length === 1,
      { timeoutMs: 20_000 },
    )
    const json = await strata(['relay', 'status', '--json'])
    expect(json.code).toBe(0)
    expect(JSON.parse(json.stdout)).toEqual([
      expect.objectContaining({
        name: 'cli-relay',
        stream,
        position: head.toString(),
        streamSequence: 2,
        eventsBehind: 0,
        eventsBehindExact: true,
        secondsBehind: 0,
        activeInstance: relay.owner,
      }),
    ])
    await relay.stop()
    await store.appendToStream(aStreamId('cli'), [{ type: 'T', data: {} }])

    const human = await strata(['relay', 'status', 'cli-relay'])
    expect(human.code).toBe(0)
    const [header, row] = human.stdout.trim().split('\n')
    expect(header).toMatch(/^name\s+stream\s+position\s+sequence\s+events behind\s+seconds behind/)
    expect(row).toMatch(new RegExp(`^cli-relay\\s+${stream}\\s+${head}\\s+2\\s+1\\s`))
    expect(row).toContain(' - ') // no active instance

    const missing = await strata(['relay', 'status', 'nobody'])
    expect(missing.code).toBe(1)
    expect(missing.stderr).toContain('no relay named "nobody"')
  })
})
