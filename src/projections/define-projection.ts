import type { Kysely } from 'kysely'
import type { UntypedDatabase } from '../db/index.js'
import {
  checkKnownKeys,
  checkOptions,
  checkRetry,
  optionKeys,
  type Retry,
  type RetryOptions,
} from '../config/index.js'
import { ConfigError, describeText } from '../errors.js'
import type { EventDataOf, EventRegistry, EventTypeOf } from '../events/index.js'
import type { RecordedEvent } from '../store/index.js'

/**
 * What a projection does with an event it cannot apply:
 * - `'stop'` (default): stop at it; the position and error are recorded and shown in its status;
 *   nothing after it is applied until you fix the handler (or reset the projection);
 * - `'skip'`: record it and move on;
 * - `{ retry }`: try again with exponential backoff up to `maxAttempts`, then stop (or skip,
 *   with `then: 'skip'`).
 */
export type ProjectionErrorPolicy =
  | 'stop'
  | 'skip'
  | {
      /**
       * Attempts (default 5) and the backoff between them (default: initialMs 100, maxMs 10,000,
       * multiplier 2, jitter 0.5), the names every retry policy of strata uses.
       */
      retry: RetryOptions
      then?: 'stop' | 'skip'
    }

/** The read model handle a handler writes with: kysely, on the projection's transaction. */
export type ReadModelDb<DB> = Kysely<DB>

type Handler<E, DB> = (event: E, db: ReadModelDb<DB>) => void | Promise<void>

/** Handlers by event type, each getting that type's exact payload type from the registry. */
export type ProjectionHandlers<R extends EventRegistry, DB> = [EventTypeOf<R>] extends [never]
  ? { readonly [type: string]: Handler<RecordedEvent, DB> }
  : { readonly [K in EventTypeOf<R>]?: Handler<RecordedEvent<K, EventDataOf<R, K>>, DB> }

export interface ProjectionDefinitionInput<R extends EventRegistry, DB> {
  /**
   * Names the projection and its read-model schemas: tables of version N live in schema
   * `<name>_v<N>`, and views in schema `<name>` show the active version. 1-40 characters of
   * a-z, 0-9 and _, starting with a letter.
   */
  readonly name: string
  /** Bump it when handlers or tables change: the new version is rebuilt beside the old one. */
  readonly version: number
  /** The store's event registry, for typing the handlers (optional at run time). */
  readonly events?: R
  /** Creates the read-model tables, in the version's own schema (unqualified names). */
  readonly setup?: (db: ReadModelDb<DB>) => Promise<void>
  readonly handlers: ProjectionHandlers<R, DB>
  readonly onError?: ProjectionErrorPolicy
}

/** A projection: read-model tables kept up to date from $all. See docs/projections.md. */
export interface ProjectionDefinition<
  R extends EventRegistry = EventRegistry,
  DB = UntypedDatabase,
> extends ProjectionDefinitionInput<R, DB> {
  readonly kind: 'strata.projection'
  /** The event types it handles ($all is read filtered by them). */
  readonly eventTypes: readonly string[]
  readonly onError: ProjectionErrorPolicy
}

/** Any projection, whatever its registry and database types (internal use). */
export type AnyProjection = ProjectionDefinition<never, never>

/** What a store needs to run a projection: any `defineProjection` result. */
export interface RunnableProjection {
  readonly kind: 'strata.projection'
  readonly name: string
  readonly version: number
  readonly eventTypes: readonly string[]
}

const NAME = /^[a-z][a-z0-9_]{0,39}$/

/**
 * Declares a projection. Handlers receive each event (typed from `events`, the store's
 * registry) and a kysely handle on the transaction that also moves the projection's position,
 * so read-model writes are applied exactly once.
 *
 * @example
 * const balances = defineProjection<typeof events, { accounts: { id: string; balance: number } }>({
 *   name: 'balances', version: 1, events,
 *   setup: (db) => db.schema.createTable('accounts')
 *     .addColumn('id', 'text', (c) => c.primaryKey()).addColumn('balance', 'numeric').execute(),
 *   handlers: {
 *     Deposited: (e, db) => db.updateTable('accounts').set((eb) => ({ balance: eb('balance', '+', e.data.amount) }))
 *       .where('id', '=', e.streamId).execute(),
 *   },
 * })
 * @throws ConfigError for an invalid name, version, handler or error policy.
 */
const DEFINITION_KEYS = optionKeys<ProjectionDefinitionInput<EventRegistry, unknown>>({
  name: true,
  version: true,
  events: true,
  setup: true,
  handlers: true,
  onError: true,
})

export function defineProjection<
  const R extends EventRegistry = Record<never, never>,
  DB = UntypedDatabase,
>(definition: ProjectionDefinitionInput<R, DB>): ProjectionDefinition<R, DB> {
  // A definition may be derived from another by spreading it: what defineProjection added
  // (kind, eventTypes) is computed again, never taken from the input.
  const {
    kind: _kind,
    eventTypes: _derived,
    ...input
  } = definition as ProjectionDefinitionInput<R, DB> & { kind?: unknown; eventTypes?: unknown }
  checkOptions(input, DEFINITION_KEYS, 'a key of a projection definition', {
    errorClass: ConfigError,
    argument: 'projection',
  })
  definition = input
  if (typeof definition.name !== 'string' || !NAME.test(definition.name)) {
    throw new ConfigError(
      'projection name',
      definition.name,
      'must be 1-40 characters of a-z, 0-9 and _, starting with a letter',
    )
  }
  if (
    !Number.isInteger(definition.version) ||
    definition.version < 1 ||
    definition.version > 1_000_000
  ) {
    throw new ConfigError('projection version', definition.version, 'must be an integer from 1')
  }
  const handlers = definition.handlers as Record<string, unknown>
  if (typeof handlers !== 'object' || handlers === null) {
    throw new ConfigError(
      'projection handlers',
      handlers,
      'must be an object of functions by event type',
    )
  }
  const eventTypes = Object.keys(handlers)
  if (eventTypes.length === 0)
    throw new ConfigError('projection handlers', handlers, 'must handle at least one event type')
  for (const type of eventTypes) {
    if (typeof handlers[type] !== 'function') {
      throw new ConfigError(
        `projection handler ${describeText(type)}`,
        handlers[type],
        'must be a function',
      )
    }
  }
  const onError = definition.onError ?? 'stop'
  return { ...definition, kind: 'strata.projection', eventTypes, onError: checkPolicy(onError) }
}

/** Handler retries of a projection by default. */
const PROJECTION_RETRY: Retry = {
  maxAttempts: 5,
  initialMs: 100,
  maxMs: 10_000,
  multiplier: 2,
  jitter: 0.5,
}

/** The policy with every retry value set (the runner reads them as they are). */
function checkPolicy(policy: unknown): ProjectionErrorPolicy {
  if (policy === 'stop' || policy === 'skip') return policy
  const retry = (policy as { retry?: unknown } | null)?.retry
  const then = (policy as { then?: unknown } | null)?.then
  if (
    typeof policy !== 'object' ||
    policy === null ||
    typeof retry !== 'object' ||
    retry === null ||
    !(then === undefined || then === 'stop' || then === 'skip')
  ) {
    throw new ConfigError(
      'projection onError',
      policy,
      "expected 'stop', 'skip' or { retry: { maxAttempts, initialMs, maxMs }, then? }",
    )
  }
  checkKnownKeys(policy, ['retry', 'then'], 'a key of onError', {}, 'onError.')
  const checked = checkRetry(retry, PROJECTION_RETRY, 'onError.retry.')
  return then === undefined ? { retry: checked } : { retry: checked, then }
}
