import type { EventStore } from '../store/event-store.js'

/** Placeholder until aggregates land: the names below are the contract with EventStore. */
export interface AggregateDefinition<State = unknown, Command = unknown> {
  readonly category: string
  readonly initialState: State
  readonly __command?: Command
}

export type AnyAggregate = AggregateDefinition<unknown, never>
export type CommandOf<A> = A extends AggregateDefinition<unknown, infer C> ? C : never
export type StateOf<A> = A extends AggregateDefinition<infer S, never> ? S : never

export interface HandleOptions {
  readonly maxRetries?: number
}
export interface HandleResult<A> {
  readonly state: StateOf<A>
  readonly version: bigint
}
export interface LoadOptions {
  readonly asOfVersion?: bigint
}
export interface LoadResult<A> {
  readonly state: StateOf<A>
  readonly version: bigint
}

export function handleCommand<A extends AnyAggregate>(
  _store: EventStore,
  _aggregate: A,
  _id: string,
  _command: CommandOf<A>,
  _options: HandleOptions = {},
): Promise<HandleResult<A>> {
  return Promise.reject(new Error('aggregates are not implemented yet'))
}

export function loadAggregate<A extends AnyAggregate>(
  _store: EventStore,
  _aggregate: A,
  _id: string,
  _options: LoadOptions = {},
): Promise<LoadResult<A>> {
  return Promise.reject(new Error('aggregates are not implemented yet'))
}
