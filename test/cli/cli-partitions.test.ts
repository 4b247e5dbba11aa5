import { beforeAll, describe, expect, it } from 'vitest'
import type { EventStore } from '../../src/index.js'
import { useTestDatabase } from '../support/test-database.js'
import { useCli } from './helpers.js'

const db = useTestDatabase()
const strata = useCli(db, 'partitions')
let store: EventStore

beforeAll(async () => {
  store = await db.store()
  await store.appendToStream('acct-1', [
    { type: 'Opened', data: {} },
    { type: 'Deposited', data: { amount: 1 } },
  ])
})

describe('strata partitions', () => {
  it('list, enable, create and archive, as text and as JSON, with usage errors as exit code 2', async () => {
    const before = await strata(['--json', 'partitions', 'list'])
    expect(before.code).toBe(0)
    expect(JSON.parse(before.stdout)).toMatchObject({ partitioned: false, partitions: [] })

    expect((await strata(['partitions', 'enable'])).code).toBe(2) // --size is required
    expect((await strata(['partitions', 'enable', '--size', 'ten'])).code).toBe(2)
    const enabled = await strata(['partitions', 'enable', '--size', '10', '--ahead', '1'])
    expect(enabled).toMatchObject({ code: 0 })
    expect(enabled.stdout).toMatch(/partitioned by position, 10 per partition/)

    for (let i = 0; i < 12; i++) {
      await store.appendToStream('acct-1', [{ type: 'Deposited', data: { amount: i } }])
    }
    const created = await strata(['--json', 'partitions', 'create', '--ahead', '2'])
    expect(created.code).toBe(0)
    expect(JSON.parse(created.stdout)).toEqual({
      schema: 'strata',
      created: ['events_p20', 'events_p30'],
    })

    const listed = await strata(['partitions', 'list'])
    expect(listed.stdout).toMatch(/events_p0 +0 +10/)
    expect(listed.stdout).toMatch(/events_tail +40 +MAXVALUE/)

    // A checkpoint behind the first partition: refused (exit 1, the readers named), then forced.
    await store.checkpoints.save('behind', 1n)
    const refused = await strata(['partitions', 'archive'])
    expect(refused.code).toBe(1)
    expect(refused.stderr).toMatch(/checkpoint "behind" \(at 1\)/)
    const dry = await strata(['--json', 'partitions', 'archive', '--dry-run'])
    expect(JSON.parse(dry.stdout)).toEqual({ partition: 'events_p0', dryRun: true })
    const archived = await strata(['--json', 'partitions', 'archive', '--force'])
    expect(archived.code).toBe(0)
    expect(JSON.parse(archived.stdout)).toMatchObject({
      partition: 'events_p0',
      fromPosition: '0',
      toPosition: '10',
      events: '9',
      state: 'detached',
    })
    const read = await strata(['read', 'acct-1'])
    expect(read.code).toBe(1)
    expect(read.stderr).toMatch(/Versions up to 9 of stream "acct-1" are archived/)
    // Every partition up to a position, or older than an age, that is full (the head is 24: not
    // events_p20); an age that is not one is a usage error.
    for (let i = 0; i < 10; i++) {
      await store.appendToStream('acct-2', [{ type: 'Deposited', data: { amount: i } }])
    }
    expect((await strata(['partitions', 'archive', '--older-than', 'soon'])).code).toBe(2)
    expect((await strata(['partitions', 'archive', 'events_p10', '--through', '5'])).code).toBe(2)
    const wouldTake = await strata([
      '--json',
      'partitions',
      'archive',
      '--through',
      '29',
      '--dry-run',
    ])
    expect(JSON.parse(wouldTake.stdout)).toEqual({ partitions: ['events_p10'], dryRun: true })
    const none = await strata(['partitions', 'archive', '--older-than', '30d'])
    expect(none.stdout).toMatch(/no partition qualifies/)
    const through = await strata(['--json', 'partitions', 'archive', '--through', '29', '--force'])
    expect(through.code).toBe(0)
    expect(
      (JSON.parse(through.stdout) as Array<{ partition: string }>).map((r) => r.partition),
    ).toEqual(['events_p10'])
    const after = JSON.parse((await strata(['--json', 'partitions', 'list'])).stdout) as {
      archived: Array<{ name: string; state: string }>
    }
    expect(after.archived).toMatchObject([
      { name: 'events_p0', state: 'detached' },
      { name: 'events_p10', state: 'detached' },
    ])
  })

  it('--help names the subcommands', async () => {
    const help = await strata(['partitions', '--help'])
    expect(help.code).toBe(0)
    for (const command of ['list', 'enable', 'create', 'archive']) {
      expect(help.stdout).toContain(command)
    }
  })
})
