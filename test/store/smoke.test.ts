import { describe, expect, it } from 'vitest'
import { useTestDatabase } from '../support/test-database.js'
import { aStreamId } from '../support/factories.js'

const db = useTestDatabase()

describe('smoke', () => {
  it('appends and reads', async () => {
    const store = await db.store()
    const id = aStreamId()
    const r = await store.appendToStream(id, [{ type: 'A', data: { x: 1 } }, { type: 'B', data: { y: 2 } }])
    expect(r.nextExpectedVersion).toBe(2n)
    const events = await store.readStream(id)
    expect(events.map((e) => e.version)).toEqual([1n, 2n])
    expect(events[1]!.position).toBeGreaterThan(events[0]!.position)
    const all = await store.readAll()
    expect(all.events).toHaveLength(2)
    console.log(all)
  })
})
