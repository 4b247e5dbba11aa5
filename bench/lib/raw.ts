import { randomUUID } from 'node:crypto'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import pg from 'pg'
import { from as copyFrom } from 'pg-copy-streams'

/**
 * The raw-SQL baselines: plain statements on a table of the same shape as strata's (columns,
 * defaults, constraints and indexes, `LIKE strata.events INCLUDING ALL`), without strata's
 * append function. Call after the store's migrations.
 */
export async function createRawTable(pool: pg.Pool): Promise<void> {
  await pool.query('CREATE SCHEMA raw; CREATE TABLE raw.events (LIKE strata.events INCLUDING ALL)')
}

/** The lean table: what a hand-written event store needs, and nothing more. */
export const LEAN_TABLE = 'raw.lean_events'

/**
 * The lean raw baseline: the table a hand-written store needs, three indexes (position primary
 * key, unique (stream_id, version), unique event id), none of strata's filtered-read indexes
 * (type, category, created_at). Call after {@link createRawTable}.
 */
export async function createLeanTable(pool: pg.Pool): Promise<void> {
  await pool.query(`CREATE TABLE ${LEAN_TABLE} (
    position   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    stream_id  text   NOT NULL,
    version    bigint NOT NULL,
    id         uuid   NOT NULL UNIQUE,
    type       text   NOT NULL,
    data       jsonb  NOT NULL,
    metadata   jsonb  NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (stream_id, version))`)
}

/** One event as the raw baselines write it. */
export interface RawEvent {
  readonly streamId: string
  readonly version: number
  readonly data: object
}

/** A one-row INSERT with a known version: one statement, one transaction, one round trip. */
export function insertOne(pool: pg.Pool, event: RawEvent, table = 'raw.events'): Promise<unknown> {
  return pool.query(
    `INSERT INTO ${table} (stream_id, version, id, type, data, metadata) VALUES ($1, $2, $3, 'Counted', $4, '{}')`,
    [event.streamId, event.version, randomUUID(), JSON.stringify(event.data)],
  )
}

/**
 * The least a hand-written append must do when it does not know the stream's version (many
 * writers, one stream): take a per-stream lock, then insert max(version) + 1. Sent as one
 * simple-protocol query of two statements, which Postgres runs as one implicit transaction: one
 * round trip and one commit, and the INSERT's snapshot is taken after the lock, so it sees every
 * earlier append to the stream. (The lock-free alternative, INSERT … SELECT max + 1 retried on a
 * unique violation, makes every loser wait for the winner's commit and then start again.)
 */
export function insertNextVersion(
  pool: pg.Pool,
  streamId: string,
  data: object,
  table = 'raw.events',
): Promise<unknown> {
  const stream = pg.escapeLiteral(streamId)
  return pool.query(
    `SELECT pg_advisory_xact_lock(1918989682, hashtext(${stream}));
     INSERT INTO ${table} (stream_id, version, id, type, data, metadata)
     SELECT ${stream}, COALESCE(max(version), 0) + 1, '${randomUUID()}', 'Counted', ${pg.escapeLiteral(JSON.stringify(data))}, '{}'
       FROM ${table} WHERE stream_id = ${stream}`,
  )
}

/** A multi-row INSERT of a whole batch: one statement, one transaction. */
export function insertMany(pool: pg.Pool, events: readonly RawEvent[]): Promise<unknown> {
  const values: unknown[] = []
  const tuples = events.map((e, i) => {
    values.push(e.streamId, e.version, randomUUID(), JSON.stringify(e.data))
    return `($${i * 4 + 1}, $${i * 4 + 2}, $${i * 4 + 3}, 'Counted', $${i * 4 + 4}, '{}')`
  })
  return pool.query(
    `INSERT INTO raw.events (stream_id, version, id, type, data, metadata) VALUES ${tuples.join(', ')}`,
    values,
  )
}

/** COPY … FROM STDIN of a whole batch (text format): one statement, one transaction. */
export async function copyMany(pool: pg.Pool, events: readonly RawEvent[]): Promise<void> {
  const lines = events.map(
    (e) =>
      `${copyText(e.streamId)}\t${e.version}\t${randomUUID()}\tCounted\t${copyText(JSON.stringify(e.data))}\t{}\n`,
  )
  const client = await pool.connect()
  try {
    await pipeline(
      Readable.from([lines.join('')]),
      client.query(
        copyFrom('COPY raw.events (stream_id, version, id, type, data, metadata) FROM STDIN'),
      ),
    )
  } finally {
    client.release()
  }
}

/** Escapes a value for COPY's text format. */
function copyText(value: string): string {
  return value.replace(/[\\\t\n\r]/g, (c) =>
    c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r',
  )
}
