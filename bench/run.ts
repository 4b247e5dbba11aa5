/**
 * `npm run bench [-- --smoke] [--only=append,catchup] [--reps=3]`
 *
 * Runs every scenario (strata beside raw SQL and the peers, interleaved), prints a table and
 * writes bench/results/<timestamp>.json, a markdown report and SVG charts. A full run also
 * refreshes docs/performance.md's results section. Uses DATABASE_URL's server, or an embedded
 * Postgres when it is unset; each scenario gets a fresh database.
 */
import { randomBytes } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import { acquireDatabase } from '../src/local-database/index.js'
import { describeMachine } from './lib/machine.js'
import { barChart, consoleTable, markdownReport } from './lib/report.js'
import { SkipScenario, type Row, type Scenario } from './lib/types.js'
import { aggregatesScenario } from './scenarios/aggregates.js'
import { appendScenario } from './scenarios/append.js'
import { batchScenario } from './scenarios/batch.js'
import { catchupScenario } from './scenarios/catchup.js'
import { growthScenario } from './scenarios/growth.js'
import { liveScenario } from './scenarios/live.js'
import { queuesScenario } from './scenarios/queues.js'
import { relayScenario } from './scenarios/relay.js'
import { resourceBoundsScenario } from './scenarios/resource-bounds.js'
import { replicaScenario } from './scenarios/replica.js'

// 'consumers' is queuesScenario: the peers, plus strata's rows from bench/scenarios/consumers.ts
// when that file is there (the hook is strataConsumers in bench/scenarios/queues.ts).
const scenarios: Scenario[] = [
  appendScenario,
  batchScenario,
  catchupScenario,
  liveScenario,
  queuesScenario,
  aggregatesScenario,
  growthScenario,
  relayScenario,
  resourceBoundsScenario,
  replicaScenario,
]

const args = process.argv.slice(2)
if (args.includes('--help') || args.includes('-h')) {
  console.log(`Usage: npm run bench -- [--smoke] [--only=${scenarios.map((s) => s.name).join(',')}] [--reps=N]
  --smoke   every scenario on tiny sizes (a harness check, not a measurement)
  --quick   full sizes, fewer cases: appends to distinct streams at 1, 8 and 32 callers only
  --only    run these scenarios only
  --reps    repetitions per figure (default 3; 1 in smoke mode)
  --resource-seconds=N  length of the resource-bounds load (default 60; 20 with --quick, 4 smoke)`)
  process.exit(0)
}
const smoke = args.includes('--smoke')
const quick = args.includes('--quick')
const only = args
  .find((a) => a.startsWith('--only='))
  ?.slice('--only='.length)
  .split(',')
const reps = Number(
  args.find((a) => a.startsWith('--reps='))?.slice('--reps='.length) ?? (smoke ? 1 : 3),
)
const selected = scenarios.filter((s) => only === undefined || only.includes(s.name))
if (only !== undefined && selected.length !== only.length) {
  console.error(`unknown scenario in --only; known: ${scenarios.map((s) => s.name).join(', ')}`)
  process.exit(2)
}

const root = fileURLToPath(new URL('..', import.meta.url))
const database = await acquireDatabase({ log: (m) => console.log(`[bench] ${m}`) })
const created: string[] = []
const admin = async (sql: string) => {
  const client = new pg.Client({ connectionString: database.url })
  await client.connect()
  try {
    await client.query(sql)
  } finally {
    await client.end()
  }
}

let exitCode = 0
try {
  const startedAt = new Date()
  const machine = await describeMachine(database.url)
  const rows: Row[] = []
  const skipped: string[] = []
  const runStarted = Date.now()
  for (const scenario of selected) {
    console.log(`\n[bench] ${scenario.title}${smoke ? ' (smoke)' : ''}`)
    const started = Date.now()
    try {
      rows.push(
        ...(await scenario.run({
          smoke,
          quick,
          reps,
          log: (m) => console.log(`  ${m}`),
          skip: (m) => {
            skipped.push(`${scenario.title}: ${m}`)
            console.log(`  skipped: ${m}`)
          },
          createDatabase: async () => {
            const name = `strata_bench_${randomBytes(4).toString('hex')}`
            await admin(`CREATE DATABASE ${name}`)
            created.push(name)
            const url = new URL(database.url)
            url.pathname = `/${name}`
            return url.toString()
          },
        })),
      )
    } catch (error) {
      if (error instanceof SkipScenario) {
        skipped.push(`${scenario.title}: ${error.message}`)
        console.log(`  skipped: ${error.message}`)
      } else {
        throw error
      }
    }
    console.log(`  (${((Date.now() - started) / 1000).toFixed(1)} s)`)
  }

  console.log(`\n${consoleTable(rows)}`)
  console.log(`\n[bench] all scenarios: ${((Date.now() - runStarted) / 1000).toFixed(1)} s`)
  const stamp = startedAt.toISOString().replace(/[:.]/g, '-')
  const outDir = `${root}bench/results`
  mkdirSync(outDir, { recursive: true })
  writeFileSync(
    `${outDir}/${stamp}.json`,
    JSON.stringify({ startedAt, smoke, reps, machine, rows, skipped }, null, 2),
  )
  for (const scenario of selected) {
    const scenarioRows = rows.filter((r) => r.scenario === scenario.name)
    if (scenarioRows.length > 0)
      writeFileSync(
        `${outDir}/${stamp}-${scenario.name}.svg`,
        barChart(scenario.title, scenarioRows),
      )
  }
  const report = (chartPath: (s: string) => string) =>
    markdownReport({
      startedAt,
      machine,
      scenarios: selected,
      rows,
      smoke,
      reps,
      skipped,
      chartPath,
    })
  writeFileSync(
    `${outDir}/${stamp}.md`,
    report((s) => `${stamp}-${s}.svg`),
  )
  console.log(`\nwrote bench/results/${stamp}.{json,md} and charts`)

  if (!smoke && !quick && only === undefined) {
    // The full run is what docs/performance.md shows: charts next to it, the section replaced.
    const docs = `${root}docs`
    mkdirSync(`${docs}/performance`, { recursive: true })
    for (const scenario of selected) {
      const scenarioRows = rows.filter((r) => r.scenario === scenario.name)
      if (scenarioRows.length > 0)
        writeFileSync(
          `${docs}/performance/${scenario.name}.svg`,
          barChart(scenario.title, scenarioRows),
        )
    }
    const page = `${docs}/performance.md`
    const text = readFileSync(page, 'utf8')
    const begin = '<!-- bench:begin -->'
    const end = '<!-- bench:end -->'
    const from = text.indexOf(begin)
    const to = text.indexOf(end)
    if (from >= 0 && to > from) {
      writeFileSync(
        page,
        `${text.slice(0, from + begin.length)}\n${report((s) => `performance/${s}.svg`)}\n${text.slice(to)}`,
      )
      console.log('updated docs/performance.md')
    }
  }
} catch (error) {
  console.error(error)
  exitCode = 1
} finally {
  for (const name of created)
    await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => undefined)
  await database.release()
}
process.exit(exitCode)
