import { quoteIdent } from '../db/index.js'

/** Statements of subscriptions and checkpoints, bound to one (checked) schema. */
export function subscriptionSql(schema: string) {
  const s = quoteIdent(schema)
  return {
    /** $1 name. */
    loadCheckpoint: `SELECT position FROM ${s}.checkpoints WHERE name = $1`,
    /** $1 name, $2 position. Never moves a checkpoint backwards unless $3 (force). */
    saveCheckpoint: `SELECT ${s}.checkpoint_save($1::text, $2::bigint, $3::boolean)`,
    /** $1 name. */
    deleteCheckpoint: `SELECT ${s}.checkpoint_delete($1::text)`,
    listCheckpoints: `SELECT name, position, updated_at FROM ${s}.checkpoints ORDER BY name`,
    /** $1 time: the first position at or after it. */
    positionAtTime: `SELECT ${s}.position_at_time($1) AS position`,
    /** $1 stream id. The stream's current version. */
    streamVersion: `SELECT version FROM ${s}.stream_state($1)`,
  }
}

export type SubscriptionSql = ReturnType<typeof subscriptionSql>
