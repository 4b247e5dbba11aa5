import { describe, it } from 'vitest'
import { CommandValidationError } from 'pg-strata'
import { specFor } from 'pg-strata/testing'
import { AccountError, bankAccount } from './fixtures.js'

// The bank account's business rules, specified without a database.
const given = specFor(bankAccount())
const opened = (overdraftLimit = 0) =>
  ({ type: 'AccountOpened', data: { owner: 'Ada', overdraftLimit } }) as const
const deposited = (amount: number) => ({ type: 'MoneyDeposited', data: { amount } }) as const

describe('bank account decider', () => {
  it('opens a new account, with no overdraft unless asked', () =>
    given()
      .when({ type: 'Open', data: { owner: 'Ada' } })
      .then([opened()]))

  it('refuses to open an account twice', () =>
    given([opened()])
      .when({ type: 'Open', data: { owner: 'Bob' } })
      .then(AccountError))

  it('refuses deposits before the account is open', () =>
    given()
      .when({ type: 'Deposit', data: { amount: 5 } })
      .then((e) => e instanceof AccountError && e.reason === 'not-open'))

  it('accepts a withdrawal within balance plus overdraft', () =>
    given([opened(50), deposited(20)])
      .when({ type: 'Withdraw', data: { amount: 70 } })
      .then([{ type: 'MoneyWithdrawn', data: { amount: 70 } }]))

  it('refuses a withdrawal beyond the overdraft limit', () =>
    given([opened(50), deposited(20)])
      .when({ type: 'Withdraw', data: { amount: 71 } })
      .then(/exceeds the overdraft limit/))

  it('refuses deposits on a closed account', () =>
    given([opened(), { type: 'AccountClosed', data: { reason: 'moved' } }])
      .when({ type: 'Deposit', data: { amount: 1 } })
      .then((e) => e instanceof AccountError && e.reason === 'closed'))

  it('refuses invalid amounts before deciding', () =>
    given([opened()])
      .when({ type: 'Deposit', data: { amount: 0 } })
      .then(CommandValidationError))
})
