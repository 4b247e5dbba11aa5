import { randomUUID } from 'node:crypto'
import fc from 'fast-check'
import { firstValueFrom, race, timer, map } from 'rxjs'
import { beforeAll, describe, expect, it } from 'vitest'
import {
  createEventStore,
  isStrataError,
  WrongExpectedVersionError,
  type EventStore,
  type StrataError,
} from 'pg-strata'
import { useTestDatabase } from '../support/test-database.js'

// Fuzzing of the public API: random, mostly hostile arguments. Every call either succeeds or
// throws one of strata's typed errors whose message names what was wrong; at the end the
// database holds exactly the appends that succeeded, in order. Bounded: a few hundred calls.

const db = useTestDatabase()
let store: EventStore

beforeAll(async () => {
  store = await db.store({ maxEventsPerAppend: 20 })
})

/** Values of every kind: what a caller from plain JavaScript may pass anywhere. */
const hostile = fc.oneof(
  fc.anything({ withBigInt: true, withDate: true, withMap: true, withSet: true, maxDepth: 2 }),
  fc.constantFrom(
    undefined,
    null,
    Number.NaN,
    Infinity,
    -0,
    -1,
    2 ** 53,
    '',
    ' ',
    '\u0000',
    'a\nb',
    'x'.repeat(600),
    Symbol('s'),
    () => 1,
  ),
)

/** Mostly `valid` (so that calls get far enough to meet the database), sometimes not. */
const mostly = <T>(valid: fc.Arbitrary<T>, ...invalid: Array<fc.Arbitrary<unknown>>) =>
  fc.oneof({ weight: 9, arbitrary: valid }, { weight: 1, arbitrary: fc.oneof(hostile, ...invalid) })

const streamId = mostly(
  fc.constantFrom('fz-a', 'fz-b', 'fz-c', 'other-1'),
  fc.string({ maxLength: 20 }),
  fc.string({ unit: 'binary', maxLength: 10 }),
)
const eventType = mostly(
  fc.constantFrom('Created', 'Changed', 'Removed'),
  fc.string({ maxLength: 300 }),
)
const jsonish = mostly(
  fc.dictionary(fc.string({ maxLength: 5 }), fc.jsonValue({ maxDepth: 2 })),
  fc.string({ unit: 'binary', maxLength: 8 }).map((s) => ({ s })),
)
const event = mostly(
  fc.record(
    {
      id: mostly(
        fc.constant(null).map(() => randomUUID()),
        fc.string({ maxLength: 40 }),
      ),
      type: eventType,
      data: jsonish,
      metadata: jsonish,
    },
    { requiredKeys: ['type', 'data'] },
  ),
)
const expectedVersion = mostly(
  fc.constantFrom('any', 'any', 'any', 'no_stream', 'stream_exists'),
  fc.constantFrom('none', 'ANY'),
  fc.bigInt({ min: -3n, max: 12n }),
  fc.integer({ min: -3, max: 12 }),
)
const position = mostly(
  fc.bigInt({ min: 0n, max: 10_000n }),
  fc.bigInt({ min: -3n, max: -1n }),
  fc.integer({ min: -3, max: 100 }),
)
const limit = mostly(fc.integer({ min: 1, max: 500 }), fc.integer({ min: -3, max: 0 }), position)
const filter = mostly(
  fc.record(
    {
      eventTypes: mostly(fc.array(eventType, { maxLength: 3 })),
      category: mostly(fc.constantFrom('fz', 'other'), fc.string({ maxLength: 8 })),
      streamIdPrefix: mostly(fc.constantFrom('fz-', ''), fc.string({ maxLength: 8 })),
    },
    { requiredKeys: [] },
  ),
)
/** An options object: known keys with random values, sometimes an unknown key. */
const options = <T extends Record<string, fc.Arbitrary<unknown>>>(known: T) =>
  mostly(
    fc.oneof(fc.constant(undefined), fc.record(known, { requiredKeys: [] })),
    fc
      .tuple(
        fc.record(known, { requiredKeys: [] }),
        fc.string({ minLength: 1, maxLength: 8 }),
        hostile,
      )
      .map(([o, k, v]) => ({ ...o, [k]: v })),
  )

/** What a typed error must say: its own field values, or the argument/option name. */
function namesTheValue(error: StrataError): boolean {
  const e = error as StrataError & Record<string, unknown>
  const names = [e.argument, e.option, e.streamId, e.eventType, e.eventId].filter(
    (v): v is string => typeof v === 'string',
  )
  if (names.length === 0) return error.message.length > 0
  // Messages quote values as JSON strings (a `"` or a control character is escaped).
  return names.some((n) => {
    const head = n.length > 60 ? n.slice(0, 60) : n
    return error.message.includes(head) || error.message.includes(JSON.stringify(head).slice(1, -1))
  })
}

const refusals = new Map<string, number>()

/** Runs a call: it succeeds, or throws a typed strata error naming the value. */
async function call<T>(
  what: string,
  run: () => T | Promise<T>,
): Promise<{ ok: true; value: T } | { ok: false }> {
  let error: unknown
  try {
    return { ok: true, value: await run() }
  } catch (e) {
    error = e
  }
  if (!isStrataError(error)) {
    throw new Error(`${what} threw something other than a strata error: ${String(error)}`, {
      cause: error,
    })
  }
  if (!namesTheValue(error))
    throw new Error(`${what}: ${error.name} does not name the value: ${error.message}`)
  refusals.set(error.name, (refusals.get(error.name) ?? 0) + 1)
  return { ok: false }
}

interface SentEvent {
  type: string
  data: unknown
  metadata?: unknown
  id?: string
}

/** Events of the appends that succeeded, in call order: what the database must hold. */
const appended: Array<SentEvent & { streamId: string }> = []

/** What an event reads back as: jsonb keeps JSON, not JavaScript; no metadata (or null) is {}. */
const asStored = (e: { type: string; data: unknown; metadata?: unknown }) => ({
  type: e.type,
  data: JSON.parse(JSON.stringify(e.data)) as unknown,
  metadata: e.metadata == null ? {} : (JSON.parse(JSON.stringify(e.metadata)) as unknown),
})

const succeeded = { appendToStream: 0, appendToStreams: 0 }

const eventList = mostly(fc.array(event, { minLength: 1, maxLength: 3 }), fc.constant([]))

describe('fuzzing the public API', () => {
  it('appendToStream and appendToStreams: every call succeeds or is refused with a typed error; the log holds exactly the successes', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          {
            weight: 3,
            arbitrary: fc.record({
              kind: fc.constant('one' as const),
              streamId,
              events: eventList,
              options: options({ expectedVersion }),
            }),
          },
          {
            weight: 1,
            arbitrary: fc.record({
              kind: fc.constant('many' as const),
              appends: mostly(
                fc.array(
                  mostly(
                    fc.record(
                      { streamId, events: eventList, expectedVersion },
                      { requiredKeys: ['streamId', 'events'] },
                    ),
                  ),
                  { minLength: 1, maxLength: 3 },
                ),
              ),
              options: options({}),
            }),
          },
        ),
        async (command) => {
          if (command.kind === 'one') {
            const result = await call('appendToStream', () =>
              store.appendToStream(
                command.streamId as string,
                command.events as never,
                command.options as never,
              ),
            )
            if (result.ok) succeeded.appendToStream++
            if (result.ok)
              for (const e of command.events as SentEvent[])
                appended.push({ ...e, streamId: command.streamId as string })
          } else {
            const result = await call('appendToStreams', () =>
              store.appendToStreams(command.appends as never, command.options as never),
            )
            if (result.ok) succeeded.appendToStreams++
            if (result.ok)
              for (const a of command.appends as Array<{ streamId: string; events: SentEvent[] }>)
                for (const e of a.events) appended.push({ ...e, streamId: a.streamId })
          }
        },
      ),
      { numRuns: 300 },
    )
    const all = []
    for (let after = 0n; ;) {
      const page = await store.readAll({ after, limit: 1000 })
      all.push(...page.events)
      if (page.isEnd) break
      after = page.lastPosition
    }
    // The same events, stream by stream in the same order (one appendToStreams call may order
    // its streams' events in $all as it likes; calls are sequential, so streams cannot).
    expect(all.length).toBe(appended.length)
    const streams = [...new Set(appended.map((a) => a.streamId))]
    for (const stream of streams)
      expect(all.filter((e) => e.streamId === stream).map(asStored)).toEqual(
        appended.filter((a) => a.streamId === stream).map(asStored),
      )
    const byId = new Map(all.map((e) => [e.id, e]))
    for (const a of appended)
      if (typeof a.id === 'string') expect(byId.get(a.id)?.streamId).toBe(a.streamId)
    console.log(
      `[fuzz] ${appended.length} events appended to ${streams.length} streams by ${JSON.stringify(succeeded)} calls; refusals ${JSON.stringify(Object.fromEntries(refusals))}`,
    )
    expect(succeeded.appendToStream).toBeGreaterThan(20)
    expect(succeeded.appendToStreams).toBeGreaterThan(2)
    expect(refusals.size).toBeGreaterThan(3)
  })

  it('reads, subscriptions, consumer groups and stores with random arguments write nothing and fail typed', async () => {
    const before = await store.headPosition()
    await fc.assert(
      fc.asyncProperty(
        streamId,
        options({
          from: position,
          direction: fc.oneof(fc.constantFrom('forward', 'backward'), hostile),
          limit,
        }),
        async (id, opts) => {
          await call('readStream', () => store.readStream(id as string, opts as never))
          await call('getStreamInfo', () => store.getStreamInfo(id as string))
        },
      ),
      { numRuns: 100 },
    )
    await fc.assert(
      fc.asyncProperty(
        options({
          after: position,
          limit,
          filter,
          maxWaitMs: fc.integer({ min: -5, max: 50 }),
        }),
        async (opts) => {
          await call('readAll', () => store.readAll(opts as never))
        },
      ),
      { numRuns: 100 },
    )
    await fc.assert(
      fc.asyncProperty(
        options({
          from: fc.oneof(position, fc.constantFrom('start', 'end')),
          filter,
          pageSize: limit,
          pollIntervalMs: position,
        }),
        async (opts) => {
          await call('subscribeToAll', () =>
            firstValueFrom(
              race(
                store.subscribeToAll(opts as never).pipe(map(() => 'event')),
                timer(100).pipe(map(() => 'quiet')),
              ),
            ),
          )
        },
      ),
      { numRuns: 40 },
    )
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(fc.string({ minLength: 1, maxLength: 12 }), hostile),
        options({
          source: fc.oneof(fc.constant('all'), filter),
          startFrom: fc.oneof(position, fc.constantFrom('start', 'end')),
          windowSize: position,
          strategy: fc.oneof(fc.constantFrom('round-robin', 'per-stream'), hostile),
        }),
        async (name, opts) => {
          await call('consumerGroup', async () => {
            const group = store.consumerGroup(name as string, opts as never)
            return group.status()
          })
        },
      ),
      { numRuns: 60 },
    )
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(fc.constantFrom('strata', 'fz_other'), fc.string({ maxLength: 70 }), hostile),
        async (schema) => {
          await call('createEventStore', async () => {
            const other = createEventStore(
              { connectionString: db.url },
              { schema: schema as string },
            )
            try {
              return await other.readAll({ limit: 1 })
            } finally {
              await other.close()
            }
          })
        },
      ),
      { numRuns: 40 },
    )
    expect(await store.headPosition()).toBe(before)
    console.log(`[fuzz] all refusals ${JSON.stringify(Object.fromEntries(refusals))}`)
    // Expected-version conflicts are refusals too, and name the stream.
    const conflict = await store
      .appendToStream('fz-a', [{ type: 'Changed', data: {} }], { expectedVersion: 999n })
      .catch((e: unknown) => e)
    expect(conflict).toBeInstanceOf(WrongExpectedVersionError)
  })
})
