import { randomUUID } from 'node:crypto'
import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import {
  DuplicateEventError,
  WrongExpectedVersionError,
  type AppendResult,
  type EventStore,
  type ExpectedVersion,
} from '../../src/index.js'
import { useTestDatabase } from '../support/test-database.js'

const db = useTestDatabase()
let store: EventStore

beforeAll(async () => {
  store = await db.store()
})

type Kind = 'any' | 'no_stream' | 'stream_exists' | 'exact'
interface Command {
  stream: number
  kind: Kind
  exact: number
  count: number
  /** Repeat the ids (and content) of an earlier command: a retry. */
  retryOf: number | null
}

const command = fc.record({
  stream: fc.integer({ min: 0, max: 2 }),
  kind: fc.constantFrom<Kind>('any', 'no_stream', 'stream_exists', 'exact'),
  exact: fc.integer({ min: 0, max: 6 }),
  count: fc.integer({ min: 1, max: 3 }),
  retryOf: fc.option(fc.nat({ max: 20 }), { nil: null, freq: 4 }),
})

function expectedOf(c: Command): ExpectedVersion {
  return c.kind === 'exact' ? BigInt(c.exact) : c.kind
}

describe('appendToStream (property-based)', () => {
  it('matches a model of versions, conflicts and idempotent retries', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(command, { minLength: 1, maxLength: 25 }), async (commands) => {
        const run = randomUUID()
        const streams = [0, 1, 2].map((i) => `prop-${run}-${i}`)
        const modelVersions = [0, 0, 0]
        const modelEvents: string[][] = [[], [], []]
        const issued: Array<{
          stream: number
          events: Array<{ id: string; type: string; data: unknown }>
        }> = []
        const stored = new Map<string, AppendResult>() // first event id -> original result

        for (const c of commands) {
          const earlier = c.retryOf === null ? undefined : issued[c.retryOf]
          const stream = earlier?.stream ?? c.stream
          const events =
            earlier?.events ??
            Array.from({ length: c.count }, (_, k) => ({
              id: randomUUID(),
              type: 'E',
              data: { k, run },
            }))
          issued.push({ stream, events })

          const actual = modelVersions[stream]!
          const outcome = await store
            .appendToStream(streams[stream]!, events, { expectedVersion: expectedOf(c) })
            .then(
              (r) => ({ ok: r }),
              (error: unknown) => ({ error }),
            )

          const original = stored.get(events[0]!.id)
          if (original !== undefined) {
            // A retry of a stored append: the original result, whatever the expected version.
            expect(outcome).toEqual({ ok: original })
            continue
          }
          const accepted =
            c.kind === 'any' ||
            (c.kind === 'no_stream' && actual === 0) ||
            (c.kind === 'stream_exists' && actual > 0) ||
            (c.kind === 'exact' && actual === c.exact)
          if (accepted) {
            if (!('ok' in outcome)) throw outcome.error
            modelVersions[stream] = actual + events.length
            modelEvents[stream]!.push(...events.map((e) => e.id))
            expect(outcome.ok.nextExpectedVersion).toBe(BigInt(modelVersions[stream]))
            stored.set(events[0]!.id, outcome.ok)
          } else {
            expect('error' in outcome).toBe(true)
            const error = (outcome as { error: unknown }).error
            expect(error).toBeInstanceOf(WrongExpectedVersionError)
            expect((error as WrongExpectedVersionError).actual).toBe(BigInt(actual))
          }
        }
        for (let s = 0; s < 3; s++) {
          const stored = await store.readStream(streams[s]!)
          expect(stored.map((e) => e.id)).toEqual(modelEvents[s])
          expect(stored.map((e) => e.version)).toEqual(modelEvents[s]!.map((_, i) => BigInt(i + 1)))
        }
      }),
      { numRuns: 40 },
    )
  })

  it('concurrent appends keep every stream contiguous and each exact version won at most once', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(command, { minLength: 2, maxLength: 30 }), async (commands) => {
        const run = randomUUID()
        const streams = [0, 1, 2].map((i) => `cprop-${run}-${i}`)
        const outcomes = await Promise.all(
          commands.map((c) =>
            store
              .appendToStream(
                streams[c.stream]!,
                Array.from({ length: c.count }, (_, k) => ({ type: 'E', data: { k } })),
                { expectedVersion: expectedOf(c) },
              )
              .then(
                (r) => ({ c, r }),
                (error: unknown) => {
                  if (
                    !(error instanceof WrongExpectedVersionError) &&
                    !(error instanceof DuplicateEventError)
                  )
                    throw error
                  return { c, r: undefined }
                },
              ),
          ),
        )
        for (let s = 0; s < 3; s++) {
          const stored = await store.readStream(streams[s]!)
          expect(stored.map((e) => e.version)).toEqual(stored.map((_, i) => BigInt(i + 1)))
          const wins = outcomes.filter((o) => o.r !== undefined && o.c.stream === s)
          expect(stored.length).toBe(wins.reduce((n, o) => n + o.c.count, 0))
          const exactWins = wins.filter((o) => o.c.kind === 'exact' || o.c.kind === 'no_stream')
          const claimed = exactWins.map((o) => (o.c.kind === 'no_stream' ? 0 : o.c.exact))
          expect(new Set(claimed).size).toBe(claimed.length)
        }
      }),
      { numRuns: 25 },
    )
  })
})
