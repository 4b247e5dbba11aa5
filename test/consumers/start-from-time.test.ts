import { beforeAll, describe, expect, it } from 'vitest'
import type { EventStore, RecordedEvent } from '../../src/index.js'
import { useTestDatabase } from '../support/test-database.js'
import { aCategory, aGroupName, waitUntilDrained } from './helpers.js'

const db = useTestDatabase()
let store: EventStore

beforeAll(async () => {
  store = await db.store()
})

/** An event of another category, then one of the group's, both at or after the returned time. */
async function otherThenOurs(category: string): Promise<{ time: Date; ours: RecordedEvent }> {
  const other = `${aCategory('other')}-1`
  await store.appendToStream(other, [{ type: 'Other', data: {} }])
  const [first] = await store.readStream(other)
  await store.appendToStream(`${category}-1`, [{ type: 'Ours', data: {} }])
  const [ours] = await store.readStream(`${category}-1`)
  return { time: first!.createdAt, ours: ours! }
}

describe('a consumer group started at, or reset to, a time', () => {
  it("startFrom: Date starts at the first event of the group's source at or after it", async () => {
    const category = aCategory('since')
    const { time, ours } = await otherThenOurs(category)
    const group = store.consumerGroup(aGroupName(), { source: { category }, startFrom: time })
    await group.ensure()
    expect((await group.status()).position).toBe(ours.position - 1n)
    const seen: string[] = []
    const consumer = group.consume((event) => void seen.push(event.id))
    await waitUntilDrained(group)
    await consumer.stop()
    expect(seen).toEqual([ours.id])
  })

  it('reset({ time }) reports the first event of the source, not of the whole log', async () => {
    const category = aCategory('reset')
    const { time, ours } = await otherThenOurs(category)
    const group = store.consumerGroup(aGroupName(), { source: { category }, startFrom: 'end' })
    const result = await group.reset({ time })
    expect(result.position).toBe(ours.position)
    expect(result.after).toBe(ours.position - 1n)
  })

  it('a time after every event of the source starts after the last event of the log', async () => {
    const category = aCategory('late')
    await store.appendToStream(`${category}-1`, [{ type: 'Ours', data: {} }])
    const [ours] = await store.readStream(`${category}-1`)
    const later = `${aCategory('other')}-1`
    await store.appendToStream(later, [{ type: 'Other', data: {} }])
    const [other] = await store.readStream(later)
    const group = store.consumerGroup(aGroupName(), { source: { category } })
    const result = await group.reset({ time: new Date(ours!.createdAt.getTime() + 1) })
    expect(result.after).toBe(await store.headPosition())
    expect(result.after).toBeGreaterThanOrEqual(other!.position)
  })
})
