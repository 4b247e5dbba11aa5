/**
 * The names EventStore's `handle` and `load` methods are written against (src/store/event-store.ts
 * imports them from here).
 */
export {
  type Aggregate as AggregateDefinition,
  type AnyAggregate,
  type CommandOf,
  type StateOf,
} from './define-aggregate.js'
export { handleCommand, type HandleOptions, type HandleResult } from './handle-command.js'
export { loadAggregate, type LoadOptions, type LoadResult } from './load-aggregate.js'
