/**
 * strata: event sourcing on Postgres.
 * The one public entry point; everything a user needs is exported from here.
 */
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
export { acquireDatabase, type LocalDatabase } from './local-database/acquire-database.js'

// Capabilities, each owned by its folder and exported through its index.ts.
export * from './subscriptions/index.js'
export * from './projections/index.js'
export * from './consumers/index.js'
export * from './aggregates/index.js'
export * from './relay/index.js'
