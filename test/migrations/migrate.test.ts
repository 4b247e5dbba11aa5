import pg from 'pg'
import { describe, expect, it } from 'vitest'
import { createEventStore, MigrationChecksumError } from '../../src/index.js'
import { loadMigrations } from '../../src/migrate/migrator.js'
import { useTestDatabase } from '../support/test-database.js'

const db = useTestDatabase()

/** Everything a migration creates in a schema, as comparable text. */
async function catalog(schema: string): Promise<string[]> {
  const rows = await db.query<{ item: string }>(
    `SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable || ' ' || coalesce(column_default, '') AS item
       FROM information_schema.columns WHERE table_schema = $1
     UNION ALL
     SELECT 'constraint ' || conrelid::regclass::text || ' ' || conname || ' ' || pg_get_constraintdef(oid)
       FROM pg_constraint WHERE connamespace = $1::regnamespace
     UNION ALL
     SELECT 'index ' || indexname || ' ' || replace(indexdef, $1 || '.', '') FROM pg_indexes WHERE schemaname = $1
     UNION ALL
     SELECT 'function ' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ') ' || md5(p.prosrc)
       FROM pg_proc p WHERE p.pronamespace = $1::regnamespace
     UNION ALL
     SELECT 'trigger ' || tgname || ' ' || tgrelid::regclass::text FROM pg_trigger
      WHERE NOT tgisinternal AND tgrelid::regclass::text LIKE $1 || '.%'
     UNION ALL
     SELECT 'sequence ' || sequence_name || ' ' || data_type FROM information_schema.sequences WHERE sequence_schema = $1
     UNION ALL
     SELECT 'migration ' || version || ' ' || name || ' ' || checksum FROM "${schema}".schema_migrations
     ORDER BY 1`,
    [schema],
  )
  return rows.map((r) => r.item.replaceAll(`${schema}.`, '<schema>.'))
}

describe('migrate', () => {
  it('applies every file once; a database migrated twice equals a fresh one', async () => {
    const once = createEventStore({ connectionString: db.url }, { schema: 'once' })
    const twice = createEventStore({ connectionString: db.url }, { schema: 'twice' })
    try {
      const files = (await loadMigrations()).map((m) => m.name)
      expect((await once.migrate()).applied).toEqual(files)
      await twice.migrate()
      const second = await twice.migrate()
      expect(second).toEqual({ applied: [], alreadyApplied: files })
      expect(await catalog('twice')).toEqual(await catalog('once'))
      expect((await catalog('once')).length).toBeGreaterThan(20)
    } finally {
      await once.close()
      await twice.close()
    }
  })

  it('concurrent migrate() calls from many processes are safe', async () => {
    const stores = Array.from({ length: 6 }, () => createEventStore({ connectionString: db.url }, { schema: 'racing' }))
    try {
      const results = await Promise.all(stores.map((s) => s.migrate()))
      const appliedBy = results.flatMap((r) => r.applied)
      const files = (await loadMigrations()).map((m) => m.name)
      expect([...appliedBy].sort()).toEqual([...files].sort()) // each file applied exactly once
      const rows = await db.query<{ n: string }>('SELECT count(*) AS n FROM racing.schema_migrations')
      expect(Number(rows[0]!.n)).toBe(files.length)
      await stores[0]!.appendToStream('s-1', [{ type: 'T', data: {} }])
    } finally {
      await Promise.all(stores.map((s) => s.close()))
    }
  })

  it('refuses an applied migration whose file changed, unless told otherwise', async () => {
    const store = createEventStore({ connectionString: db.url }, { schema: 'tampered' })
    try {
      await store.migrate()
      await db.query(`UPDATE tampered.schema_migrations SET checksum = 'abc' WHERE version = 1`)
      await expect(store.migrate()).rejects.toBeInstanceOf(MigrationChecksumError)
      await expect(store.migrate()).rejects.toMatchObject({ migration: '0001_event_store.sql', recordedChecksum: 'abc' })
      await expect(store.migrate({ allowChecksumMismatch: true })).resolves.toMatchObject({ applied: [] })
    } finally {
      await store.close()
    }
  })

  it('stores in two schemas of one database are independent', async () => {
    const a = createEventStore({ connectionString: db.url }, { schema: 'tenant_a' })
    const pool = new pg.Pool({ connectionString: db.url })
    const b = createEventStore({ pool }, { schema: 'tenant_b' })
    try {
      await a.migrate()
      await b.migrate()
      await a.appendToStream('s-1', [{ type: 'A', data: {} }])
      expect(await b.readStream('s-1')).toEqual([])
      expect((await b.readAll()).events).toEqual([])
      expect((await a.readAll()).events).toHaveLength(1)
    } finally {
      await a.close()
      await b.close()
      await pool.end()
    }
  })

  it('dryRun lists what would run and changes nothing; migrationScript prints reviewable SQL', async () => {
    const store = createEventStore({ connectionString: db.url }, { schema: 'dry' })
    try {
      const files = (await loadMigrations()).map((m) => m.name)
      expect(await store.migrate({ dryRun: true })).toEqual({ applied: files, alreadyApplied: [] })
      const tables = await db.query(`SELECT 1 FROM information_schema.tables WHERE table_schema = 'dry' AND table_name = 'events'`)
      expect(tables).toHaveLength(0)
      const script = await store.migrationScript()
      expect(script).toContain('CREATE TABLE events')
      expect(script).toContain('SET LOCAL search_path TO "dry"')
    } finally {
      await store.close()
    }
  })
})
