import { beforeAll, describe, expect, it } from 'vitest'
import { defineProjection, type EventStore } from '../../src/index.js'
import { useTestDatabase } from '../support/test-database.js'
import { waitFor } from '../support/wait-for.js'
import { useCli } from './helpers.js'

const db = useTestDatabase()
const strata = useCli(db, 'operations')
let store: EventStore

beforeAll(async () => {
  store = await db.store()
})

describe('the strata CLI: projections and consumer groups', () => {
  it('projections: status with lag, pause and resume, rebuild with progress', async () => {
    const projection = defineProjection({
      name: 'cli_counts',
      version: 1,
      setup: async (db) => {
        await db.schema
          .createTable('counts')
          .addColumn('type', 'text', (c) => c.primaryKey())
          .addColumn('n', 'integer')
          .execute()
      },
      handlers: {
        Placed: async (_e, db) => {
          await db
            .insertInto('counts')
            .values({ type: 'Placed', n: 1 })
            .onConflict((oc) =>
              oc.column('type').doUpdateSet((eb) => ({ n: eb('counts.n', '+', 1) })),
            )
            .execute()
        },
      },
    })
    const runner = store.runProjection(projection)
    await waitFor(() => runner.state === 'live')
    const status = JSON.parse((await strata(['projections', '--json'])).stdout) as Array<{
      name: string
      behind: string
    }>
    expect(status.find((s) => s.name === 'cli_counts')).toMatchObject({
      name: 'cli_counts',
      behind: '0',
    })
    expect((await strata(['projections', 'pause', 'cli_counts'])).code).toBe(0)
    await waitFor(() => runner.state === 'paused')
    expect((await strata(['projections', 'resume', 'cli_counts'])).code).toBe(0)
    // Rebuild: reset the version; the running runner replays it; the CLI watches until caught up.
    const rebuild = await strata(['projections', 'rebuild', 'cli_counts', '--json'])
    expect(rebuild.code).toBe(0)
    expect(JSON.parse(rebuild.stdout)).toMatchObject({
      name: 'cli_counts',
      version: 1,
      behind: '0',
    })
    await runner.stop()
  })

  it('groups: status, dead letters (list, replay, discard), reset', async () => {
    const group = store.consumerGroup('cli-group', { source: { category: 'mail' }, maxAttempts: 1 })
    await store.appendToStream('mail-1', [
      { type: 'Send', data: { to: 'a' } },
      { type: 'Send', data: { to: 'b' } },
    ])
    const consumer = group.consume(() => {
      throw new Error('smtp down')
    })
    await waitFor(async () => (await group.status()).parked === 2)
    await consumer.stop()

    const status = JSON.parse((await strata(['groups', '--json'])).stdout) as Array<{
      name: string
      parked: number
    }>
    expect(status.find((s) => s.name === 'cli-group')).toMatchObject({ parked: 2 })
    const letters = JSON.parse(
      (await strata(['groups', 'dead-letters', 'list', 'cli-group', '--json'])).stdout,
    ) as Array<{
      position: string
      reason: string
    }>
    expect(letters).toHaveLength(2)
    const discard = await strata([
      'groups',
      'dead-letters',
      'discard',
      'cli-group',
      '--position',
      letters[0]!.position,
      '--json',
    ])
    expect(JSON.parse(discard.stdout)).toMatchObject({ discarded: 1 })
    const replay = await strata([
      'groups',
      'dead-letters',
      'replay',
      'cli-group',
      '--all',
      '--json',
    ])
    expect(JSON.parse(replay.stdout)).toMatchObject({ replayed: 1 })
    expect((await strata(['groups', 'dead-letters', 'replay', 'cli-group'])).code).toBe(2)
    const reset = await strata(['groups', 'reset', 'cli-group', '--to', 'start', '--json'])
    expect(reset.code).toBe(0)
    expect(JSON.parse(reset.stdout)).toMatchObject({ group: 'cli-group' })
    expect((await strata(['groups', 'reset', 'no-such-group', '--to', 'end'])).code).toBe(2)
  })

  it('groups: task queues are listed as queues under their own name; dead letters and reset work on them', async () => {
    const queue = store.queue<{ to: string }>('emails', { maxAttempts: 1 })
    await queue.send({ to: 'a@example.com' })
    await queue.send({ to: 'b@example.com' })
    const consumer = queue.consume(() => {
      throw new Error('smtp down')
    })
    await waitFor(async () => (await queue.status()).parked === 2)
    await consumer.stop()

    const listed = await strata(['groups', '--json'])
    expect(listed.code).toBe(0)
    const statuses = JSON.parse(listed.stdout) as Array<{
      name: string
      kind: string
      parked: number
    }>
    expect(statuses.filter((s) => s.name === 'emails')).toEqual([
      expect.objectContaining({ name: 'emails', kind: 'queue', parked: 2 }),
    ])
    expect(statuses.some((s) => s.name.startsWith('$'))).toBe(false)
    const human = await strata(['groups'])
    expect(human.code).toBe(0)
    expect(human.stdout).toMatch(/emails\s+queue\s+round-robin/)
    for (const name of ['emails', '$queue:emails']) {
      const one = await strata(['groups', 'status', name, '--json'])
      expect(one.code, one.stderr).toBe(0)
      expect(JSON.parse(one.stdout)).toEqual([
        expect.objectContaining({ name: 'emails', kind: 'queue', parked: 2 }),
      ])
    }

    const letters = JSON.parse(
      (await strata(['groups', 'dead-letters', 'list', 'emails', '--json'])).stdout,
    ) as Array<{ position: string; reason: string; event: { payload: { to: string } } }>
    expect(letters.map((l) => l.event.payload.to)).toEqual(['a@example.com', 'b@example.com'])
    const discard = await strata([
      'groups',
      'dead-letters',
      'discard',
      'emails',
      '--position',
      letters[0]!.position,
      '--json',
    ])
    expect(JSON.parse(discard.stdout)).toEqual({ group: 'emails', kind: 'queue', discarded: 1 })
    const replay = await strata(['groups', 'dead-letters', 'replay', '$queue:emails', '--all'])
    expect(replay.code).toBe(0)
    expect(replay.stdout).toContain('replayed 1 dead letter(s) of queue emails')

    // reset: --to-position and its alias --position, --to-time and its alias --time.
    for (const flag of ['--to-position', '--position']) {
      const reset = await strata([
        'groups',
        'reset',
        'emails',
        flag,
        letters[1]!.position,
        '--json',
      ])
      expect(reset.code, reset.stderr).toBe(0)
      expect(JSON.parse(reset.stdout)).toMatchObject({
        group: 'emails',
        kind: 'queue',
        position: letters[1]!.position, // as asked: delivery starts again there
        after: (BigInt(letters[1]!.position) - 1n).toString(),
      })
    }
    for (const flag of ['--to-time', '--time']) {
      const reset = await strata(['groups', 'reset', 'emails', flag, '2000-01-01T00:00:00Z'])
      expect(reset.code, reset.stderr).toBe(0)
      expect(reset.stdout).toContain('queue emails reset: delivering again from position')
    }
    const both = await strata([
      'groups',
      'reset',
      'emails',
      '--position',
      '1',
      '--to-position',
      '1',
    ])
    expect(both.code).toBe(2)
    expect(both.stderr).toContain('exactly one')
    expect(await queue.delete()).toBe(true)
  })
})
