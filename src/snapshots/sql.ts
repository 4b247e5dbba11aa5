import { quoteIdent } from '../db/index.js'

/** SQLSTATE raised by truncate_behind_snapshot (migrations/0004) when no snapshot covers the prefix. */
export const SNAPSHOT_NOT_COVERING = 'SX501'

/** The snapshot statements, bound to one (checked) schema. DDL lives in migrations/0004. */
export function snapshotSql(schema: string) {
  const s = quoteIdent(schema)
  return {
    /**
     * Writes a snapshot and prunes the stream's older ones. $1 stream id, $2 aggregate name,
     * $3 stream version covered, $4 snapshot version, $5 state (jsonb text), $6 snapshots to
     * keep of this snapshot version (>= 1), $7 replace.
     *
     * Unless $7 (replace: the one at $3 could not be decoded, or a snapshot was asked for),
     * nothing is written when a snapshot of this snapshot version at or after $3 exists (a
     * concurrent command got there first). A snapshot of another snapshot version at $3 is
     * replaced; other snapshot versions are deleted (ignored by loads anyway); pinned snapshots
     * (a truncation relies on them) are kept. Concurrent writers of one stream only ever leave
     * an extra row behind, which the next write prunes. (snapshot_write, migrations/0011: the
     * runtime role writes no table itself.)
     */
    writeSnapshot: `SELECT written, pruned
      FROM ${s}.snapshot_write($1::text, $2::text, $3::bigint, $4::int, $5::jsonb, $6::int, $7::boolean)`,

    /**
     * $1 stream id, $2 aggregate name, $3 snapshot version, $4 truncate before. Returns the
     * stream's truncate_before afterwards. Raises SX501 (no covering snapshot) or SX003.
     */
    truncateBehindSnapshot: `SELECT ${s}.truncate_behind_snapshot($1::text, $2::text, $3::int, $4::bigint) AS truncate_before`,
  }
}

/** The statements of {@link snapshotSql}. */
export type SnapshotSql = ReturnType<typeof snapshotSql>
