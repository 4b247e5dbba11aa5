import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import {
  CommandValidationError,
  defineAggregate,
  EventValidationError,
  InvalidArgumentError,
} from 'pg-strata'
import { given, specFor, SpecAssertionError } from 'pg-strata/testing'
import { AccountError, bankAccount, depositedV3 } from '../aggregates/fixtures.js'

const account = bankAccount()
const spec = specFor(account)
const opened = { type: 'AccountOpened', data: { owner: 'Ada', overdraftLimit: 0 } } as const

describe('given/when/then', () => {
  it('passes when decide returns the expected events, and returns the outcome', async () => {
    const outcome = await spec([opened])
      .when({ type: 'Deposit', data: { amount: 5 } })
      .then([{ type: 'MoneyDeposited', data: { amount: 5 } }])
    expect(outcome.events).toEqual([{ type: 'MoneyDeposited', data: { amount: 5 }, metadata: {} }])
    expect(outcome.state.balance).toBe(5)
  })

  it('accepts a single expected event, [] for none, and given(aggregate, events)', async () => {
    await given(account, [opened])
      .when({ type: 'Withdraw', data: { amount: 0.5 } } as never)
      .then(CommandValidationError)
    await spec()
      .when({ type: 'Open', data: { owner: 'Bo' } })
      .then({
        type: 'AccountOpened',
        data: { owner: 'Bo', overdraftLimit: 0 },
      })
    const noop = defineAggregate({
      category: 'noop',
      commands: { Ping: z.object({}) },
      initialState: 0,
      evolve: (s: number) => s,
      decide: () => [],
    })
    await specFor(noop)().when({ type: 'Ping', data: {} }).then([])
    await specFor(noop).given([]).when({ type: 'Ping', data: {} }).then([])
  })

  it('compares events as stored: zod defaults applied on both sides, metadata only when expected', async () => {
    await spec([opened])
      .when({ type: 'Close' })
      .then([{ type: 'AccountClosed', data: {} }]) // reason defaults on both sides
    expect(() =>
      spec([opened])
        .when({ type: 'Close' })
        .then([{ type: 'AccountClosed', data: {}, metadata: { correlationId: 'x' } }]),
    ).toThrow(SpecAssertionError)
  })

  it('fails with a diffable SpecAssertionError naming the first difference', () => {
    let error: unknown
    try {
      // Not awaited on purpose: a synchronous decide fails synchronously.
      void spec([opened])
        .when({ type: 'Deposit', data: { amount: 5 } })
        .then([{ type: 'MoneyDeposited', data: { amount: 6 } }])
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(SpecAssertionError)
    const failure = error as SpecAssertionError
    expect(failure.message).toBe(
      'Expected [MoneyDeposited] but decide returned [MoneyDeposited] (first difference at index 0)',
    )
    expect(failure.showDiff).toBe(true)
    expect(failure.actual).toEqual([{ type: 'MoneyDeposited', data: { amount: 5 } }])
    expect(failure.expected).toEqual([{ type: 'MoneyDeposited', data: { amount: 6 } }])
  })

  it('fails when events were expected and the command threw, keeping the error as the cause', () => {
    const attempt = () =>
      spec()
        .when({ type: 'Deposit', data: { amount: 5 } })
        .then([{ type: 'MoneyDeposited', data: { amount: 5 } }])
    expect(attempt).toThrow(
      /Expected \[MoneyDeposited\] but the command failed: AccountError: account not open/,
    )
  })

  it('asserts errors by class, predicate or message pattern', async () => {
    const overdraft = spec([opened]).when({ type: 'Withdraw', data: { amount: 1 } })
    const error = await overdraft.then(AccountError)
    expect(error).toBeInstanceOf(AccountError)
    await overdraft.then((e) => e instanceof AccountError && e.reason === 'overdraft')
    await overdraft.then(/exceeds the overdraft limit/)
    await overdraft.thenThrows(Error)
    expect(() => overdraft.then(CommandValidationError)).toThrow(
      /Expected the command to fail with CommandValidationError but it failed with AccountError/,
    )
    expect(() =>
      spec([opened])
        .when({ type: 'Deposit', data: { amount: 1 } })
        .then(AccountError),
    ).toThrow(
      /Expected the command to fail with AccountError but decide returned \[MoneyDeposited\]/,
    )
  })

  it('runs the same validation as store.handle: commands and decided events', async () => {
    await spec([opened])
      .when({ type: 'Deposit', data: { amount: -1 } })
      .then(CommandValidationError)
    const sloppy = defineAggregate({
      ...({} as object),
      category: 'account',
      events: { MoneyDeposited: z.object({ amount: z.number().int() }) },
      commands: { Deposit: z.object({ amount: z.number() }) },
      initialState: 0,
      evolve: (s: number) => s,
      decide: (command) => [{ type: 'MoneyDeposited', data: { amount: command.data.amount } }],
    })
    await specFor(sloppy)()
      .when({ type: 'Deposit', data: { amount: 0.5 } })
      .then(EventValidationError)
  })

  it('supports asynchronous deciders', async () => {
    const slow = defineAggregate({
      category: 'slow',
      events: { Done: z.object({ n: z.number() }) },
      commands: { Do: z.object({ n: z.number() }) },
      initialState: 0,
      evolve: (s: number, e) => s + e.data.n,
      decide: async (command) => {
        await new Promise((resolve) => setImmediate(resolve))
        if (command.data.n < 0) throw new RangeError('negative')
        return [{ type: 'Done', data: { n: command.data.n } }]
      },
    })
    const outcome = await specFor(slow)([{ type: 'Done', data: { n: 1 } }])
      .when({ type: 'Do', data: { n: 2 } })
      .then([{ type: 'Done', data: { n: 2 } }])
    expect(outcome.state).toBe(3)
    await specFor(slow)()
      .when({ type: 'Do', data: { n: -1 } })
      .then(RangeError)
    await expect(
      specFor(slow)()
        .when({ type: 'Do', data: { n: 2 } })
        .then([]),
    ).rejects.toThrow(SpecAssertionError)
  })

  it('upcasts given events stored under an older schema version', async () => {
    const wallet = defineAggregate({
      category: 'wallet',
      events: { Deposited: depositedV3 },
      commands: { Check: z.object({}) },
      initialState: 0,
      evolve: (cents: number, event) => cents + event.data.cents,
      decide: () => [],
    })
    const outcome = await specFor(wallet)([
      { type: 'Deposited', data: { amount: 1.25 }, dataVersion: 1 },
      { type: 'Deposited', data: { amount: 2, currency: 'USD' }, dataVersion: 2 },
      { type: 'Deposited', data: { cents: 5, currency: 'EUR' } },
    ])
      .when({ type: 'Check', data: {} })
      .then([])
    expect(outcome.state).toBe(330)
  })

  it('refuses invalid given events at once, so they are never mistaken for the outcome', () => {
    expect(() => spec([{ type: 'MoneyDeposited', data: { amount: -1 } }])).toThrow(
      EventValidationError,
    )
    expect(() => spec([{ nope: true } as never])).toThrow(InvalidArgumentError)
    expect(() => specFor({} as never)).toThrow(InvalidArgumentError)
  })

  it('says so instead of hanging when the when-step is awaited by mistake', async () => {
    await expect(
      (async () => {
        // The type checker refuses this too (TS1320); the cast stands for untyped callers.
        await (spec([opened]).when({
          type: 'Deposit',
          data: { amount: 1 },
        }) as unknown as PromiseLike<unknown>)
      })(),
    ).rejects.toThrow(/is not a promise: call \.then\(expectedEvents \| ErrorClass\)/)
  })
})

describe('SpecAssertionError', () => {
  it('prints both values in runners that show no diff', () => {
    const vitest = process.env.VITEST
    delete process.env.VITEST
    try {
      const error = new SpecAssertionError('Expected x', [{ a: 1 }], [{ a: 2 }])
      expect(error.message).toBe('Expected x\n\nexpected: [ { a: 2 } ]\n  actual: [ { a: 1 } ]')
    } finally {
      process.env.VITEST = vitest
    }
  })
})
