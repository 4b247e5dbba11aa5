import { beforeAll, describe, expect, it } from 'vitest'
import { z } from 'zod'
import {
  createEventStore,
  defineAggregate,
  defineEvent,
  defineProjection,
  isStrataError,
  startConsole,
  type EventStore,
} from '../../src/index.js'
import { aStreamId } from '../support/factories.js'
import { useTestDatabase } from '../support/test-database.js'

const db = useTestDatabase()
let store: EventStore

beforeAll(async () => {
  store = await db.store()
})

/** Calls `call`, sync or async, and returns what it threw. */
async function thrown(call: () => unknown): Promise<unknown> {
  try {
    await call()
  } catch (error) {
    return error
  }
  return undefined
}

const counter = () =>
  defineAggregate({
    category: 'counter',
    initialState: 0,
    evolve: (n: number) => n + 1,
    decide: () => [{ type: 'Counted', data: {} }],
  })

// Every options object of the public API, each given one misspelt key. The call is refused with
// a typed error naming the key, before anything is written.
const cases: Array<[string, string, () => unknown]> = [
  [
    'createEventStore options',
    'shcema',
    () => createEventStore({ connectionString: db.url }, { shcema: 'x' } as never),
  ],
  [
    'createEventStore connection',
    'connectionStrin',
    () => createEventStore({ connectionStrin: db.url } as never),
  ],
  ['migrate', 'dryrun', () => store.migrate({ dryrun: true } as never)],
  [
    'appendToStream options',
    'expectedVersoin',
    () =>
      store.appendToStream(aStreamId(), [{ type: 'A', data: {} }], {
        expectedVersoin: 0n,
      } as never),
  ],
  [
    'an event',
    'metdata',
    () => store.appendToStream(aStreamId(), [{ type: 'A', data: {}, metdata: {} } as never]),
  ],
  [
    'appendToStreams entry',
    'expectedVerison',
    () =>
      store.appendToStreams([
        { streamId: aStreamId(), events: [{ type: 'A', data: {} }], expectedVerison: 0n } as never,
      ]),
  ],
  ['readStream', 'form', () => store.readStream(aStreamId(), { form: 1n } as never)],
  ['readAll', 'limt', () => store.readAll({ limt: 1 } as never)],
  ['readAll filter', 'eventType', () => store.readAll({ filter: { eventType: ['A'] } } as never)],
  [
    'setStreamMetadata',
    'maxCuont',
    () => store.setStreamMetadata(aStreamId(), { maxCuont: 1 } as never),
  ],
  [
    'deleteStream',
    'expectedVersoin',
    () => store.deleteStream(aStreamId(), { expectedVersoin: 0n } as never),
  ],
  ['scavenge', 'dryrun', () => store.scavenge({ dryrun: true } as never)],
  ['subscribeToAll', 'pagesize', () => store.subscribeToAll({ pagesize: 10 } as never)],
  [
    'subscribeToCategory',
    'evenTypes',
    () => store.subscribeToCategory('c', { evenTypes: ['A'] } as never),
  ],
  [
    'subscribeToStream',
    'form',
    () => store.subscribeToStream(aStreamId(), { form: 'start' } as never),
  ],
  [
    'defineProjection',
    'handler',
    () =>
      defineProjection({
        name: 'p',
        version: 1,
        handlers: { A: () => undefined },
        handler: 1,
      } as never),
  ],
  [
    'runProjection',
    'batchsize',
    () =>
      store.runProjection(
        defineProjection({ name: 'p', version: 1, handlers: { A: () => undefined } }),
        { batchsize: 1 } as never,
      ),
  ],
  [
    'defineAggregate',
    'evolv',
    () =>
      defineAggregate({
        category: 'c',
        initialState: 0,
        evolve: (n: number) => n,
        decide: () => [],
        evolv: 1,
      } as never),
  ],
  [
    'handle options',
    'expectedVersoin',
    () =>
      store.handle(counter(), '1', { type: 'Count', data: {} }, { expectedVersoin: 0n } as never),
  ],
  ['load options', 'asof', () => store.load(counter(), '1', { asof: new Date() } as never)],
  ['defineEvent', 'versoin', () => defineEvent(z.object({}), { versoin: 2 } as never)],
  [
    'consumerGroup',
    'maxAttempt',
    () => store.consumerGroup('g', { source: 'all', maxAttempt: 1 } as never),
  ],
  ['queue', 'leaseMS', () => store.queue('q', { leaseMS: 1 } as never)],
  ['relay', 'subjectPrefx', () => store.relay({ name: 'r', subjectPrefx: 'x' } as never)],
  ['startConsole', 'prot', () => startConsole(store, { prot: 1 } as never)],
]

describe('unknown option keys', () => {
  it.each(cases)('%s: %s is refused with a typed error naming it', async (_where, key, call) => {
    const before = await store.headPosition()
    const error = await thrown(call)
    expect(isStrataError(error), String(error)).toBe(true)
    expect((error as Error).message).toContain(key)
    expect(await store.headPosition()).toBe(before)
  })

  it('suggest the key that was meant', async () => {
    const error = await thrown(() => store.readAll({ limt: 1 } as never))
    expect((error as Error).message).toMatch(/did you mean limit\?/)
  })
})
