import { readFileSync } from 'node:fs'
import { beforeAll, describe, expect, it } from 'vitest'
import type { EventStore } from '../../src/index.js'
import { useTestDatabase } from '../support/test-database.js'
import { useCli } from './helpers.js'

const db = useTestDatabase()
const strata = useCli(db, 'store')
let store: EventStore

beforeAll(async () => {
  store = await db.store()
})

describe('the strata CLI', () => {
  it('--help on the program and on commands, exit code 0', async () => {
    const help = await strata(['--help'])
    expect(help.code).toBe(0)
    for (const command of [
      'migrate',
      'streams',
      'read',
      'tail',
      'append',
      'projections',
      'groups',
      'stats',
      'scavenge',
    ]) {
      expect(help.stdout).toContain(command)
    }
    const readHelp = await strata(['read', '--help'])
    expect(readHelp.code).toBe(0)
    expect(readHelp.stdout).toContain('--backward')
    expect((await strata(['help'])).code).toBe(0)
    expect((await strata(['help', 'groups'])).code).toBe(0)
    const tailHelp = await strata(['tail', '--help'])
    expect(tailHelp.stdout).toMatch(/JSON lines/)
  })

  it('--version (and -V) prints the package version, exit code 0', async () => {
    const { version } = JSON.parse(
      readFileSync(new URL('../../package.json', import.meta.url), 'utf8'),
    ) as { version: string }
    for (const flag of ['--version', '-V']) {
      const result = await strata([flag])
      expect(result).toMatchObject({ code: 0, stdout: `${version}\n`, stderr: '' })
    }
  })

  it('no command is a usage error: help on stderr, exit code 2', async () => {
    const none = await strata([])
    expect(none.code).toBe(2)
    expect(none.stderr).toContain('Usage: strata')
    expect(none.stdout).toBe('')
    // A command group without its subcommand too.
    expect((await strata(['groups', 'dead-letters', 'replay'])).code).toBe(2)
  })

  it('usage errors exit with 2 and say what is wrong', async () => {
    expect((await strata(['no-such-command'])).code).toBe(2)
    const missing = await strata(['append', 's-1', '--type', 'T'])
    expect(missing.code).toBe(2)
    expect(missing.stderr).toContain('--data')
    const badJson = await strata(['append', 's-1', '--type', 'T', '--data', '{nope'])
    expect(badJson.code).toBe(2)
    expect(badJson.stderr).toContain('not valid JSON')
    const noDatabase = await strata(['streams'], { env: { DATABASE_URL: '' } })
    expect(noDatabase.code).toBe(2)
    expect(noDatabase.stderr).toContain('--database-url')
    const badStream = await strata(['append', '', '--type', 'T', '--data', '{}'])
    expect(badStream.code).toBe(2)
  })

  it('migrate: --print emits SQL, --dry-run lists, migrate applies (JSON on request)', async () => {
    const print = await strata(['migrate', '--print', '--schema', 'cli_schema'])
    expect(print.code).toBe(0)
    expect(print.stdout).toContain('CREATE TABLE events')
    expect(print.stdout).toContain('"cli_schema"')
    const dry = await strata(['migrate', '--dry-run', '--schema', 'cli_schema', '--json'])
    expect(JSON.parse(dry.stdout)).toMatchObject({ schema: 'cli_schema', dryRun: true })
    expect(JSON.parse(dry.stdout).applied.length).toBeGreaterThan(0)
    const applied = await strata(['migrate', '--schema', 'cli_schema', '--json'])
    expect(applied.code).toBe(0)
    expect(JSON.parse(applied.stdout).alreadyApplied).toEqual([])
    const again = await strata(['migrate', '--schema', 'cli_schema'])
    expect(again.stdout).toContain('up to date')
  })

  it('append, read (forward, backward, one JSON array), streams, stats', async () => {
    const appended = await strata([
      'append',
      'order-1',
      '--type',
      'Placed',
      '--data',
      '{"total":10}',
      '--json',
    ])
    expect(appended.code).toBe(0)
    expect(JSON.parse(appended.stdout)).toMatchObject({
      streamId: 'order-1',
      nextExpectedVersion: '1',
    })
    await strata(['append', 'order-1', '--type', 'Paid', '--data', '{}', '--expected-version', '1'])
    const conflict = await strata([
      'append',
      'order-1',
      '--type',
      'Paid',
      '--data',
      '{}',
      '--expected-version',
      'no_stream',
    ])
    expect(conflict.code).toBe(1)
    expect(conflict.stderr).toContain('Wrong expected version')

    const read = await strata(['read', 'order-1', '--json'])
    expect(read.code).toBe(0)
    const events = JSON.parse(read.stdout) as Array<{ type: string; version: string }>
    expect(events.map((e) => e.type)).toEqual(['Placed', 'Paid'])
    expect(events.map((e) => e.version)).toEqual(['1', '2'])
    const empty = await strata(['read', 'never-written', '--json'])
    expect(empty.code).toBe(0)
    expect(JSON.parse(empty.stdout)).toEqual([])
    expect(
      JSON.parse(
        (await strata(['read', 'order-1', '--json', '--backward', '--limit', '1'])).stdout,
      ),
    ).toMatchObject([{ type: 'Paid' }])
    const backward = await strata(['read', 'order-1', '--backward', '--limit', '1'])
    expect(backward.stdout).toContain('Paid')
    expect(backward.stdout).not.toContain('Placed')

    const streams = JSON.parse(
      (await strata(['streams', '--json', '--prefix', 'order-'])).stdout,
    ) as unknown[]
    expect(streams).toEqual([{ streamId: 'order-1', version: '2', events: 2 }])
    const stats = JSON.parse((await strata(['stats', '--json'])).stdout) as {
      headPosition: string
      tables: unknown[]
    }
    expect(BigInt(stats.headPosition)).toBeGreaterThanOrEqual(2n)
    expect(stats.tables.length).toBeGreaterThan(3)
  })

  it('stats: an exact event count when the table was never analysed, an estimate when it is large', async () => {
    const stats = await strata(['stats', '--json', '--schema', 'stats_schema'])
    // No store in that schema, but others in the database: they are named (a usage error).
    expect(stats.code).toBe(2)
    const { message } = (JSON.parse(stats.stderr) as { error: { message: string } }).error
    expect(message).toContain('no strata store in schema "stats_schema"')
    expect(message).toMatch(/stores? in schemas? .*"strata"/)
    expect(message).toContain('strata migrate --schema stats_schema')
    const counted = await db.store({ schema: 'stats_schema' })
    await counted.appendToStream('stat-1', [
      { type: 'A', data: {} },
      { type: 'B', data: {} },
      { type: 'C', data: {} },
    ])
    const events = `stats_schema.events`
    // Never analysed (what autovacuum off leaves): reltuples is -1, the estimate unknown.
    await db.query(`UPDATE pg_class SET reltuples = -1, relpages = 0 WHERE oid = $1::regclass`, [
      events,
    ])
    const exact = JSON.parse(
      (await strata(['stats', '--json', '--schema', 'stats_schema'])).stdout,
    ) as { events: number; eventsExact: boolean }
    expect(exact).toMatchObject({ events: 3, eventsExact: true })
    // Analysed and small: still exact.
    await db.query(`ANALYZE ${events}`)
    expect(
      JSON.parse((await strata(['stats', '--json', '--schema', 'stats_schema'])).stdout),
    ).toMatchObject({ events: 3, eventsExact: true })
    // Large (as the planner's statistics say): the estimate, marked as one.
    await db.query(
      `UPDATE pg_class SET reltuples = 5000000, relpages = 1 WHERE oid = $1::regclass`,
      [events],
    )
    const estimated = await strata(['stats', '--schema', 'stats_schema', '--json'])
    const parsed = JSON.parse(estimated.stdout) as { events: number; eventsExact: boolean }
    expect(parsed.eventsExact).toBe(false)
    expect(parsed.events).toBeGreaterThanOrEqual(1_000_000)
    const human = await strata(['stats', '--schema', 'stats_schema'])
    expect(human.stdout).toMatch(/about \d+ events \(estimated\)/)
  })

  it('tail follows live until interrupted', async () => {
    const tail = strata(['tail', '--from', 'start', '--category', 'tailing', '--json'], {
      until: (out) => out.split('\n').filter(Boolean).length >= 2,
    })
    await store.appendToStream('tailing-1', [{ type: 'A', data: {} }])
    await store.appendToStream('tailing-2', [{ type: 'B', data: {} }])
    const run = await tail
    expect(run.code).toBe(0)
    expect(
      run.stdout
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { type: string }).type),
    ).toEqual(['A', 'B'])
  })

  it('scavenge and grants', async () => {
    await store.appendToStream('gone-1', [{ type: 'T', data: {} }])
    await store.deleteStream('gone-1')
    const scavenge = JSON.parse((await strata(['scavenge', '--json'])).stdout) as {
      deletedEvents: number
    }
    expect(scavenge.deletedEvents).toBeGreaterThanOrEqual(1)
    const grants = await strata(['grants', '--role', 'app'])
    expect(grants.stdout).toContain('REVOKE ALL ON ALL TABLES IN SCHEMA "strata" FROM "app"')
    expect(grants.stdout).toContain('GRANT SELECT ON ALL TABLES IN SCHEMA "strata" TO "app"')
  })
})
