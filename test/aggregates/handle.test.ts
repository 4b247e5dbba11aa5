import { randomUUID } from 'node:crypto'
import { beforeAll, describe, expect, it } from 'vitest'
import { z } from 'zod'
import {
  CommandValidationError,
  defineAggregate,
  EventValidationError,
  InvalidArgumentError,
  StreamDeletedError,
  WrongExpectedVersionError,
  type EventStore,
} from '../../src/index.js'
import { useTestDatabase } from '../support/test-database.js'
import {
  AccountError,
  accountEvents,
  bankAccount,
  counterEvents,
  initialAccount,
} from './fixtures.js'

const db = useTestDatabase()
let store: EventStore<typeof accountEvents & typeof counterEvents>
const account = bankAccount()

beforeAll(async () => {
  store = await db.store({ events: { ...accountEvents, ...counterEvents } })
})

async function storedEvents(streamId: string): Promise<number> {
  const rows = await db.query<{ count: string }>(
    'SELECT count(*) FROM strata.events WHERE stream_id = $1',
    [streamId],
  )
  return Number(rows[0]!.count)
}

async function openAccount(overdraftLimit = 0) {
  const id = randomUUID()
  await store.handle(account, id, { type: 'Open', data: { owner: 'Ada', overdraftLimit } })
  return id
}

describe('store.handle', () => {
  it('decides, appends with the loaded version and returns the new state, version and events', async () => {
    const id = randomUUID()
    const opened = await store.handle(account, id, { type: 'Open', data: { owner: 'Ada' } })
    expect(opened.streamId).toBe(`account-${id}`)
    expect(opened.version).toBe(1n)
    expect(opened.state).toEqual({ ...initialAccount, status: 'open', owner: 'Ada' })
    const [first] = await store.readStream(`account-${id}`)
    expect(opened.events).toEqual([
      {
        id: first!.id,
        streamId: `account-${id}`,
        version: 1n,
        type: 'AccountOpened',
        data: { owner: 'Ada', overdraftLimit: 0 },
        metadata: {},
      },
    ])
    const deposited = await store.handle(account, id, { type: 'Deposit', data: { amount: 30 } })
    expect(deposited.version).toBe(2n)
    expect(deposited.state.balance).toBe(30)
    const stored = await store.readStream(`account-${id}`)
    expect(stored.map((e) => [e.version, e.type, e.data])).toEqual([
      [1n, 'AccountOpened', opened.events[0]!.data],
      [2n, 'MoneyDeposited', deposited.events[0]!.data],
    ])
    expect(deposited.position).toBe(stored[1]!.position)
  })

  it('returns the same state a reload computes, including zod defaults applied to decided events', async () => {
    const id = await openAccount()
    const closed = await store.handle(account, id, { type: 'Close' })
    expect(closed.events[0]!.data).toEqual({ reason: 'closed by owner' })
    const loaded = await store.load(account, id)
    expect(loaded.state).toEqual(closed.state)
    expect(loaded.version).toBe(closed.version)
    expect(loaded.position).toBe(closed.position)
  })

  it('lets a domain error thrown by decide through unchanged and writes nothing', async () => {
    const id = await openAccount(10)
    const error = await store
      .handle(account, id, { type: 'Withdraw', data: { amount: 11 } })
      .catch((e: unknown) => e)
    expect(error).toBeInstanceOf(AccountError)
    expect((error as AccountError).reason).toBe('overdraft')
    expect(await storedEvents(`account-${id}`)).toBe(1)
    // Within the limit it goes through.
    const ok = await store.handle(account, id, { type: 'Withdraw', data: { amount: 10 } })
    expect(ok.state.balance).toBe(-10)
  })

  it('writes nothing and returns the loaded state when decide returns no events', async () => {
    const noop = defineAggregate({
      category: 'noop',
      events: counterEvents,
      commands: { Nothing: z.object({}) },
      initialState: { n: 0 },
      evolve: (state) => ({ n: state.n + 1 }),
      decide: () => [],
    })
    const result = await store.handle(noop, 'x', { type: 'Nothing', data: {} })
    expect(result).toEqual({
      streamId: 'noop-x',
      state: { n: 0 },
      version: 0n,
      events: [],
      position: null,
    })
    expect(await storedEvents('noop-x')).toBe(0)
  })

  it('merges the metadata option into every appended event', async () => {
    const id = await openAccount()
    const result = await store.handle(
      account,
      id,
      { type: 'Deposit', data: { amount: 5 } },
      { metadata: { correlationId: 'c-1', user: 'ada' } },
    )
    expect(result.events[0]!.metadata).toEqual({ correlationId: 'c-1', user: 'ada' })
    const [, stored] = await store.readStream(`account-${id}`)
    expect(stored!.metadata).toEqual({ correlationId: 'c-1', user: 'ada' })
  })

  it('passes command metadata to decide', async () => {
    const seen: unknown[] = []
    const spy = defineAggregate({
      category: 'spy',
      events: counterEvents,
      commands: { Go: z.object({ n: z.number() }) },
      initialState: null,
      evolve: (state) => state,
      decide: (command) => {
        seen.push(command)
        return []
      },
    })
    await store.handle(spy, 'a', { type: 'Go', data: { n: 1 }, metadata: { now: '2024-01-01' } })
    expect(seen).toEqual([{ type: 'Go', data: { n: 1 }, metadata: { now: '2024-01-01' } }])
  })

  it('decides on the exact expectedVersion or throws WrongExpectedVersionError without retrying', async () => {
    const id = await openAccount()
    let decisions = 0
    const counted = bankAccount(undefined, undefined, () => decisions++)
    const ok = await store.handle(
      counted,
      id,
      { type: 'Deposit', data: { amount: 1 } },
      { expectedVersion: 1n },
    )
    expect(ok.version).toBe(2n)
    const stale = await store
      .handle(counted, id, { type: 'Deposit', data: { amount: 1 } }, { expectedVersion: 1n })
      .catch((e: unknown) => e)
    expect(stale).toBeInstanceOf(WrongExpectedVersionError)
    expect((stale as WrongExpectedVersionError).actual).toBe(2n)
    expect(decisions).toBe(1)
    expect(await storedEvents(`account-${id}`)).toBe(2)
  })

  it('throws StreamDeletedError for a tombstoned aggregate stream', async () => {
    const id = await openAccount()
    await store.tombstoneStream(`account-${id}`)
    // Its events are hidden, but the aggregate does not look new: the load itself is refused.
    await expect(store.load(account, id)).rejects.toThrow(StreamDeletedError)
    await expect(
      store.handle(account, id, { type: 'Open', data: { owner: 'Eve' } }),
    ).rejects.toThrow(StreamDeletedError)
  })

  it('starts a soft-deleted stream afresh: the state is rebuilt from the events after the delete', async () => {
    const id = await openAccount()
    await store.handle(account, id, { type: 'Deposit', data: { amount: 7 } })
    await store.deleteStream(`account-${id}`)
    const loaded = await store.load(account, id)
    expect(loaded.state).toEqual(initialAccount)
    const reopened = await store.handle(account, id, { type: 'Open', data: { owner: 'Bob' } })
    expect(reopened.version).toBe(3n) // versions continue after a soft delete
    expect(reopened.events[0]!.version).toBe(3n)
    expect(reopened.state).toEqual({ ...initialAccount, status: 'open', owner: 'Bob' })
    expect((await store.load(account, id)).state).toEqual(reopened.state)
  })

  it('skips stream events whose type the aggregate does not declare', async () => {
    const id = await openAccount()
    await store.appendToStream(`account-${id}`, [{ type: 'Incremented', data: { by: 1 } }])
    await store.handle(account, id, { type: 'Deposit', data: { amount: 2 } })
    const loaded = await store.load(account, id)
    expect(loaded.version).toBe(3n)
    expect(loaded.state.balance).toBe(2)
    expect(loaded.state.movements).toBe(1)
  })
})

describe('bad input to store.handle writes nothing', () => {
  it.each([
    ['an unknown command type', { type: 'Launch', data: {} }, ['type']],
    ['invalid data', { type: 'Deposit', data: { amount: -5 } }, ['data', 'amount']],
    ['missing data', { type: 'Deposit' }, ['data']],
    ['data of the wrong type', { type: 'Deposit', data: { amount: '5' } }, ['data', 'amount']],
    ['a missing type', { data: { amount: 5 } }, ['type']],
    [
      'metadata that is not an object',
      { type: 'Deposit', data: { amount: 5 }, metadata: 'x' },
      ['metadata'],
    ],
  ])('refuses %s with CommandValidationError naming the path', async (_label, command, path) => {
    const id = await openAccount()
    const error = await store.handle(account, id, command as never).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(CommandValidationError)
    expect((error as CommandValidationError).code).toBe('COMMAND_VALIDATION')
    expect((error as CommandValidationError).aggregate).toBe('account')
    expect((error as CommandValidationError).issues[0]!.path).toEqual(path)
    expect((error as Error).message).toMatch(/Invalid .*command for aggregate "account"/)
    expect(await storedEvents(`account-${id}`)).toBe(1)
  })

  it('validates commands of your own shape with one zod schema (a discriminated union)', async () => {
    const flat = defineAggregate({
      category: 'flat',
      events: counterEvents,
      commands: z.discriminatedUnion('kind', [
        z.object({ kind: z.literal('add'), by: z.number().int() }),
        z.object({ kind: z.literal('reset') }),
      ]),
      initialState: 0,
      evolve: (total: number, event) => total + event.data.by,
      decide: (command, total) =>
        command.kind === 'add'
          ? [{ type: 'Incremented', data: { by: command.by } }]
          : [{ type: 'Incremented', data: { by: -total } }],
    })
    const id = randomUUID()
    expect((await store.handle(flat, id, { kind: 'add', by: 5 })).state).toBe(5)
    expect((await store.handle(flat, id, { kind: 'reset' })).state).toBe(0)
    const error = await store.handle(flat, id, { kind: 'add', by: 1.5 }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(CommandValidationError)
    expect((error as CommandValidationError).issues[0]!.path).toEqual(['by'])
    await expect(store.handle(flat, id, { kind: 'explode' } as never)).rejects.toThrow(
      CommandValidationError,
    )
    expect(await storedEvents(`flat-${id}`)).toBe(2)
  })

  it('refuses a command that is not an object', async () => {
    await expect(store.handle(account, 'x', null as never)).rejects.toThrow(CommandValidationError)
    await expect(store.handle(account, 'x', 'Deposit' as never)).rejects.toThrow(
      CommandValidationError,
    )
  })

  it('names the known command types when the type is unknown', async () => {
    await expect(store.handle(account, 'x', { type: 'Nope' } as never)).rejects.toThrow(
      /unknown command type \(known: "Open", "Deposit", "Withdraw", "Close"\)/,
    )
  })

  it('refuses invalid ids, aggregates and options before any SQL', async () => {
    const command = { type: 'Deposit', data: { amount: 1 } } as const
    await expect(store.handle(account, '', command)).rejects.toThrow(InvalidArgumentError)
    await expect(store.handle(account, 'a\nb', command)).rejects.toThrow(InvalidArgumentError)
    await expect(store.handle({} as unknown as typeof account, 'x', command)).rejects.toThrow(
      InvalidArgumentError,
    )
    await expect(store.handle(account, 'x', command, { maxRetries: -1 })).rejects.toThrow(
      InvalidArgumentError,
    )
    await expect(
      store.handle(account, 'x', command, { expectedVersion: 1 as never }),
    ).rejects.toThrow(InvalidArgumentError)
    await expect(store.handle(account, 'x', command, { metadata: [] as never })).rejects.toThrow(
      InvalidArgumentError,
    )
  })

  it('refuses an event decide made invalid, with EventValidationError, and writes nothing', async () => {
    const broken = defineAggregate({
      category: 'account',
      events: accountEvents,
      commands: { Deposit: z.object({ amount: z.number() }) },
      initialState: initialAccount,
      evolve: (state) => state,
      decide: (command) => [{ type: 'MoneyDeposited', data: { amount: command.data.amount } }],
    })
    const id = await openAccount()
    await expect(
      store.handle(broken, id, { type: 'Deposit', data: { amount: 0.5 } }),
    ).rejects.toThrow(EventValidationError)
    expect(await storedEvents(`account-${id}`)).toBe(1)
  })

  it('writes nothing when evolve throws on the decided events', async () => {
    const fragile = defineAggregate({
      category: 'account',
      events: accountEvents,
      commands: { Deposit: z.object({ amount: z.number().int().positive() }) },
      initialState: 0,
      evolve: (state: number, event) => {
        if (event.type === 'MoneyDeposited' && event.data.amount === 13)
          throw new RangeError('unlucky')
        return state + 1
      },
      decide: (command) => [{ type: 'MoneyDeposited', data: { amount: command.data.amount } }],
    })
    const id = randomUUID()
    await expect(
      store.handle(fragile, id, { type: 'Deposit', data: { amount: 13 } }),
    ).rejects.toThrow('unlucky')
    expect(await storedEvents(`account-${id}`)).toBe(0)
  })

  it('refuses a decide result that is not events', async () => {
    const odd = defineAggregate({
      category: 'odd',
      commands: { Go: z.object({}) },
      initialState: 0,
      evolve: (s: number) => s,
      decide: () => 42 as never,
    })
    await expect(store.handle(odd, 'x', { type: 'Go', data: {} })).rejects.toThrow(
      /decide must return an event/,
    )
    expect(await storedEvents('odd-x')).toBe(0)
  })
})
