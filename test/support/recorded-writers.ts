import { randomUUID } from 'node:crypto'
import { expect } from 'vitest'
import type { EventStore } from '../../src/index.js'
import { sleep } from './wait-for.js'

/** One append call and what became of it. */
export interface Attempt {
  readonly ids: string[]
  readonly streams: string[]
  outcome: 'pending' | 'resolved' | 'rejected'
  /** Name and start of the message of the rejection. */
  error?: string
  /** When it resolved (ms since the epoch). */
  at?: number
}

export interface RecordedWriters {
  readonly attempts: Attempt[]
  /** Stops the writers and waits for their last calls. */
  stop(): Promise<void>
}

/**
 * `writers` loops of appends with ids of their own, recording each call's outcome: single
 * appends of 1–3 events to `<prefix><w>-<n>` and, every 7th, an atomic `appendToStreams` over
 * two streams. `event(w, i, k)` gives each event's type and data (default `Written`).
 */
export function recordedWriters(
  store: EventStore,
  {
    writers = 8,
    prefix = 'w',
    event = (w: number, i: number, k: number) => ({ type: 'Written', data: { w, i, k } }),
  }: {
    writers?: number
    prefix?: string
    event?: (w: number, i: number, k: number) => { type: string; data: Record<string, unknown> }
  } = {},
): RecordedWriters {
  const attempts: Attempt[] = []
  let writing = true
  const writer = async (w: number) => {
    for (let i = 0; writing; i++) {
      const multi = i % 7 === 3
      const streams = multi
        ? [`${prefix}${w}-${i % 3}`, `${prefix}${w}-x`]
        : [`${prefix}${w}-${i % 3}`]
      const perStream = 1 + (i % 3)
      const ids = streams.flatMap(() => Array.from({ length: perStream }, () => randomUUID()))
      const attempt: Attempt = { ids, streams, outcome: 'pending' }
      attempts.push(attempt)
      const events = (s: number) =>
        ids.slice(s * perStream, (s + 1) * perStream).map((id, k) => ({ id, ...event(w, i, k) }))
      try {
        if (multi)
          await store.appendToStreams(
            streams.map((streamId, s) => ({ streamId, events: events(s) })),
          )
        else await store.appendToStream(streams[0]!, events(0))
        attempt.outcome = 'resolved'
        attempt.at = Date.now()
      } catch (error) {
        attempt.outcome = 'rejected'
        attempt.error =
          error instanceof Error ? `${error.name}: ${error.message.slice(0, 80)}` : String(error)
        await sleep(50) // the server may be down: do not spin
      }
    }
  }
  const running = Array.from({ length: writers }, (_, w) => writer(w))
  return {
    attempts,
    async stop() {
      writing = false
      await Promise.all(running)
    },
  }
}

/**
 * The checks on the log after faults: every resolved append is there (ids are unique in the
 * table: exactly once), a rejected one is all or nothing, nothing is there that no call wrote,
 * and every stream's versions are 1..n. Returns the counts, for the test's figures.
 */
export function checkAppends(attempts: readonly Attempt[], committed: readonly string[]) {
  const present = new Set(committed)
  expect(present.size).toBe(committed.length)
  const resolved = attempts.filter((a) => a.outcome === 'resolved')
  const rejected = attempts.filter((a) => a.outcome === 'rejected')
  for (const a of resolved) expect(a.ids.filter((id) => !present.has(id))).toEqual([])
  for (const a of rejected)
    expect([0, a.ids.length]).toContain(a.ids.filter((id) => present.has(id)).length)
  const tried = new Set(attempts.flatMap((a) => a.ids))
  return {
    resolved,
    rejected,
    rejectedButCommitted: rejected.filter((a) => a.ids.every((id) => present.has(id))).length,
    untried: committed.filter((id) => !tried.has(id)),
  }
}

/** SQL that lists streams whose versions are not 1..n (none may be). */
export const NON_CONTIGUOUS_STREAMS = (schema = 'strata') =>
  `SELECT stream_id FROM "${schema}".events GROUP BY stream_id
    HAVING min(version) <> 1 OR max(version) <> count(*)`
