/**
 * A bank account as an aggregate: open, deposit, withdraw with an overdraft rule, concurrent
 * commands, time travel, snapshots and truncation behind a snapshot.
 * Runs on DATABASE_URL, or on an embedded Postgres when it is unset:
 * `npx tsx examples/04-bank-account/main.ts`.
 */
import { z } from 'zod'
import { createEventStore, defineAggregate, truncateAggregate } from 'pg-strata'
import { acquireDatabase } from 'pg-strata/dev'

// #region bank-account
const events = {
  AccountOpened: z.object({ owner: z.string(), overdraftLimit: z.number().int().min(0) }),
  MoneyDeposited: z.object({ amount: z.number().int().positive() }),
  MoneyWithdrawn: z.object({ amount: z.number().int().positive() }),
}

class OverdraftError extends Error {
  constructor(
    readonly balance: number,
    readonly amount: number,
  ) {
    super(
      `cannot withdraw ${money(amount)}: balance ${money(balance)} and the overdraft limit would be exceeded`,
    )
  }
}

interface Account {
  readonly open: boolean
  readonly owner: string
  readonly balance: number // cents
  readonly overdraftLimit: number
}

const bankAccount = defineAggregate({
  category: 'account',
  events,
  commands: {
    Open: z.object({
      owner: z.string().min(1),
      overdraftLimit: z.number().int().min(0).default(0),
    }),
    Deposit: z.object({ amount: z.number().int().positive() }),
    Withdraw: z.object({ amount: z.number().int().positive() }),
  },
  initialState: {
    open: false,
    owner: '',
    balance: 0,
    overdraftLimit: 0,
    lastMovementAt: null,
  } as Account,
  evolve(state, event): Account {
    switch (event.type) {
      case 'AccountOpened':
        return {
          ...state,
          open: true,
          owner: event.data.owner,
          overdraftLimit: event.data.overdraftLimit,
        }
      case 'MoneyDeposited':
        return { ...state, balance: state.balance + event.data.amount }
      case 'MoneyWithdrawn':
        return { ...state, balance: state.balance - event.data.amount }
    }
  },
  decide(command, state) {
    if (command.type === 'Open') {
      if (state.open) throw new Error('the account is already open')
      return [{ type: 'AccountOpened', data: command.data }]
    }
    if (!state.open) throw new Error('the account is not open')
    if (command.type === 'Deposit') return [{ type: 'MoneyDeposited', data: command.data }]
    if (state.balance - command.data.amount < -state.overdraftLimit) {
      throw new OverdraftError(state.balance, command.data.amount)
    }
    return [{ type: 'MoneyWithdrawn', data: command.data }]
  },
  // A snapshot every 5 events; bump `version` whenever evolve or Account changes.
  snapshots: { every: 5, version: 1 },
})
// #endregion bank-account

function money(cents: number): string {
  return `${cents < 0 ? '-' : ''}€${(Math.abs(cents) / 100).toFixed(2)}`
}

const database = await acquireDatabase()
const store = createEventStore({ connectionString: database.url }, { events })
await store.migrate()

const id = crypto.randomUUID().slice(0, 8)
console.log(`account ${id}`)

const opened = await store.handle(bankAccount, id, {
  type: 'Open',
  data: { owner: 'Ada', overdraftLimit: 50_00 },
})
console.log(
  `  v${opened.version} opened for ${opened.state.owner}, overdraft up to ${money(50_00)}`,
)

for (const amount of [120_00, 35_50, 9_99]) {
  const { version, state } = await store.handle(bankAccount, id, {
    type: 'Deposit',
    data: { amount },
  })
  console.log(`  v${version} deposited ${money(amount)}, balance ${money(state.balance)}`)
}

const withdrawn = await store.handle(bankAccount, id, {
  type: 'Withdraw',
  data: { amount: 200_00 },
})
console.log(
  `  v${withdrawn.version} withdrew ${money(200_00)}, balance ${money(withdrawn.state.balance)} (within the overdraft)`,
)

try {
  await store.handle(bankAccount, id, { type: 'Withdraw', data: { amount: 20_00 } })
} catch (error) {
  if (!(error instanceof OverdraftError)) throw error
  console.log(`  refused: ${error.message}; nothing was written`)
}

// Two tellers at once: both load the same version, one append conflicts, is reloaded and decided
// again, and both deposits land.
const [a, b] = await Promise.all([
  store.handle(bankAccount, id, { type: 'Deposit', data: { amount: 10_00 } }),
  store.handle(bankAccount, id, { type: 'Deposit', data: { amount: 20_00 } }),
])
console.log(`  concurrent deposits landed at v${a.version} and v${b.version}`)

// Time travel: by version, by global position and by time. (Postgres keeps microseconds, a JS
// Date milliseconds: one millisecond after an event's createdAt is sure to include it.)
const history = await store.readStream(`account-${id}`)
const [, , third, fourth] = history
const points = [
  ['as of version 2', await store.load(bankAccount, id, { asOfVersion: 2n })],
  [
    `as of position ${third!.position}`,
    await store.load(bankAccount, id, { asOfPosition: third!.position }),
  ],
  [
    `as of ${fourth!.createdAt.toISOString()}`,
    await store.load(bankAccount, id, { asOf: new Date(fourth!.createdAt.getTime() + 1) }),
  ],
] as const
console.log('time travel')
for (const [label, past] of points) {
  console.log(`  ${`${label}:`.padEnd(34)} v${past.version}, balance ${money(past.state.balance)}`)
}

// Snapshots: the policy wrote one every 5 events; a load reads it plus the events after it.
const now = await store.load(bankAccount, id)
console.log('snapshots')
console.log(
  `  v${now.version}: balance ${money(now.state.balance)}, from the snapshot at v${now.fromSnapshotAt} + ${now.eventsReplayed} event(s)`,
)

// A long stream's prefix may be truncated once a snapshot covers it.
const { truncateBefore } = await truncateAggregate(store, bankAccount, id)
const visible = await store.readStream(`account-${id}`)
const after = await store.load(bankAccount, id)
console.log(
  `  truncated before v${truncateBefore}: the stream shows ${visible.length} event(s), the balance is still ${money(after.state.balance)}`,
)

await store.close()
await database.release()
