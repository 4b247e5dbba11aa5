import { createHash } from 'node:crypto'
import type pg from 'pg'
import { MigrationChecksumError, SchemaOutdatedError } from '../errors.js'
import { checkOut, quoteIdent } from '../db/index.js'
import { migrationFiles } from './migration-files.js'

/** A numbered SQL file of migrations/. */
export interface Migration {
  readonly version: number
  readonly name: string
  readonly sql: string
  readonly checksum: string
  /** Headed `-- strata:no-transaction` (e.g. CREATE INDEX CONCURRENTLY): runs outside a transaction. */
  readonly noTransaction: boolean
}

export interface MigrateOptions {
  /** Accept applied files whose content changed since (default false: MigrationChecksumError). */
  allowChecksumMismatch?: boolean
  /** Only report what would run. */
  dryRun?: boolean
}

export interface MigrateResult {
  /** Files applied by this call (or that would be, with dryRun), in order. */
  readonly applied: readonly string[]
  /** Files already applied before this call. */
  readonly alreadyApplied: readonly string[]
}

const FILE_NAME = /^(\d{4})_([a-z0-9_]+)\.sql$/

let cached: Promise<Migration[]> | undefined

/** The migration files shipped with strata, in order. */
export function loadMigrations(): Promise<Migration[]> {
  cached ??= readMigrations()
  return cached
}

async function readMigrations(): Promise<Migration[]> {
  const migrations: Migration[] = []
  for (const { name, sql } of await migrationFiles()) {
    const match = FILE_NAME.exec(name)
    if (match === null) throw new Error(`Migration file ${name} is not named NNNN_description.sql`)
    migrations.push({
      version: Number(match[1]),
      name,
      sql,
      checksum: createHash('sha256').update(sql).digest('hex'),
      noTransaction: /^--\s*strata:no-transaction/m.test(sql.split('\n', 3).join('\n')),
    })
  }
  // Consecutive: a gap would be a file missing from the package, or two branches' migrations
  // landing in an order a migrated database could not follow.
  migrations.forEach((m, i) => {
    if (m.version !== i + 1)
      throw new Error(`Migration ${m.name} is out of sequence (expected ${i + 1})`)
  })
  return migrations
}

function bootstrapSql(schema: string): string {
  const s = quoteIdent(schema)
  return `CREATE SCHEMA IF NOT EXISTS ${s};
CREATE TABLE IF NOT EXISTS ${s}.schema_migrations (
  version    int         NOT NULL,
  name       text        NOT NULL,
  checksum   text        NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT schema_migrations_pkey PRIMARY KEY (version)
);`
}

// Runners of one schema serialise on this transaction-level lock; a second runner waits, then
// finds the file applied. (Transaction-level: nothing is left on a pooled session.)
const LOCK_SQL = `SELECT pg_advisory_xact_lock(hashtext('strata.migrate'), hashtext($1))`

/**
 * Applies the pending migration files to `schema`, each in its own transaction under an advisory
 * lock, recording name and checksum. Safe to run from many processes at once.
 * @throws MigrationChecksumError when an applied file has changed since.
 */
export async function migrate(
  pool: pg.Pool,
  schema: string,
  options: MigrateOptions = {},
): Promise<MigrateResult> {
  const migrations = await loadMigrations()
  const applied: string[] = []
  const alreadyApplied: string[] = []
  const client = await checkOut(pool)
  let broken: Error | undefined
  try {
    for (const migration of migrations) {
      await client.query('BEGIN')
      try {
        await client.query(LOCK_SQL, [schema])
        await client.query(bootstrapSql(schema))
        const recorded = await recordedChecksum(client, schema, migration.version)
        if (recorded !== undefined) {
          verifyChecksum(migration, recorded, options)
          alreadyApplied.push(migration.name)
          await client.query('COMMIT')
          continue
        }
        if (options.dryRun) {
          applied.push(migration.name)
          await client.query('ROLLBACK')
          continue
        }
        if (migration.noTransaction) {
          await client.query('COMMIT')
          await applyOutsideTransaction(client, schema, migration)
        } else {
          await client.query(`SET LOCAL search_path TO ${quoteIdent(schema)}`)
          await client.query(migration.sql)
          await record(client, schema, migration)
          await client.query('COMMIT')
        }
        applied.push(migration.name)
      } catch (error) {
        await client.query('ROLLBACK').catch((e: unknown) => {
          broken = e instanceof Error ? e : new Error(String(e))
        })
        throw error
      }
    }
  } finally {
    client.release(broken)
  }
  return { applied, alreadyApplied }
}

async function applyOutsideTransaction(
  client: pg.PoolClient,
  schema: string,
  migration: Migration,
) {
  // Statements such as CREATE INDEX CONCURRENTLY cannot run in a transaction block, so this file
  // holds a session-level lock on the migration connection (not a pooled data-path session).
  await client.query(`SELECT pg_advisory_lock(hashtext('strata.migrate'), hashtext($1))`, [schema])
  try {
    if ((await recordedChecksum(client, schema, migration.version)) !== undefined) return
    await client.query(`SET search_path TO ${quoteIdent(schema)}`)
    try {
      await client.query(migration.sql)
    } finally {
      await client.query('RESET search_path')
    }
    await record(client, schema, migration)
  } finally {
    await client.query(`SELECT pg_advisory_unlock(hashtext('strata.migrate'), hashtext($1))`, [
      schema,
    ])
  }
}

async function recordedChecksum(
  client: pg.PoolClient,
  schema: string,
  version: number,
): Promise<string | undefined> {
  const { rows } = await client.query<{ checksum: string }>(
    `SELECT checksum FROM ${quoteIdent(schema)}.schema_migrations WHERE version = $1`,
    [version],
  )
  return rows[0]?.checksum
}

async function record(client: pg.PoolClient, schema: string, migration: Migration) {
  await client.query(
    `INSERT INTO ${quoteIdent(schema)}.schema_migrations (version, name, checksum) VALUES ($1, $2, $3)`,
    [migration.version, migration.name, migration.checksum],
  )
}

function verifyChecksum(migration: Migration, recorded: string, options: MigrateOptions) {
  if (recorded !== migration.checksum && !options.allowChecksumMismatch) {
    throw new MigrationChecksumError(migration.name, recorded, migration.checksum)
  }
}

/** The highest migration applied to `schema` (0 when none). */
export async function appliedVersion(pool: pg.Pool, schema: string): Promise<number> {
  const table = `${quoteIdent(schema)}.schema_migrations`
  const { rows } = await pool.query<{ exists: boolean }>(
    'SELECT to_regclass($1) IS NOT NULL AS exists',
    [table],
  )
  if (rows[0]?.exists !== true) return 0
  const result = await pool.query<{ version: number | null }>(
    `SELECT max(version) AS version FROM ${table}`,
  )
  return result.rows[0]?.version ?? 0
}

/** Throws SchemaOutdatedError when `schema` lacks migrations this strata needs. */
export async function assertSchemaCurrent(pool: pg.Pool, schema: string): Promise<void> {
  const required = (await loadMigrations()).at(-1)?.version ?? 0
  const current = await appliedVersion(pool, schema)
  if (current < required) throw new SchemaOutdatedError(schema, current, required)
}

/** The SQL `migrate` would run, as one script a DBA can review and apply with psql. */
export async function migrationScript(schema: string, only?: readonly string[]): Promise<string> {
  const migrations = (await loadMigrations()).filter(
    (m) => only === undefined || only.includes(m.name),
  )
  const parts = [`-- strata migrations for schema ${schema}`, bootstrapSql(schema)]
  for (const m of migrations) {
    const body = m.noTransaction
      ? `SET search_path TO ${quoteIdent(schema)};\n${m.sql.trim()}\nRESET search_path;`
      : `BEGIN;\nSET LOCAL search_path TO ${quoteIdent(schema)};\n${m.sql.trim()}\n`
    parts.push(
      `-- ${m.name} (sha256 ${m.checksum})\n${body}\nINSERT INTO ${quoteIdent(schema)}.schema_migrations (version, name, checksum) VALUES (${m.version}, '${m.name}', '${m.checksum}');` +
        (m.noTransaction ? '' : '\nCOMMIT;'),
    )
  }
  return `${parts.join('\n\n')}\n`
}
