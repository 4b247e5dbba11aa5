import { type SqlExecutor, clientExecutor, toBigInt, toBigIntOrNull } from '../db/index.js'
import type { StoreCore } from '../store/index.js'
import type { AdmitResult, AdmitStatus, GroupRow } from './group-db.js'
import type { ConsumerSql } from './sql.js'

interface SourceRow {
  position: string
  stream_id: string
  created_at: string
  metadata: string
}

type ReplicaRead =
  | {
      readonly kind: 'rows'
      readonly upto: bigint
      readonly horizon: bigint | null
      readonly rows: SourceRow[]
    }
  | { readonly kind: 'nothing'; readonly status: AdmitStatus }
  | { readonly kind: 'primary' }

/**
 * Admission with the log read on a replica (a group's `readFrom: 'replica'`): the cursor is
 * read on the primary, the events after it on a replica, final up to the horizon published in
 * that replica's view or over the run of positions directly after the cursor (the rule of
 * consumer_group_admit, docs/guarantees.md), and they are admitted on the primary by
 * consumer_group_admit_rows, a compare-and-set on the cursor. `onPrimary` runs the usual
 * admission when the replica cannot serve (the store's `replicas.fallback`).
 */
export async function admitFromReplica(
  store: StoreCore,
  sql: ConsumerSql,
  group: GroupRow,
  windowSize: number,
  scanLimit: number,
  maxWaitMs: number,
  onPrimary: () => Promise<AdmitResult>,
): Promise<AdmitResult> {
  const replicas = store.replicas
  if (replicas === undefined) return onPrimary()
  const primary = clientExecutor(store.pool)
  const { rows: cursorRows } = await primary.query<{ cursor_position: string }>(sql.groupCursor, [
    group.id,
  ])
  const cursorRow = cursorRows[0]
  if (cursorRow === undefined) return { status: 'missing', admitted: 0 }
  const cursor = toBigInt(cursorRow.cursor_position)
  const pollMs = Math.max(2, Math.min(25, Math.floor(replicas.publishIntervalMs / 4)))
  const read = await replicas.run<ReplicaRead>(
    undefined,
    async (db, view) => {
      const deadline = Date.now() + maxWaitMs
      let horizon = view.horizon
      for (;;) {
        if (horizon > cursor) {
          const upto = horizon < cursor + BigInt(scanLimit) ? horizon : cursor + BigInt(scanLimit)
          return {
            kind: 'rows',
            upto,
            horizon,
            rows: await sourceEvents(db, sql, group, cursor, upto, windowSize),
          }
        }
        const { rows } = await db.query<{ upto: string | null }>(sql.contiguousRun, [
          cursor.toString(),
          scanLimit,
        ])
        const run = toBigIntOrNull(rows[0]?.upto)
        if (run !== null) {
          return {
            kind: 'rows',
            upto: run,
            horizon: null,
            rows: await sourceEvents(db, sql, group, cursor, run, windowSize),
          }
        }
        const { rows: after } = await db.query<{ found: boolean }>(store.sql.anyEventAfter, [
          cursor.toString(),
        ])
        if (after[0]?.found !== true) {
          // Nothing here yet. If a notification announced more, the replica has not replayed it:
          // 'busy' makes the consumer look again shortly instead of waiting for the next poll.
          const announced = store.listens ? store.notifications.latestPosition : 0n
          return { kind: 'nothing', status: announced > cursor ? 'busy' : 'idle' }
        }
        // Events behind a gap the published horizon does not cover yet: wait for the next one.
        if (Date.now() >= deadline) return { kind: 'nothing', status: 'waiting' }
        await new Promise((resolve) => setTimeout(resolve, pollMs))
        const { rows: published } = await db.query<{ position: string }>(
          store.sql.publishedPosition,
        )
        horizon = toBigInt(published[0]?.position ?? '0')
      }
    },
    () => Promise.resolve({ kind: 'primary' }),
  )
  if (read.kind === 'primary') return onPrimary()
  if (read.kind === 'nothing') return { status: read.status, admitted: 0 }
  const { rows } = await primary.query<{ status: AdmitStatus; admitted: number }>(sql.admitRows, [
    group.id,
    windowSize,
    cursor.toString(),
    read.upto.toString(),
    read.horizon?.toString() ?? null,
    read.rows.map((r) => r.position),
    read.rows.map((r) => r.stream_id),
    read.rows.map((r) => r.created_at),
    read.rows.map((r) => r.metadata),
  ])
  return { status: rows[0]?.status ?? 'missing', admitted: rows[0]?.admitted ?? 0 }
}

async function sourceEvents(
  db: SqlExecutor,
  sql: ConsumerSql,
  group: GroupRow,
  cursor: bigint,
  upto: bigint,
  limit: number,
): Promise<SourceRow[]> {
  const { rows } = await db.query<SourceRow>(sql.sourceEvents, [
    cursor.toString(),
    upto.toString(),
    group.source_category,
    group.source_event_types,
    group.source_stream_ids,
    group.source_stream_prefix,
    limit,
  ])
  return rows
}
