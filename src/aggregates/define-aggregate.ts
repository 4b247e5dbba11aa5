import { checkOptions, optionKeys } from '../config/index.js'
import type { z } from 'zod'
import { ConfigError } from '../errors.js'
import { EventTypes, type EventRegistry } from '../events/index.js'
import { checkName, unstorableText } from '../store/index.js'
import {
  resolveSnapshotOptions,
  type SnapshotPolicy,
  type SnapshotSettings,
} from '../snapshots/index.js'
import type {
  AggregateEvent,
  CommandRegistry,
  AppendedEvent,
  Command,
  CommandInput,
  CommandSchemas,
  Decision,
} from './types.js'

/** What {@link defineAggregate} takes. */
export interface AggregateOptions<
  State,
  E extends EventRegistry = EventRegistry,
  C extends CommandSchemas = CommandRegistry,
> {
  /**
   * The stream category: aggregate `id` lives in stream `${category}-${id}`. No '-' (the
   * category of a stream is its id up to the first '-').
   */
  category: string
  /**
   * The aggregate's name, which keys its snapshots (default: the category). Give two aggregates
   * that fold the same streams different names.
   */
  name?: string
  /**
   * The event types this aggregate folds and decides, usually the registry the store was created
   * with (or part of it). `evolve` sees only these types; other events of the stream are skipped.
   * Without it, evolve sees every event, untyped.
   */
  events?: E
  /**
   * Command types, each with the zod schema of its `data` (commands are `{ type, data,
   * metadata? }`), or one zod schema for whole commands of your own shape (a discriminated
   * union). Without it, commands are not validated.
   */
  commands?: C
  /** The state before any event (or a function returning a fresh one, for mutable states). */
  initialState: State | (() => State)
  /**
   * Applies one event to the state and returns the new state. Pure: no I/O, no clock.
   *
   * Annotate its return type with the state's type when the state holds literal unions
   * (`status: 'new' | 'placed'`): TypeScript widens the literals a callback returns while the
   * state type is still being inferred. (NoInfer: the state type comes from `initialState`,
   * never from what evolve returns; it also makes a mismatch print as two different types, not
   * TS2719's "two different types with this name".)
   */
  evolve(state: State, event: AggregateEvent<E>): NoInfer<State>
  /**
   * Decides which events a command causes, given the current state. Throw a domain error to
   * refuse the command: it reaches the caller unchanged and nothing is written. Return [] to do
   * nothing.
   *
   * Annotate its return type (`decide(command, state): Decision<typeof events>`) to have each
   * `return` checked where it is, in one line, and to keep literals of enum fields
   * (`currency: 'EUR'`); without it, TypeScript reports a wrong event at the `decide` key.
   */
  decide(command: Command<C>, state: State): Decision<E> | Promise<Decision<E>>
  /**
   * Snapshot policy, version and codec: `{ every, when, version, codec, … }`, or just a number of
   * events (every N) or a function `(state, version) => boolean`. Without it, loads replay the
   * whole stream.
   */
  snapshots?: SnapshotPolicy<State>
  /** How often `handle` reloads and decides again after a concurrent write (default 10). */
  maxRetries?: number
  /** Maps an aggregate id to its stream id (default `${category}-${id}`). */
  streamId?: (id: string) => string
}

/**
 * An aggregate defined with {@link defineAggregate}: a decider (initialState, evolve, decide)
 * over one stream per id. Pass it to `store.handle` and `store.load`.
 */
export interface Aggregate<
  State,
  E extends EventRegistry = EventRegistry,
  C extends CommandSchemas = CommandRegistry,
> {
  readonly kind: 'strata.aggregate'
  readonly name: string
  readonly category: string
  readonly events: E | undefined
  readonly commands: C | undefined
  readonly maxRetries: number
  /** Snapshot settings with defaults applied; undefined when the aggregate takes no snapshots. */
  readonly snapshots: SnapshotSettings<State> | undefined
  /** A fresh initial state. */
  initialState(): State
  evolve(state: State, event: AggregateEvent<E>): State
  decide(command: Command<C>, state: State): Decision<E> | Promise<Decision<E>>
  /** The stream that holds aggregate `id`. */
  streamId(id: string): string
}

/**
 * Any aggregate, whatever its state, events and commands: what `store.handle` and `store.load`
 * accept. (Aggregate<S, E, C> is invariant in its registries, so this is spelled out with the
 * widest types instead of Aggregate<unknown, …>.)
 */
export interface AnyAggregate {
  readonly kind: 'strata.aggregate'
  readonly name: string
  readonly category: string
  readonly events: EventRegistry | undefined
  readonly commands: CommandSchemas | undefined
  readonly maxRetries: number
  readonly snapshots: object | undefined
  initialState(): unknown
  evolve(state: never, event: never): unknown
  decide(command: never, state: never): unknown
  streamId(id: string): string
}

/** An aggregate as strata's own code calls it: state and payloads unknown. */
export type UntypedAggregate = Aggregate<unknown, EventRegistry, CommandSchemas>

/** Strata's view of any aggregate (see {@link UntypedAggregate}). */
export function untyped(aggregate: AnyAggregate): UntypedAggregate {
  return aggregate as unknown as UntypedAggregate
}

/** The state type of an aggregate. */
export type StateOf<A> = A extends Aggregate<infer S, infer _E, infer _C> ? S : unknown

/** The event registry of an aggregate. */
export type EventsOf<A> = A extends Aggregate<infer _S, infer E, infer _C> ? E : EventRegistry

/** The commands an aggregate accepts, as callers pass them. */
export type CommandOf<A> =
  A extends Aggregate<infer _S, infer _E, infer C> ? CommandInput<C> : CommandInput<CommandSchemas>

/** An event `store.handle` appended for an aggregate. */
export type AppendedEventOf<A> = AppendedEvent<EventsOf<A>>

const CATEGORY = /^[^-\s][^-]*$/

/**
 * Defines an aggregate with the decider pattern: `decide(command, state)` returns events,
 * `evolve(state, event)` folds them; both pure and typed from the zod registries.
 *
 * @example
 * const account = defineAggregate({
 *   category: 'account',
 *   events,                                   // the store's registry
 *   commands: { Deposit: z.object({ amount: z.number().positive() }) },
 *   initialState: { balance: 0 },
 *   evolve: (state, event) =>
 *     event.type === 'Deposited' ? { balance: state.balance + event.data.amount } : state,
 *   decide: (command, state) => [{ type: 'Deposited', data: { amount: command.data.amount } }],
 *   snapshots: { every: 100 },
 * })
 * await store.handle(account, '42', { type: 'Deposit', data: { amount: 10 } })
 *
 * @throws ConfigError for an invalid category, name, function, registry or snapshot option.
 */
const AGGREGATE_OPTIONS = optionKeys<AggregateOptions<unknown, EventRegistry, CommandSchemas>>({
  category: true,
  name: true,
  events: true,
  commands: true,
  initialState: true,
  evolve: true,
  decide: true,
  snapshots: true,
  maxRetries: true,
  streamId: true,
})

export function defineAggregate<
  State,
  const E extends EventRegistry = EventRegistry,
  const C extends CommandSchemas = CommandRegistry,
>(options: AggregateOptions<State, E, C>): Aggregate<State, E, C> {
  if (typeof options !== 'object' || options === null) {
    throw new ConfigError(
      'aggregate',
      options,
      'must be an object { category, initialState, evolve, decide }',
    )
  }
  checkOptions(options, AGGREGATE_OPTIONS, 'an option of defineAggregate()', {
    errorClass: ConfigError,
    argument: 'aggregate',
  })
  const { category, events, commands } = options
  if (typeof category !== 'string' || !CATEGORY.test(category) || category.length > 200) {
    throw new ConfigError(
      'category',
      category,
      "must be a non-empty string without '-' (a stream's category is its id up to the first '-')",
    )
  }
  const categoryProblem = unstorableText(category)
  if (categoryProblem !== undefined) throw new ConfigError('category', category, categoryProblem)
  const name = options.name ?? category
  checkName('name', name, 200, ConfigError)
  const given = options as unknown as Record<string, unknown>
  for (const key of ['evolve', 'decide'] as const) {
    if (typeof given[key] !== 'function') {
      throw new ConfigError(key, given[key], 'must be a function')
    }
  }
  if (!('initialState' in options)) {
    throw new ConfigError(
      'initialState',
      undefined,
      'is required (a value or a function returning one)',
    )
  }
  if (events !== undefined) {
    if (typeof events !== 'object' || events === null) {
      throw new ConfigError('events', events, 'must be an event registry { EventType: zodSchema }')
    }
    new EventTypes(events, false) // refuses malformed definitions now rather than on first use
  }
  if (commands !== undefined && !isZodSchema(commands)) {
    if (typeof commands !== 'object' || commands === null) {
      throw new ConfigError(
        'commands',
        commands,
        'must be { CommandType: zodSchema } or a zod schema of whole commands',
      )
    }
    for (const [type, schema] of Object.entries(commands)) {
      if (!isZodSchema(schema)) {
        throw new ConfigError(`commands.${type}`, schema, 'must be a zod schema')
      }
    }
  }
  const maxRetries = options.maxRetries ?? 10
  if (!Number.isInteger(maxRetries) || maxRetries < 0 || maxRetries > 1000) {
    throw new ConfigError('maxRetries', maxRetries, 'must be an integer from 0 to 1000')
  }
  const streamIdOf = options.streamId
  if (streamIdOf !== undefined && typeof streamIdOf !== 'function') {
    throw new ConfigError('streamId', streamIdOf, 'must be a function (id) => stream id')
  }
  const initial = options.initialState
  const snapshots =
    options.snapshots === undefined ? undefined : resolveSnapshotOptions(options.snapshots, name)
  return Object.freeze({
    kind: 'strata.aggregate',
    name,
    category,
    events,
    commands,
    maxRetries,
    snapshots,
    initialState: () => (typeof initial === 'function' ? (initial as () => State)() : initial),
    evolve: (state: State, event: Parameters<typeof options.evolve>[1]) =>
      options.evolve(state, event),
    decide: (command: Command<C>, state: State) => options.decide(command, state),
    streamId: (id: string) => (streamIdOf === undefined ? `${category}-${id}` : streamIdOf(id)),
  } satisfies Aggregate<State, E, C>)
}

/** Whether a value is a zod schema (rather than a registry of them). */
export function isZodSchema(value: unknown): value is z.ZodType {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { safeParse?: unknown }).safeParse === 'function'
  )
}

/** Whether a value is an aggregate made by {@link defineAggregate}. */
export function isAggregate(value: unknown): value is AnyAggregate {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as { kind?: unknown }).kind === 'strata.aggregate'
  )
}
