import { toBigInt } from '../db/index.js'
import { escapeLike, type AllFilter, type StoreCore } from '../store/index.js'
import { relaySql } from './sql.js'

/** Where a relay stands (`strata relay status`). */
export interface RelayStatus {
  readonly name: string
  /** The JetStream stream it publishes to. */
  readonly stream: string
  readonly filter: AllFilter
  /** Its checkpoint: every event of the filter at or below it is acknowledged by JetStream. */
  readonly position: bigint
  /** The JetStream sequence of the message of the event at `position` (0: none yet). */
  readonly streamSequence: number
  /** The last position handed out in the log. */
  readonly head: bigint
  /** Events of the filter after the checkpoint, counted up to {@link RELAY_LAG_CAP}. */
  readonly eventsBehind: number
  /** False when there are more than the cap (eventsBehind is then the cap). */
  readonly eventsBehindExact: boolean
  /** Age of the oldest event not yet relayed (0 when caught up). */
  readonly secondsBehind: number
  /** The instance holding the lease (host:pid:random), null when none does. */
  readonly activeInstance: string | null
  readonly leaseUntil: Date | null
  /** When the checkpoint last moved. */
  readonly lastPublishedAt: Date | null
  readonly updatedAt: Date
}

/** Status counts at most this many pending events per relay (a bounded scan). */
export const RELAY_LAG_CAP = 100_000

interface StatusRow {
  name: string
  target: string
  filter: AllFilter
  position: string
  stream_sequence: string
  lease_owner: string | null
  lease_until: Date | null
  lease_active: boolean | null
  published_at: Date | null
  updated_at: Date
}

/**
 * Every relay (or the one named): checkpoint, lag in events and seconds, the active instance.
 * Reads Postgres only: the checkpoint trails JetStream's acknowledgements by at most
 * `checkpointIntervalMs`.
 */
export async function relayStatus(store: StoreCore, name?: string): Promise<RelayStatus[]> {
  await store.ready()
  const sql = relaySql(store.schema)
  const { rows } = await store.pool.query<StatusRow>(sql.status, [name ?? null])
  const head = await store.headPosition()
  const now = Date.now()
  const statuses: RelayStatus[] = []
  for (const row of rows) {
    const position = toBigInt(row.position)
    const filter = row.filter
    const { rows: lag } = await store.pool.query<{ events: string; oldest: Date | null }>(
      sql.behind,
      [
        row.position,
        RELAY_LAG_CAP + 1,
        filter.eventTypes ?? null,
        filter.category ?? null,
        filter.streamIdPrefix === undefined ? null : `${escapeLike(filter.streamIdPrefix)}%`,
      ],
    )
    const events = Number(lag[0]?.events ?? 0)
    const oldest = lag[0]?.oldest ?? null
    statuses.push({
      name: row.name,
      stream: row.target,
      filter,
      position,
      streamSequence: Number(row.stream_sequence),
      head,
      eventsBehind: Math.min(events, RELAY_LAG_CAP),
      eventsBehindExact: events <= RELAY_LAG_CAP,
      secondsBehind: oldest === null ? 0 : Math.max(0, (now - oldest.getTime()) / 1000),
      activeInstance: row.lease_active === true ? row.lease_owner : null,
      leaseUntil: row.lease_active === true ? row.lease_until : null,
      lastPublishedAt: row.published_at,
      updatedAt: row.updated_at,
    })
  }
  return statuses
}
