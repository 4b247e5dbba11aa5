/**
 * Runs every example (examples/NN-name/main.ts) in its own fresh database and fails if one fails.
 * With DATABASE_URL set the databases are created on that server and dropped afterwards;
 * without it each example starts its own embedded Postgres.
 */
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import pg from 'pg'

const root = fileURLToPath(new URL('.', import.meta.url))
const examples = readdirSync(root, { withFileTypes: true })
  .filter((entry) => entry.isDirectory() && /^\d\d-/.test(entry.name))
  .map((entry) => entry.name)
  .sort()

const serverUrl = process.env.DATABASE_URL
let failed = 0
for (const name of examples) {
  const database = `strata_example_${randomBytes(4).toString('hex')}`
  const env = { ...process.env }
  if (serverUrl !== undefined && serverUrl !== '') {
    await admin(serverUrl, `CREATE DATABASE ${database}`)
    const url = new URL(serverUrl)
    url.pathname = `/${database}`
    env.DATABASE_URL = url.toString()
  }
  console.log(`\n▶ ${name}`)
  const started = Date.now()
  const code = await new Promise<number>((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', `${root}${name}/main.ts`], {
      stdio: 'inherit',
      env,
    })
    child.on('exit', (exitCode) => resolve(exitCode ?? 1))
  })
  if (serverUrl !== undefined && serverUrl !== '')
    await admin(serverUrl, `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`)
  console.log(
    `${code === 0 ? '✔' : '✘'} ${name} (${Date.now() - started} ms${code === 0 ? '' : `, exit code ${code}`})`,
  )
  if (code !== 0) failed++
}
console.log(`\n${examples.length - failed} of ${examples.length} examples passed`)
process.exit(failed === 0 ? 0 : 1)

async function admin(url: string, statement: string) {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    await client.query(statement)
  } finally {
    await client.end()
  }
}
