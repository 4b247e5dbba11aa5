/**
 * The store: streams, appends, $all and the safe horizon (src/store/). This is its one face to
 * the layers above; they build on StoreCore (see docs/architecture.md), never on the facade.
 */
export { StoreCore } from './store-core.js'
export type { EventStoreOptions, ReplicaOptions, StoreConnection } from './options.js'
export type { TransactionalAppendHook } from './appender.js'
export { AppendBatcher, type AppendOutcome, type PreparedAppend } from './append.js'
export { AppendNotifier } from './notifier.js'
export { archivedAware, mapArchivedError } from './archived.js'
export type { SafeHorizon } from './horizon.js'
export type { NotificationListener } from './notification-listener.js'
export { escapeLike, type AllPageRequest, type AllReader, type EventRow } from './read.js'
export type { ReplicaSet } from './replica.js'
export type { StoreSql } from './sql.js'
export type { ScavengeOptions } from './streams.js'
export {
  checkExpectedVersion,
  checkFilter,
  checkName,
  checkPosition,
  checkPositiveInt,
  checkStreamId,
  MAX_INT8,
  prepareEvents,
  unstorableText,
  type PreparedEvents,
} from './validate.js'
export { uuidV7 } from './uuid-v7.js'
export type * from './types.js'
