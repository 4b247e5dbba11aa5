import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { beforeAll, describe, expect, it } from 'vitest'
import { defineProjection, type EventStore } from '../../src/index.js'
import { useTestDatabase } from '../support/test-database.js'
import { waitFor } from '../support/wait-for.js'

const db = useTestDatabase()
let bin: string
let store: EventStore

interface Run {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs the strata CLI against this file's database. */
function strata(
  args: string[],
  options: { env?: NodeJS.ProcessEnv; until?: (out: string) => boolean } = {},
): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...args], {
      env: { ...process.env, DATABASE_URL: db.url, ...options.env },
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString()
      if (options.until?.(stdout)) child.kill('SIGINT')
    })
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    child.on('exit', (code) => resolve({ code, stdout, stderr }))
  })
}

beforeAll(async () => {
  store = await db.store()
  bin = await bundleCli()
})

/**
 * The CLI as users run it is compiled JavaScript; running the TypeScript sources through tsx
 * costs seconds per process. Bundle it once (esbuild, dependencies external) next to the
 * sources' layout so `../../migrations` still resolves.
 */
async function bundleCli(): Promise<string> {
  const { build } = await import('esbuild')
  const outfile = fileURLToPath(new URL('../../node_modules/.strata-cli/main.mjs', import.meta.url))
  await build({
    entryPoints: [fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url))],
    bundle: true,
    platform: 'node',
    format: 'esm',
    packages: 'external',
    outfile,
    logLevel: 'error',
  })
  return outfile
}

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
    expect(stats.code).toBe(1) // not migrated: SchemaOutdatedError
    expect(stats.stderr).toContain('strata migrate')
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

  it('scavenge and grants', async () => {
    await store.appendToStream('gone-1', [{ type: 'T', data: {} }])
    await store.deleteStream('gone-1')
    const scavenge = JSON.parse((await strata(['scavenge', '--json'])).stdout) as {
      deletedEvents: number
    }
    expect(scavenge.deletedEvents).toBeGreaterThanOrEqual(1)
    const grants = await strata(['grants', '--role', 'app'])
    expect(grants.stdout).toContain('REVOKE UPDATE, DELETE, TRUNCATE ON "strata".events FROM "app"')
  })
})
