/** Aggregates, command handling, snapshots and time travel (issue 5). Owned by src/aggregates/. */
export {
  defineAggregate,
  isAggregate,
  untyped,
  type Aggregate,
  type AggregateOptions,
  type AnyAggregate,
  type AppendedEventOf,
  type CommandOf,
  type EventsOf,
  type StateOf,
  type UntypedAggregate,
} from './define-aggregate.js'
export type {
  AggregateEvent,
  AppendedEvent,
  Command,
  CommandInput,
  CommandRegistry,
  CommandSchemas,
  CommandTypeOf,
  DecidedEvent,
  Decision,
} from './types.js'
export {
  CommandValidationError,
  ConcurrencyRetriesExhaustedError,
  UndeclaredEventTypeError,
} from './errors.js'
export { handleCommand, type HandleOptions, type HandleResult } from './handle-command.js'
export { loadAggregate, type LoadOptions, type LoadResult } from './load-aggregate.js'
export {
  snapshotAggregate,
  truncateAggregate,
  type SnapshotResult,
  type TruncateOptions,
  type TruncateResult,
} from './truncate-aggregate.js'
export {
  decidedEvents,
  fold,
  parseCommand,
  prepareDecision,
  type NormalisedEvent,
} from './decision.js'
