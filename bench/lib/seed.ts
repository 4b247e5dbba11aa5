import type pg from 'pg'

/**
 * Fills a migrated store with `count` events fast, in SQL (100 events per stream), the way a
 * long-lived log looks. Batches of 200,000 rows keep each transaction reasonable.
 */
export async function seedEvents(
  pool: pg.Pool,
  count: number,
  options: { schema?: string; log?: (message: string) => void } = {},
): Promise<void> {
  const schema = options.schema ?? 'strata'
  const { rows } = await pool.query<{ n: string }>(`SELECT count(*) AS n FROM "${schema}".events`)
  const start = Number(rows[0]!.n)
  for (let from = start; from < start + count; from += 200_000) {
    const to = Math.min(start + count, from + 200_000) - 1
    await pool.query(
      `INSERT INTO "${schema}".events (stream_id, version, id, type, data, metadata)
       SELECT 'seed-' || (g / 100), g % 100 + 1, gen_random_uuid(), 'Counted',
              jsonb_build_object('i', g, 'note', 'a payload of a typical size for an event'), '{}'
         FROM generate_series($1::bigint, $2::bigint) AS g`,
      [from, to],
    )
    options.log?.(`seeded ${to + 1 - start} of ${count} events`)
  }
  await pool.query(`VACUUM ANALYZE "${schema}".events`)
}
