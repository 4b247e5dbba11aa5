/** Aggregates, command handling, snapshots and time travel (issue 5). Owned by src/aggregates/. */
export {
  defineAggregate,
  isAggregate,
  type Aggregate,
  type AggregateOptions,
  type AnyAggregate,
  type AppendedEventOf,
  type CommandOf,
  type EventsOf,
  type StateOf,
} from './define-aggregate.js'
export type { AggregateDefinition } from './aggregate.js'
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
export { CommandValidationError, ConcurrencyRetriesExhaustedError } from './errors.js'
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
  richJsonCodec,
  SnapshotCodecError,
  SnapshotError,
  SnapshotRequiredError,
  type SnapshotCodec,
  type SnapshotOperation,
  type SnapshotOptions,
  type SnapshotPolicy,
  type SnapshotPolicyInfo,
} from '../snapshots/index.js'
// Event schema evolution lives in the event registry; its error is exported here because
// src/index.ts re-exports this folder.
export { UpcastError, type DefineEventOptions, type Upcaster } from '../events/registry.js'
