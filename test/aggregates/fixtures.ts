import { z } from 'zod'
import {
  defineAggregate,
  defineEvent,
  type SnapshotOptions,
  type SnapshotPolicy,
} from '../../src/index.js'

/** A refused command of the bank account: domain errors pass through handle unchanged. */
export class AccountError extends Error {
  constructor(
    readonly reason: 'not-open' | 'already-open' | 'overdraft' | 'closed',
    message: string,
  ) {
    super(message)
    this.name = 'AccountError'
  }
}

export const accountEvents = {
  AccountOpened: z.object({ owner: z.string().min(1), overdraftLimit: z.number().int().min(0) }),
  MoneyDeposited: z.object({ amount: z.number().int().positive() }),
  MoneyWithdrawn: z.object({ amount: z.number().int().positive() }),
  AccountClosed: z.object({ reason: z.string().default('closed by owner') }),
}

export const accountCommands = {
  Open: z.object({ owner: z.string().min(1), overdraftLimit: z.number().int().min(0).default(0) }),
  Deposit: z.object({ amount: z.number().int().positive() }),
  Withdraw: z.object({ amount: z.number().int().positive() }),
  Close: z.object({ reason: z.string().optional() }).optional(),
}

export interface AccountState {
  readonly status: 'new' | 'open' | 'closed'
  readonly owner: string | null
  readonly balance: number
  readonly overdraftLimit: number
  readonly movements: number
}

export const initialAccount: AccountState = {
  status: 'new',
  owner: null,
  balance: 0,
  overdraftLimit: 0,
  movements: 0,
}

/** The bank account decider, with optional snapshots. */
export function bankAccount(
  snapshots?: SnapshotOptions<AccountState>,
  name?: string,
  onDecide?: () => void,
) {
  return defineAggregate({
    category: 'account',
    ...(name === undefined ? {} : { name }),
    events: accountEvents,
    commands: accountCommands,
    initialState: initialAccount,
    ...(snapshots === undefined ? {} : { snapshots }),
    evolve(state, event): AccountState {
      switch (event.type) {
        case 'AccountOpened':
          return {
            ...state,
            status: 'open',
            owner: event.data.owner,
            overdraftLimit: event.data.overdraftLimit,
          }
        case 'MoneyDeposited':
          return {
            ...state,
            balance: state.balance + event.data.amount,
            movements: state.movements + 1,
          }
        case 'MoneyWithdrawn':
          return {
            ...state,
            balance: state.balance - event.data.amount,
            movements: state.movements + 1,
          }
        case 'AccountClosed':
          return { ...state, status: 'closed' }
      }
    },
    decide(command, state) {
      onDecide?.()
      if (command.type === 'Open') {
        if (state.status !== 'new') throw new AccountError('already-open', 'account already open')
        return [{ type: 'AccountOpened', data: command.data }]
      }
      if (state.status === 'new') throw new AccountError('not-open', 'account not open')
      if (state.status === 'closed') throw new AccountError('closed', 'account closed')
      switch (command.type) {
        case 'Deposit':
          return { type: 'MoneyDeposited', data: { amount: command.data.amount } }
        case 'Withdraw':
          if (state.balance - command.data.amount < -state.overdraftLimit) {
            throw new AccountError(
              'overdraft',
              `withdrawing ${command.data.amount} exceeds the overdraft limit`,
            )
          }
          return [{ type: 'MoneyWithdrawn', data: { amount: command.data.amount } }]
        case 'Close':
          return [{ type: 'AccountClosed', data: { reason: command.data?.reason } }]
      }
    },
  })
}

export const counterEvents = { Incremented: z.object({ by: z.number().int() }) }

/** A counter: every Increment command appends one event, so the stream length counts successes. */
export function counter(
  options: {
    maxRetries?: number
    snapshots?: SnapshotPolicy<{ total: number; count: number }>
  } = {},
) {
  return defineAggregate({
    category: 'counter',
    events: counterEvents,
    commands: { Increment: z.object({ by: z.number().int().default(1) }) },
    initialState: () => ({ total: 0, count: 0 }),
    evolve: (state, event) => ({ total: state.total + event.data.by, count: state.count + 1 }),
    decide: (command) => [{ type: 'Incremented', data: { by: command.data.by } }],
    ...options,
  })
}

/** Event v1 -> v2 -> v3 of a deposit, for the upcasting tests. */
export const DepositedV1 = z.object({ amount: z.number() })
export const DepositedV2 = z.object({ amount: z.number(), currency: z.string() })
export const DepositedV3 = z.object({
  cents: z.number().int(),
  currency: z.string(),
  note: z.string().default(''),
})

export const depositedV3 = defineEvent(DepositedV1)
  .nextVersion(DepositedV2, (v1) => ({ ...v1, currency: 'EUR' }))
  .nextVersion(DepositedV3, (v2) => ({ cents: Math.round(v2.amount * 100), currency: v2.currency }))
