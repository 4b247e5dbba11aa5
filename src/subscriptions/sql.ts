import { quoteIdent } from '../db/index.js'

/** Statements of subscriptions and checkpoints, bound to one (checked) schema. */
export function subscriptionSql(schema: string) {
  const s = quoteIdent(schema)
  return {
    /** $1 name. */
    loadCheckpoint: `SELECT position FROM ${s}.checkpoints WHERE name = $1`,
    /** $1 name, $2 position. Never moves a checkpoint backwards unless $3 (force). */
    saveCheckpoint: `INSERT INTO ${s}.checkpoints AS c (name, position) VALUES ($1, $2)
      ON CONFLICT (name) DO UPDATE SET position = EXCLUDED.position, updated_at = clock_timestamp()
      WHERE $3::boolean OR c.position < EXCLUDED.position`,
    /** $1 name. */
    deleteCheckpoint: `DELETE FROM ${s}.checkpoints WHERE name = $1`,
    listCheckpoints: `SELECT name, position, updated_at FROM ${s}.checkpoints ORDER BY name`,
    /** $1 time: the first position at or after it. */
    positionAtTime: `SELECT ${s}.position_at_time($1) AS position`,
    /** $1 stream id. The stream's current version. */
    streamVersion: `SELECT version FROM ${s}.stream_state($1)`,
  }
}

export type SubscriptionSql = ReturnType<typeof subscriptionSql>
