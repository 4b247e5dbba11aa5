import { describe, expectTypeOf, it } from 'vitest'
import { z } from 'zod'
import {
  defineAggregate,
  type CommandOf,
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
})
