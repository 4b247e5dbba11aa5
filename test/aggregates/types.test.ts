import { describe, expectTypeOf, it } from 'vitest'
import { z } from 'zod'
import {
  defineAggregate,
  type AggregateEvent,
  type CommandOf,
  type Decision,
  type EventMetadata,
  type EventStore,
  type HandleResult,
  type LoadResult,
  type StateOf,
} from '../../src/index.js'
import { bankAccount, type AccountState } from './fixtures.js'

// Compile-time checks (npm run typecheck): the types carry the contract.
describe('aggregate types', () => {
  it('types state, commands and results from the registries', () => {
    const account = bankAccount()
    expectTypeOf(account.category).toEqualTypeOf<string>()
    expectTypeOf<StateOf<typeof account>>().toEqualTypeOf<AccountState>()
    expectTypeOf<CommandOf<typeof account>>().toEqualTypeOf<
      | {
          readonly type: 'Open'
          readonly data: { owner: string; overdraftLimit?: number | undefined }
          readonly metadata?: EventMetadata
        }
      | {
          readonly type: 'Deposit'
          readonly data: { amount: number }
          readonly metadata?: EventMetadata
        }
      | {
          readonly type: 'Withdraw'
          readonly data: { amount: number }
          readonly metadata?: EventMetadata
        }
      | {
          readonly type: 'Close'
          readonly data?: { reason?: string | undefined } | undefined
          readonly metadata?: EventMetadata
        }
    >()
    expectTypeOf<HandleResult<typeof account>['state']>().toEqualTypeOf<AccountState>()
    expectTypeOf<LoadResult<typeof account>['version']>().toEqualTypeOf<bigint>()
    type Appended = HandleResult<typeof account>['events'][number]
    expectTypeOf<Extract<Appended, { type: 'MoneyDeposited' }>['data']>().toEqualTypeOf<{
      amount: number
    }>()
    expectTypeOf<Extract<Appended, { type: 'AccountClosed' }>['data']>().toEqualTypeOf<{
      reason: string
    }>()
  })

  it('gives evolve the zod output of each event and decide the zod output of each command', () => {
    defineAggregate({
      category: 'typed',
      events: {
        Priced: z.object({ cents: z.number().int(), currency: z.string().default('EUR') }),
      },
      commands: { Price: z.object({ cents: z.coerce.number() }) },
      initialState: { total: 0 },
      evolve(state, event) {
        expectTypeOf(event.type).toEqualTypeOf<'Priced'>()
        expectTypeOf(event.data).toEqualTypeOf<{ cents: number; currency: string }>()
        return { total: state.total + event.data.cents }
      },
      decide(command) {
        expectTypeOf(command.data).toEqualTypeOf<{ cents: number }>()
        // Decided events take the zod input: `currency` may be left to its default.
        return [{ type: 'Priced', data: { cents: command.data.cents } }]
      },
    })
  })

  it('refuses commands and events the registries do not allow', () => {
    const account = bankAccount()
    const store = null as unknown as EventStore
    const typeChecksOnly = () => {
      // @ts-expect-error unknown command type
      void store.handle(account, 'x', { type: 'Launch', data: {} })
      // @ts-expect-error amount must be a number
      void store.handle(account, 'x', { type: 'Deposit', data: { amount: '1' } })
      defineAggregate({
        category: 'bad',
        events: { A: z.object({ n: z.number() }) },
        commands: { Do: z.object({}) },
        initialState: 0,
        evolve: (s: number) => s,
        // @ts-expect-error B is not an event type of the registry
        decide: () => [{ type: 'B', data: { n: 1 } }],
      })
    }
    void typeChecksOnly
  })

  // docs/aggregates.md, "Types": the state is typed once, where it is defined; evolve and decide
  // annotate their return types where literals must survive.
  it('types the state from initialState alone, whatever evolve returns', () => {
    type OrderStatus = 'new' | 'placed' | 'shipped'
    interface OrderState {
      readonly status: OrderStatus
      readonly total: number
    }
    const initialOrder: OrderState = { status: 'new', total: 0 }
    const orderEvents = {
      OrderPlaced: z.object({ total: z.number(), currency: z.enum(['EUR', 'USD']) }),
      OrderShipped: z.object({ carrier: z.string() }),
    }
    const _order = defineAggregate({
      category: 'order',
      events: orderEvents,
      commands: { Place: z.object({ total: z.number() }), Ship: z.object({ carrier: z.string() }) },
      initialState: initialOrder,
      evolve(state, event): OrderState {
        expectTypeOf(state).toEqualTypeOf<OrderState>()
        switch (event.type) {
          case 'OrderPlaced':
            return { ...state, status: 'placed', total: event.data.total }
          case 'OrderShipped':
            return { ...state, status: 'shipped' }
        }
      },
      decide(command, state): Decision<typeof orderEvents> {
        expectTypeOf(state.status).toEqualTypeOf<OrderStatus>()
        if (command.type === 'Place') {
          // An enum literal survives only because the return type is annotated.
          return { type: 'OrderPlaced', data: { total: command.data.total, currency: 'EUR' } }
        }
        return [{ type: 'OrderShipped', data: { carrier: command.data.carrier } }]
      },
    })
    expectTypeOf<StateOf<typeof _order>>().toEqualTypeOf<OrderState>()

    // An evolve whose parameters are both annotated and whose result is wider than the state
    // (status: string) does not widen the state: it comes from initialState.
    const _widened = defineAggregate({
      category: 'order',
      events: orderEvents,
      initialState: initialOrder,
      evolve(state: OrderState, event: AggregateEvent<typeof orderEvents>) {
        return event.type === 'OrderPlaced' ? { ...state, status: 'placed' as const } : state
      },
      decide: () => [],
    })
    expectTypeOf<StateOf<typeof _widened>>().toEqualTypeOf<OrderState>()

    const typeChecksOnly = () => {
      defineAggregate({
        category: 'order',
        events: orderEvents,
        initialState: initialOrder,
        // @ts-expect-error without the annotation, TypeScript widens 'placed' to string
        evolve: (state) => ({ ...state, status: 'placed' }),
        decide: () => [],
      })
      defineAggregate({
        category: 'order',
        events: orderEvents,
        initialState: initialOrder,
        evolve: (state): OrderState => state,
        // @ts-expect-error without the annotation, TypeScript widens 'EUR' to string
        decide: () => [{ type: 'OrderPlaced', data: { total: 1, currency: 'EUR' } }],
      })
    }
    void typeChecksOnly
  })
})
