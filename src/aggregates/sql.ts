import { quoteIdent } from '../db/index.js'

/** The aggregate statements, bound to one (checked) schema. */
export function aggregateSql(schema: string) {
  const s = quoteIdent(schema)
  return {
    /**
     * Everything a load needs in one round trip (see load_aggregate in migrations/0004 for the
     * rows and the argument). $1 stream id, $2 aggregate name, $3 snapshot version (null: use
     * no snapshot), $4 highest version (null: no bound), $5 highest position (null), $6 point
     * in time (null).
     */
    load: `SELECT kind, position, stream_id, version, id, type, data, metadata, data_version, created_at
      FROM ${s}.load_aggregate($1::text, $2::text, $3::int, $4::bigint, $5::bigint, $6::timestamptz)`,
  }
}

/** The statements of {@link aggregateSql}. */
export type AggregateSql = ReturnType<typeof aggregateSql>
