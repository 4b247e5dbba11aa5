import { describe, expectTypeOf, it } from 'vitest'
import { z } from 'zod'
import type { EventStore, RecordedEvent } from '../../src/index.js'

const _events = {
  Deposited: z.object({ amount: z.number() }),
  Withdrawn: z.object({ amount: z.number(), reason: z.string() }),
  Closed: z.object({}),
}
type Store = EventStore<typeof _events>
type Deposited = RecordedEvent<'Deposited', { amount: number }>
type Withdrawn = RecordedEvent<'Withdrawn', { amount: number; reason: string }>
type Closed = RecordedEvent<'Closed', Record<string, never>>

// Compile-time checks (npm run typecheck): a filter by event types narrows what is delivered.
// The functions are never called; only their types are checked.
describe('event types narrowed by filters', () => {
  it('a consumer group filtered by event types hands its handler only those types', () => {
    const check = (store: Store) => {
      store.consumerGroup('mail', { source: { eventTypes: ['Deposited'] } }).consume((event) => {
        expectTypeOf(event.type).toEqualTypeOf<'Deposited'>()
        expectTypeOf(event.data).toEqualTypeOf<{ amount: number }>()
      })
      store
        .consumerGroup('two', {
          source: { category: 'account', eventTypes: ['Deposited', 'Closed'] },
        })
        .consume((event) => {
          expectTypeOf(event.type).toEqualTypeOf<'Deposited' | 'Closed'>()
        })
      store.consumerGroup('every', { source: 'all' }).consume((event) => {
        expectTypeOf(event.type).toEqualTypeOf<'Deposited' | 'Withdrawn' | 'Closed'>()
      })
      store.consumerGroup('cat', { source: { category: 'account' } }).consume((event) => {
        expectTypeOf(event).toEqualTypeOf<Deposited | Withdrawn | Closed>()
      })
      // @ts-expect-error: not an event type of the registry
      store.consumerGroup('typo', { source: { eventTypes: ['Deposit'] } })
    }
    expectTypeOf(check).toBeFunction()
  })

  it('reads and subscriptions filtered by event types are narrowed too', () => {
    const check = async (store: Store) => {
      const page = await store.readAll({ filter: { eventTypes: ['Withdrawn'] } })
      expectTypeOf(page.events).items.toEqualTypeOf<Withdrawn>()
      store.subscribeToAll({ filter: { eventTypes: ['Closed'] } }).subscribe((event) => {
        expectTypeOf(event).toEqualTypeOf<Closed>()
      })
      store.subscribeToCategory('account', { eventTypes: ['Deposited'] }).subscribe((event) => {
        expectTypeOf(event.data.amount).toEqualTypeOf<number>()
      })
      const all = await store.readAll()
      expectTypeOf(all.events).items.toEqualTypeOf<Deposited | Withdrawn | Closed>()
    }
    expectTypeOf(check).toBeFunction()
  })

  it('an open store or one without a registry does not narrow', () => {
    const check = (store: EventStore) => {
      store.consumerGroup('any', { source: { eventTypes: ['X'] } }).consume((event) => {
        expectTypeOf(event).toEqualTypeOf<RecordedEvent>()
      })
    }
    expectTypeOf(check).toBeFunction()
  })
})
