import { randomUUID } from 'node:crypto'
import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { defineAggregate, type EventStore, type SnapshotOptions } from '../../src/index.js'
import { useTestDatabase } from '../support/test-database.js'

const db = useTestDatabase()

const events = {
  Credited: z.object({ key: z.string(), amount: z.number().int() }),
  Debited: z.object({ key: z.string(), amount: z.number().int() }),
  Stamped: z.object({ at: z.number().int() }),
}
type Event =
  | { type: 'Credited'; data: { key: string; amount: number } }
  | { type: 'Debited'; data: { key: string; amount: number } }
  | { type: 'Stamped'; data: { at: number } }

let store: EventStore<typeof events>

beforeAll(async () => {
  store = await db.store({ events })
})

/** A state with the types JSON loses: bigint, Map, Date, undefined. */
interface Ledger {
  total: bigint
  balances: Map<string, bigint>
  lastStamp: Date | undefined
  moves: number
}

const initial = (): Ledger => ({ total: 0n, balances: new Map(), lastStamp: undefined, moves: 0 })

function evolve(state: Ledger, event: { type: string; data: unknown }): Ledger {
  const e = event as Event
  switch (e.type) {
    case 'Stamped':
      return { ...state, lastStamp: new Date(e.data.at) }
    case 'Credited':
    case 'Debited': {
      const sign = e.type === 'Credited' ? 1n : -1n
      const balances = new Map(state.balances)
      balances.set(e.data.key, (balances.get(e.data.key) ?? 0n) + sign * BigInt(e.data.amount))
      // Order-sensitive on purpose: a fold that skipped or repeated an event would show.
      return {
        ...state,
        total: state.total * 3n + sign * BigInt(e.data.amount),
        balances,
        moves: state.moves + 1,
      }
    }
  }
}

function ledger(snapshots?: SnapshotOptions<Ledger>) {
  return defineAggregate({
    category: 'ledger',
    events,
    commands: { Record: z.object({ events: z.array(z.any()) }) },
    initialState: initial,
    ...(snapshots === undefined ? {} : { snapshots }),
    evolve,
    decide: (command) => command.data.events as Event[],
  })
}

const plain = ledger()

const eventArb: fc.Arbitrary<Event> = fc.oneof(
  fc.record({
    type: fc.constant('Credited' as const),
    data: fc.record({
      key: fc.constantFrom('a', 'b', 'c'),
      amount: fc.integer({ min: 0, max: 1000 }),
    }),
  }),
  fc.record({
    type: fc.constant('Debited' as const),
    data: fc.record({
      key: fc.constantFrom('a', 'b', 'c'),
      amount: fc.integer({ min: 0, max: 1000 }),
    }),
  }),
  fc.record({
    type: fc.constant('Stamped' as const),
    data: fc.record({ at: fc.integer({ min: 0, max: 4_000_000_000_000 }) }),
  }),
)

/** One step: append a batch through handle (snapshots per policy) or directly, or just load. */
const stepArb = fc.oneof(
  fc.record({
    kind: fc.constant('handle' as const),
    events: fc.array(eventArb, { minLength: 1, maxLength: 4 }),
  }),
  fc.record({
    kind: fc.constant('append' as const),
    events: fc.array(eventArb, { minLength: 1, maxLength: 4 }),
  }),
  fc.record({ kind: fc.constant('load' as const) }),
)

/** A snapshot policy: every N, a function of the version, or a function of the state. */
const policyArb: fc.Arbitrary<{ label: string; options: SnapshotOptions<Ledger> }> = fc
  .record({
    rule: fc.oneof(
      fc.integer({ min: 1, max: 6 }).map((n) => ({ label: `every ${n}`, every: n })),
      fc.integer({ min: 2, max: 5 }).map((k) => ({
        label: `version % ${k} == 0`,
        when: (_: Ledger, version: bigint) => version % BigInt(k) === 0n,
      })),
      fc.constant({ label: 'moves odd', when: (state: Ledger) => state.moves % 2 === 1 }),
    ),
    keep: fc.integer({ min: 1, max: 3 }),
    version: fc.constantFrom(1, 2),
    writeOnLoad: fc.boolean(),
  })
  .map(({ rule, keep, version, writeOnLoad }) => {
    const { label, ...policy } = rule
    return {
      label: `${label}, keep ${keep}, v${version}, writeOnLoad ${writeOnLoad}`,
      options: { ...policy, keep, version, writeOnLoad },
    }
  })

describe('snapshots change speed, never results', () => {
  it('snapshot + tail equals a full replay, now and at every past version, for random histories and policies', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(stepArb, { minLength: 1, maxLength: 10 }),
        // Each step may run under a different policy (a redeploy), snapshot versions included.
        fc.array(policyArb, { minLength: 1, maxLength: 3 }),
        async (steps, policies) => {
          const id = randomUUID()
          const aggregates = policies.map((p) => ledger(p.options))
          const history: Event[] = []
          for (const [i, step] of steps.entries()) {
            const aggregate = aggregates[i % aggregates.length]!
            if (step.kind === 'handle') {
              const result = await store.handle(aggregate, id, {
                type: 'Record',
                data: { events: step.events },
              })
              history.push(...step.events)
              expect(result.state).toStrictEqual(history.reduce(evolve, initial()))
            } else if (step.kind === 'append') {
              await store.appendToStream(`ledger-${id}`, step.events)
              history.push(...step.events)
            } else {
              const loaded = await store.load(aggregate, id)
              expect(loaded.state).toStrictEqual(history.reduce(evolve, initial()))
            }
          }
          for (const aggregate of [...aggregates, plain]) {
            const now = await store.load(aggregate, id)
            expect(now.state).toStrictEqual(history.reduce(evolve, initial()))
            expect(now.version).toBe(BigInt(history.length))
            for (let v = 0; v <= history.length; v++) {
              const past = await store.load(aggregate, id, { asOfVersion: BigInt(v) })
              expect(past.state).toStrictEqual(history.slice(0, v).reduce(evolve, initial()))
              expect(past.version).toBe(BigInt(v))
              if (past.fromSnapshotAt !== null)
                expect(past.fromSnapshotAt).toBeLessThanOrEqual(BigInt(v))
            }
          }
        },
      ),
      { numRuns: 25 },
    )
  })
})
