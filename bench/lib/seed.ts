import type pg from 'pg'

/** How to seed: see {@link seedEvents}. */
export interface SeedOptions {
  /** Schema of the events table (default 'strata'). */
  readonly schema?: string
  /**
   * Number of the first seeded event (default: the table's row count). Stream `seed-k` holds
   * events 100k … 100k + 99, so seeding in steps that start where the last one ended keeps every
   * seeded stream whole even when other events were appended in between.
   */
  readonly startAt?: number
  /**
   * Drop the secondary indexes and unique constraints first and build them again after (sorted
   * builds instead of millions of random B-tree inserts): several times faster for millions of
   * events. The table ends with the same indexes and constraints.
   */
  readonly rebuildIndexes?: boolean
  readonly log?: (message: string) => void
}

const BATCH = 200_000

/**
 * Fills a migrated store with `count` events fast, in SQL (100 events per stream), the way a
 * long-lived log looks. Batches of 200,000 rows keep each transaction reasonable. Returns the
 * number of the next event to seed (for `startAt`).
 */
export async function seedEvents(
  pool: pg.Pool,
  count: number,
  options: SeedOptions = {},
): Promise<number> {
  const table = `"${options.schema ?? 'strata'}".events`
  const start =
    options.startAt ??
    Number((await pool.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`)).rows[0]!.n)
  const client = await pool.connect()
  try {
    await client.query(`SET maintenance_work_mem = '1GB'`)
    const rebuild = options.rebuildIndexes === true ? await dropIndexes(client, table) : []
    for (let from = start; from < start + count; from += BATCH) {
      const to = Math.min(start + count, from + BATCH) - 1
      await client.query(
        `INSERT INTO ${table} (stream_id, version, id, type, data, metadata)
         SELECT 'seed-' || (g / 100), g % 100 + 1, gen_random_uuid(), 'Counted',
                jsonb_build_object('i', g, 'note', 'a payload of a typical size for an event'), '{}'
           FROM generate_series($1::bigint, $2::bigint) AS g`,
        [from, to],
      )
      const done = to + 1 - start
      if (done % 1_000_000 === 0 || done === count) {
        options.log?.(
          `seeded ${done.toLocaleString('en-US')} of ${count.toLocaleString('en-US')} events`,
        )
      }
    }
    if (rebuild.length > 0) options.log?.(`building ${rebuild.length} indexes`)
    for (const statement of rebuild) await client.query(statement)
    await client.query(`VACUUM ANALYZE ${table}`)
  } finally {
    client.release()
  }
  return start + count
}

/**
 * Drops every index of the table but its primary key (unique constraints included); returns the
 * statements that build them again.
 */
async function dropIndexes(client: pg.PoolClient, table: string): Promise<string[]> {
  const { rows } = await client.query<{
    index: string
    def: string
    constraint: string | null
    condef: string | null
  }>(
    `SELECT i.indexrelid::regclass::text AS index, pg_get_indexdef(i.indexrelid) AS def,
            c.conname AS constraint,
            pg_get_constraintdef(c.oid) AS condef
       FROM pg_index i LEFT JOIN pg_constraint c ON c.conindid = i.indexrelid AND c.conrelid = i.indrelid
      WHERE i.indrelid = $1::regclass AND NOT i.indisprimary`,
    [table],
  )
  const rebuild: string[] = []
  for (const row of rows) {
    if (row.constraint === null || row.condef === null) {
      await client.query(`DROP INDEX ${row.index}`)
      rebuild.push(row.def)
    } else {
      await client.query(`ALTER TABLE ${table} DROP CONSTRAINT "${row.constraint}"`)
      rebuild.push(`ALTER TABLE ${table} ADD CONSTRAINT "${row.constraint}" ${row.condef}`)
    }
  }
  return rebuild
}
