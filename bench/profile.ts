/**
 * `DATABASE_URL=… npx tsx bench/profile.ts [--only=append,indexes,consumers] [--n=2000]`
 *
 * Where the server's time goes, per append and per delivery: statements (round trips), server
 * execution time and WAL bytes per operation, from pg_stat_statements (nested statements of the
 * PL/pgSQL functions included). Robust on a loaded machine, unlike wall-clock figures: counts and
 * bytes do not depend on what else runs. Needs a server with `shared_preload_libraries =
 * pg_stat_statements` (the bench's default server does not have it: start one of your own, see
 * docs/performance.md). Only this script's connections track nested statements.
 */
import { randomBytes, randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import pg from 'pg'
import { createEventStore } from '../src/index.js'
import { uuidV7 } from '../src/store/uuid-v7.js'
import { createLeanTable, createRawTable, insertOne, LEAN_TABLE } from './lib/raw.js'
import { throughput } from './lib/stats.js'
import { measureStrataConsumers } from './scenarios/consumers.js'

const args = process.argv.slice(2)
const only = args
  .find((a) => a.startsWith('--only='))
  ?.slice('--only='.length)
  .split(',')
const N = Number(args.find((a) => a.startsWith('--n='))?.slice('--n='.length) ?? 2000)
const base = process.env.DATABASE_URL
if (base === undefined) {
  console.error('DATABASE_URL must name a server with pg_stat_statements loaded')
  process.exit(2)
}

/** A connection string for database `name` whose sessions track nested statements. */
function urlOf(name: string, tracked = true): string {
  const url = new URL(base!)
  url.pathname = `/${name}`
  if (tracked) url.searchParams.set('options', '-c pg_stat_statements.track=all')
  return url.toString()
}

const admin = new pg.Pool({ connectionString: urlOf('postgres', false), max: 2 })
await admin.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements')

interface StatementRow {
  query: string
  toplevel: boolean
  calls: string
  total_exec_time: number
  rows: string
  wal_bytes: string
  wal_fpi: string
  shared_blks_dirtied: string
}

async function freshDatabase(): Promise<{ name: string; oid: number }> {
  const name = `strata_profile_${randomBytes(4).toString('hex')}`
  await admin.query(`CREATE DATABASE ${name}`)
  const { rows } = await admin.query<{ oid: number }>(
    'SELECT oid FROM pg_database WHERE datname = $1',
    [name],
  )
  return { name, oid: rows[0]!.oid }
}

async function reset(oid: number): Promise<void> {
  await admin.query('SELECT pg_stat_statements_reset(0, $1, 0)', [oid])
}

/** The statements of one database since its last reset, per operation. */
async function report(
  title: string,
  oid: number,
  ops: number,
  seconds?: number,
  keep: (query: string) => boolean = () => true,
): Promise<void> {
  const { rows: all } = await admin.query<StatementRow>(
    `SELECT regexp_replace(left(query, 90), '\\s+', ' ', 'g') AS query, toplevel, calls,
            total_exec_time, rows, wal_bytes, wal_fpi, shared_blks_dirtied
       FROM pg_stat_statements WHERE dbid = $1 ORDER BY toplevel DESC, total_exec_time DESC`,
    [oid],
  )
  const rows = all.filter((r) => keep(r.query))
  const top = rows.filter((r) => r.toplevel)
  const perOp = (v: number) => v / ops
  const sum = (rs: StatementRow[], f: (r: StatementRow) => number) =>
    rs.reduce((a, r) => a + f(r), 0)
  console.log(`\n## ${title}: ${ops.toLocaleString('en-US')} operations`)
  if (seconds !== undefined) console.log(`rate: ${Math.round(ops / seconds)}/s (wall clock, noisy)`)
  console.log(
    `per operation: ${perOp(sum(top, (r) => Number(r.calls))).toFixed(3)} round trips, ` +
      `${(perOp(sum(top, (r) => r.total_exec_time)) * 1000).toFixed(1)} µs server execution, ` +
      `${perOp(sum(top, (r) => Number(r.wal_bytes))).toFixed(0)} WAL bytes ` +
      `(${perOp(sum(top, (r) => Number(r.wal_fpi))).toFixed(3)} full-page images), ` +
      `${perOp(sum(top, (r) => Number(r.shared_blks_dirtied))).toFixed(3)} pages dirtied`,
  )
  console.log('| level | calls/op | µs/call | µs/op | rows/call | WAL B/op | statement |')
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | --- |')
  for (const r of rows) {
    const calls = Number(r.calls)
    if (perOp(calls) < 0.001) continue
    console.log(
      `| ${r.toplevel ? 'top' : 'nested'} | ${perOp(calls).toFixed(3)} | ${((r.total_exec_time / calls) * 1000).toFixed(1)} | ${(perOp(r.total_exec_time) * 1000).toFixed(1)} | ${(Number(r.rows) / calls).toFixed(1)} | ${perOp(Number(r.wal_bytes)).toFixed(0)} | \`${r.query}\` |`,
    )
  }
}

async function dropDatabase(name: string) {
  await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
}

/**
 * Single appends to distinct streams, interleaved in rounds so that load from elsewhere hits
 * every case alike: strata's appendToStream, the same call of the append function as migration
 * 0001 defined it (before migration 0008), the same-shape raw table and the lean raw table.
 */
async function profileAppends(concurrency: number) {
  const db = await freshDatabase()
  const store = createEventStore(
    { connectionString: urlOf(db.name), max: concurrency + 2 },
    { notify: false },
  )
  const pool = new pg.Pool({ connectionString: urlOf(db.name), max: concurrency + 2 })
  try {
    await store.migrate()
    await createRawTable(pool)
    await createLeanTable(pool)
    await pool.query(`SET search_path TO strata; ${appendEvents0001()} RESET search_path`)
    const run = randomUUID().slice(0, 8)
    const call = (fn: string) => (i: number) =>
      pool.query(
        `SELECT status, next_version, last_position, detail FROM strata.${fn}($1::text[], $2::text[], $3::bigint[], $4::int[], $5::boolean[], $6::uuid[], $7::text[], $8::jsonb[], $9::jsonb[], $10::int[], $11)`,
        [
          [`${fn}${run}-${i}`],
          ['any'],
          [null],
          [1],
          [false],
          [randomUUID()],
          ['Counted'],
          [JSON.stringify({ i })],
          ['{}'],
          [1],
          false,
        ],
      )
    type Case = [string, (i: number) => Promise<unknown>, (q: string) => boolean]
    // Phase 1: strata beside the raw rows. Phase 2: the append function as migration 0001 made
    // it beside today's, called alike (their nested statements share texts, so only the
    // top-level figures of phase 2 are apart).
    const phases: Case[][] = [
      [
        [
          'strata appendToStream',
          (i) => store.appendToStream(`s${run}-${i}`, [{ type: 'Counted', data: { i } }]),
          (q) => !q.includes('raw.'),
        ],
        [
          'raw one-row INSERT, same-shape table',
          (i) => insertOne(pool, { streamId: `r${run}-${i}`, version: 1, data: { i } }),
          (q) => q.includes('raw.events'),
        ],
        [
          'raw one-row INSERT, lean table',
          (i) => insertOne(pool, { streamId: `l${run}-${i}`, version: 1, data: { i } }, LEAN_TABLE),
          (q) => q.includes(LEAN_TABLE),
        ],
      ],
      [
        [
          'append_events as migration 0001 made it (top level only)',
          call('append_events_0001'),
          (q) => q.includes('append_events_0001'),
        ],
        [
          'append_events as migration 0008 made it (top level only)',
          call('append_events'),
          (q) => q.includes('strata.append_events('),
        ],
      ],
    ]
    for (const cases of phases) {
      for (const [, op] of cases) await throughput(200, concurrency, (i) => op(i + 10_000_000))
      await reset(db.oid)
      const rounds = 10
      const seconds = cases.map(() => 0)
      for (let round = 0; round < rounds; round++) {
        for (const [k, [, op]] of cases.entries()) {
          const started = performance.now()
          const base = round * Math.ceil(N / rounds)
          await throughput(Math.ceil(N / rounds), concurrency, (i) => op(base + i))
          seconds[k]! += (performance.now() - started) / 1000
        }
      }
      for (const [k, [title, , keep]] of cases.entries()) {
        await report(`${title}, concurrency ${concurrency}`, db.oid, N, seconds[k], keep)
      }
    }
  } finally {
    await store.close()
    await pool.end()
    await dropDatabase(db.name)
  }
}

/** migrations/0001's append_events, renamed append_events_0001 (a before/after comparison). */
function appendEvents0001(): string {
  const text = readFileSync(new URL('../migrations/0001_event_store.sql', import.meta.url), 'utf8')
  const from = text.indexOf('CREATE FUNCTION append_events(')
  const to = text.indexOf('$$;', text.indexOf('AS $$', from)) + 3
  return text
    .slice(from, to)
    .replace('CREATE FUNCTION append_events(', 'CREATE FUNCTION append_events_0001(')
}

/**
 * What each index of strata.events costs an append: copies of the table with one index more
 * than the lean set each, a one-row INSERT into each, server time and WAL per INSERT.
 */
async function profileIndexes() {
  const db = await freshDatabase()
  const store = createEventStore({ connectionString: urlOf(db.name), max: 2 }, { notify: false })
  const pool = new pg.Pool({ connectionString: urlOf(db.name), max: 2 })
  try {
    await store.migrate()
    await store.close()
    const variants: Record<string, string[]> = {
      heap_only: [],
      pkey: ['PRIMARY KEY (position)'],
      pkey_id: ['PRIMARY KEY (position)', 'UNIQUE (id)'],
      lean: ['PRIMARY KEY (position)', 'UNIQUE (id)', 'UNIQUE (stream_id, version)'],
    }
    const extra: Record<string, string> = {
      lean_type: 'CREATE INDEX ON %t (type, position)',
      lean_category: "CREATE INDEX ON %t ((split_part(stream_id, '-', 1)), position)",
      lean_brin: 'CREATE INDEX ON %t USING brin (created_at)',
    }
    const tables: string[] = []
    for (const [name, constraints] of Object.entries(variants)) {
      await pool.query(
        `CREATE TABLE public.${name} (position bigint GENERATED ALWAYS AS IDENTITY, stream_id text NOT NULL,
           version bigint NOT NULL, id uuid NOT NULL, type text NOT NULL, data jsonb NOT NULL,
           metadata jsonb NOT NULL DEFAULT '{}', data_version int NOT NULL DEFAULT 1,
           created_at timestamptz NOT NULL DEFAULT clock_timestamp()${constraints.map((c) => `, ${c}`).join('')})`,
      )
      tables.push(name)
    }
    for (const [name, index] of Object.entries(extra)) {
      await pool.query(`CREATE TABLE public.${name} (LIKE public.lean INCLUDING ALL)`)
      await pool.query(index.replace('%t', `public.${name}`))
      tables.push(name)
    }
    await pool.query('CREATE TABLE public.full_shape (LIKE strata.events INCLUDING ALL)')
    tables.push('full_shape')
    // The same two shapes written with time-ordered (v7) ids, as strata generates them.
    const v7 = ['lean_v7ids', 'full_shape_v7ids']
    await pool.query('CREATE TABLE public.lean_v7ids (LIKE public.lean INCLUDING ALL)')
    await pool.query('CREATE TABLE public.full_shape_v7ids (LIKE strata.events INCLUDING ALL)')
    tables.push(...v7)
    // Prefill each so the indexes have depth (random uuids and stream ids: the real pattern).
    for (const table of tables) {
      await pool.query(
        `INSERT INTO public.${table} (stream_id, version, id, type, data)
         SELECT 's' || left(md5(g::text), 6) || '-' || g, 1, gen_random_uuid(), 'Counted', '{"i":1}'
           FROM generate_series(1, 200000) g`,
      )
      await pool.query(`VACUUM ANALYZE public.${table}`)
    }
    await pool.query('CHECKPOINT')
    await reset(db.oid)
    const run = randomUUID().slice(0, 8)
    for (let i = 0; i < N; i++) {
      for (const table of tables) {
        if (v7.includes(table)) {
          await pool.query(
            `INSERT INTO public.${table} (stream_id, version, id, type, data, metadata) VALUES ($1, 1, $2, 'Counted', $3, '{}')`,
            [`c${run}-${i}`, uuidV7(), JSON.stringify({ i })],
          )
        } else {
          await insertOne(
            pool,
            { streamId: `c${run}-${i}`, version: 1, data: { i } },
            `public.${table}`,
          )
        }
      }
    }
    await report('one-row INSERT per table variant (each row: one table)', db.oid, N)
  } finally {
    await pool.end()
    await dropDatabase(db.name)
  }
}

async function profileConsumers(
  consumers: number,
  messages: number,
  defaults: boolean,
  strategy: 'round-robin' | 'per-stream' = 'round-robin',
) {
  const db = await freshDatabase()
  const url = urlOf(db.name)
  try {
    const migrator = createEventStore({ connectionString: url })
    await migrator.migrate()
    await migrator.close()
    let drainStarted = 0
    const rate = await measureStrataConsumers({
      consumers,
      messages,
      url,
      strategy,
      defaults,
      log: () => undefined,
      onSeeded: async () => {
        await reset(db.oid)
        drainStarted = performance.now()
      },
    })
    void drainStarted
    await report(
      `consumers: ${consumers} ${strategy}, ${defaults ? 'default options' : 'prefetch 100'}, drain rate ${Math.round(rate)}/s`,
      db.oid,
      messages,
    )
  } finally {
    await dropDatabase(db.name)
  }
}

try {
  if (only === undefined || only.includes('append')) {
    await profileAppends(1)
    await profileAppends(8)
  }
  if (only === undefined || only.includes('indexes')) await profileIndexes()
  if (only === undefined || only.includes('consumers')) {
    await profileConsumers(1, 5000, false)
    await profileConsumers(4, 10000, false)
    await profileConsumers(16, 20000, false)
    await profileConsumers(1, 1000, true)
    await profileConsumers(4, 10000, false, 'per-stream')
    await profileConsumers(16, 20000, false, 'per-stream')
  }
} finally {
  await admin.end()
}
