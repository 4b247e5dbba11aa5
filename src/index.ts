/**
 * pg-strata: event sourcing on Postgres.
 * The main entry point: every name an application needs, listed explicitly (no `export *`), so
 * an API change shows in review. Helpers for tests are in `pg-strata/testing`, and for
 * development (a local database) in `pg-strata/dev`. The layers behind it are described in
 * docs/architecture.md.
 */
// First: fails with a clear message on an unsupported Node.js, before any other module runs.
import './node-version.js'

export {
  createEventStore,
  type EventStore,
  type EventStoreOptions,
  type ReplicaOptions,
  type StoreConnection,
} from './event-store.js'
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
  ReadFrom,
  ReadRouting,
  ReadStreamOptions,
  RecordedEvent,
  ScavengeOptions,
  ScavengeResult,
  StoredEvent,
  EventOfType,
  StreamAppend,
  StreamInfo,
  StreamMetadata,
  StreamWriteOptions,
  DeleteStreamOptions,
  TypedNewEvent,
  TypedRecordedEvent,
} from './store/index.js'
export {
  defineEvent,
  UpcastError,
  type DefineEventOptions,
  type EventDataOf,
  type EventDefinition,
  type EventInputOf,
  type EventRegistry,
  type EventTypeOf,
  type Upcaster,
} from './events/index.js'
export type {
  ExternalTransaction,
  KyselyExecutorLike,
  PgClientLike,
  UntypedDatabase,
} from './db/index.js'
export { runtimeGrantsSql, type MigrateOptions, type MigrateResult } from './migrate/index.js'
export type {
  OtelCounter,
  OtelHistogram,
  OtelMeter,
  OtelSpan,
  OtelTracer,
  StrataLogger,
  TelemetryOption,
} from './observability/index.js'
export {
  ArchivedRangeError,
  ConfigError,
  DuplicateEventError,
  AppendOutcomeUnknownError,
  EventImmutableError,
  EventSerializationError,
  EventValidationError,
  InvalidArgumentError,
  InvalidExpectedVersionError,
  InvalidStreamIdError,
  isStrataError,
  MigrationChecksumError,
  MissingDependencyError,
  PartitionInUseError,
  ReplicaLagError,
  ReplicaUnavailableError,
  SchemaOutdatedError,
  StoreClosedError,
  StrataError,
  StreamDeletedError,
  StreamLockTimeoutError,
  TenantConflictError,
  TenantRequiredError,
  UnknownEventTypeError,
  WrongExpectedVersionError,
  type ExpectedVersionDescription,
  type SentAppend,
  type StrataErrorCode,
  type ValidationIssue,
} from './errors.js'

// Partitioning of events by position and archiving (src/partitions/, docs/partitioning.md).
export {
  archivePartition,
  archivePartitions,
  createPartitions,
  enablePartitioning,
  partitionsStatus,
  type ArchivedPartition,
  type ArchivePartitionOptions,
  type ArchivePartitionsOptions,
  type ArchiveResult,
  type CreatePartitionsOptions,
  type EnablePartitioningOptions,
  type EventPartition,
  type PartitionsStatus,
} from './partitions/index.js'

// Retry policies (src/config/): one shape for subscriptions, projections and consumers.
export type { RetryOptions } from './config/index.js'

// Subscriptions (src/subscriptions/).
export {
  handleEach,
  type CheckpointStore,
  type EventSubscription,
  SubscriptionError,
  type Checkpoint,
  type LiveOptions,
  type RetryPolicy,
  type SubscribeToAllOptions,
  type SubscribeToCategoryOptions,
  type SubscribeToStreamOptions,
  type SubscriptionRetry,
  type SubscriptionStart,
} from './subscriptions/index.js'

// Projections (src/projections/).
export {
  defineProjection,
  ProjectionFailedError,
  ProjectionLeaseLostError,
  type ProjectionRunner,
  type AnyProjection,
  type ProjectionDefinition,
  type ProjectionDefinitionInput,
  type ProjectionErrorPolicy,
  type ProjectionFailure,
  type ProjectionHandlers,
  type ProjectionProgress,
  type ProjectionStatus,
  type ReadModelDb,
  type RunnableProjection,
  type RunnerState,
  type RunProjectionOptions,
} from './projections/index.js'

// Consumer groups and task queues (src/consumers/).
export {
  DeliveryLeaseLostError,
  NonRetryableError,
  type BackoffOptions,
  type ConsumeOptions,
  type Consumer,
  type ConsumerGroup,
  type ConsumerGroupOptions,
  type ConsumerGroupSource,
  type ConsumerGroupStatus,
  type SourceChange,
  type ConsumerHandler,
  type ConsumerInfo,
  type ConsumerStrategy,
  type DeadLetter,
  type DeadLetters,
  type DeadLetterTarget,
  type DeliveriesOptions,
  type Delivery,
  type DeliveryContext,
  type DeliveryError,
  type DeliveryOptions,
  type LeaseEndReason,
  type ListDeadLettersOptions,
  type NackOptions,
  type PositionInput,
  type ResetResult,
  type ResetTarget,
  type SendOptions,
  type SentTask,
  type StartFrom,
  type StopOptions,
  type SettlementFailure,
  type StopResult,
  type Task,
  type TaskQueue,
  type TaskQueueOptions,
} from './consumers/index.js'

// Aggregates and snapshots (src/aggregates/, src/snapshots/).
export {
  CommandValidationError,
  ConcurrencyRetriesExhaustedError,
  UndeclaredEventTypeError,
  defineAggregate,
  isAggregate,
  type Aggregate,
  type AggregateEvent,
  type AggregateOptions,
  type AnyAggregate,
  type AppendedEvent,
  type AppendedEventOf,
  type Command,
  type CommandInput,
  type CommandOf,
  type CommandRegistry,
  type CommandSchemas,
  type CommandTypeOf,
  type DecidedEvent,
  type Decision,
  type EventsOf,
  type HandleOptions,
  type HandleResult,
  type LoadOptions,
  type LoadResult,
  type SnapshotResult,
  type StateOf,
  type TruncateOptions,
  type TruncateResult,
} from './aggregates/index.js'
export { snapshotAggregate, truncateAggregate } from './aggregate-functions.js'
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
} from './snapshots/index.js'

// The web console (src/console/).
export { startConsole, type ConsoleHandle, type ConsoleOptions } from './console/index.js'

// Relays to NATS JetStream (src/relay/).
export {
  consumeRelay,
  RELAY_LAG_CAP,
  RelayError,
  RelayHeaders,
  RelayLeaseLostError,
  type ConsumeRelayOptions,
  type JetStreamStreamOptions,
  type NatsConnectionOptions,
  type Relay,
  type RelayedEvent,
  type RelayOptions,
  type RelayState,
  type RelayStatus,
  type TypedRelayedEvent,
} from './relay/index.js'
