/**
 * pg-strata: event sourcing on Postgres.
 * The main entry point: everything an application needs. Helpers for tests are in
 * `pg-strata/testing`, and for development (a local database) in `pg-strata/dev`.
 */
// First: fails with a clear message on an unsupported Node.js, before any other module runs.
import './node-version.js'

export {
  createEventStore,
  EventStore,
  type EventStoreOptions,
  type StoreConnection,
} from './store/event-store.js'
export type {
  AllFilter,
  AppendOptions,
  AppendResult,
  AppendableEvent,
  EventMetadata,
  ExpectedVersion,
  NewEvent,
  ReadAllOptions,
  ReadAllResult,
  ReadStreamOptions,
  RecordedEvent,
  ScavengeResult,
  StoredEvent,
  StreamAppend,
  StreamInfo,
  StreamMetadata,
  StreamWriteOptions,
  DeleteStreamOptions,
  TypedNewEvent,
  TypedRecordedEvent,
} from './store/types.js'
export type { ScavengeOptions } from './store/streams.js'
export {
  defineEvent,
  type EventDataOf,
  type EventDefinition,
  type EventInputOf,
  type EventRegistry,
  type EventTypeOf,
} from './events/registry.js'
export type { ExternalTransaction, KyselyExecutorLike, PgClientLike } from './db/executor.js'
export type { MigrateOptions, MigrateResult } from './migrate/migrator.js'
export { runtimeGrantsSql } from './migrate/grants.js'
export * from './observability/index.js'
export {
  ConfigError,
  DuplicateEventError,
  EventImmutableError,
  EventSerializationError,
  EventValidationError,
  InvalidArgumentError,
  InvalidExpectedVersionError,
  InvalidStreamIdError,
  isStrataError,
  MigrationChecksumError,
  MissingDependencyError,
  SchemaOutdatedError,
  StoreClosedError,
  StrataError,
  StreamDeletedError,
  UnknownEventTypeError,
  WrongExpectedVersionError,
  type ExpectedVersionDescription,
  type StrataErrorCode,
  type ValidationIssue,
} from './errors.js'

// Capabilities, each owned by its folder and exported through its index.ts.
export * from './subscriptions/index.js'
export * from './projections/index.js'
export * from './consumers/index.js'
export * from './aggregates/index.js'
