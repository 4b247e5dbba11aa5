import type pg from 'pg'
import type { EventRegistry } from '../events/index.js'
import type { StrataLogger, TelemetryOption } from '../observability/index.js'
import type { ReadFrom } from './types.js'

/** Where the store's connections come from. */
export type StoreConnection =
  | {
      /** A postgres:// URL; the store opens (and on close, ends) its own pool. */
      connectionString: string
      /** Size of that pool (default 20). */
      max?: number
    }
  | {
      /** Your pool; the store never ends it. */
      pool: pg.Pool
    }

/**
 * Streaming replicas of the store's database, for reads (docs/guarantees.md, "Reading from
 * replicas"). Writes, leases, checkpoints, LISTEN and locks always use the primary.
 */
export interface ReplicaOptions {
  /** One replica or several (each read picks one; a page never mixes two). */
  connections: StoreConnection | readonly StoreConnection[]
  /**
   * Default server of $all reads: readAll, subscriptions to $all, categories and streams,
   * projection catch-up and rebuilds (default 'replica').
   */
  readAllFrom?: ReadFrom
  /**
   * Default server of stream reads: readStream and load (default 'primary': commands load and
   * append, and a stale load only costs a retry, so they read their own writes by default).
   */
  readStreamFrom?: ReadFrom
  /**
   * The staleness bound, in ms (default 5000): a replica read returns only what a replica view
   * at most this old shows (the view's age is known from the published horizon's timestamp).
   * A read keeps trying a lagging or unreachable replica for this long before it falls back.
   */
  maxLagMs?: number
  /**
   * What a read does when no replica can serve it within maxLagMs (lagging, down, or not at
   * minLsn yet): read from the primary (default) or fail with ReplicaLagError /
   * ReplicaUnavailableError.
   */
  fallback?: 'primary' | 'error'
  /**
   * How often the store publishes the safe horizon on the primary while replica reads run
   * (default 100 ms). Events behind a gap above the last published horizon wait for the next
   * one: the extra latency of $all on a replica is at most this plus the replay lag.
   */
  publishIntervalMs?: number
}

export interface EventStoreOptions<
  R extends EventRegistry = EventRegistry,
  Open extends boolean = boolean,
> {
  /** Postgres schema of the store's tables (default 'strata'). */
  schema?: string
  /** Event types and their zod schemas: appends are validated, reads are typed. */
  events?: R
  /**
   * Whether event types missing from `events` may be appended (default: false when `events` is
   * given, true when it is not).
   */
  allowUnregisteredTypes?: Open
  /** Largest number of events in one append (default 10,000). */
  maxEventsPerAppend?: number
  /** Largest serialised size of one append, in bytes (default 64 MiB). */
  maxAppendBytes?: number
  /**
   * Append transactions in flight at once from this store (default 8). Appends beyond this wait
   * and go together in the next transaction (group commit); each still succeeds or fails on its
   * own. More in flight lets Postgres flush more commits at once (what one-row INSERTs from as
   * many connections get); fewer makes bigger batches, which spend less server CPU per append.
   * Measured on 2 shared cores (docs/performance.md): 8 beat 2 and 4 at 8 and 32 callers.
   */
  appendConcurrency?: number
  /**
   * How long an append may wait for the lock of a stream another transaction holds, in ms
   * (default 10,000; 0: no limit). Beyond it the append fails with StreamLockTimeoutError and
   * writes nothing.
   */
  appendLockTimeoutMs?: number
  /**
   * Whether the store's hot statements (the append, consumer claims and acks) go as named
   * prepared statements, parsed and planned once per connection (default true). Behind a
   * transaction-mode pooler that does not keep them per client (PgBouncer before 1.21) the store
   * notices on the first refusal and sends them unnamed from then on; `false` never names them.
   */
  preparedStatements?: boolean
  /** Wake live subscribers with NOTIFY after appends (default true). */
  notify?: boolean
  /**
   * Whether live readers LISTEN for appends on a dedicated connection (default true). Without it
   * (a transaction-mode pooler that cannot LISTEN) they rely on polling alone.
   */
  listen?: boolean
  /** Called with errors of background work (notifications, reconnects); default: ignored. */
  onError?: (error: unknown) => void
  /** A pino-compatible logger (`info(fields, message)` …); strata is silent without one. */
  logger?: StrataLogger
  /**
   * OpenTelemetry spans and metrics for appends, reads, subscription deliveries and consumer
   * processing. `'auto'` (default) uses @opentelemetry/api when it is installed (an optional
   * peer dependency; no exporter is bundled), `false` turns it off, or pass `{ tracer, meter }`.
   */
  telemetry?: TelemetryOption
  /**
   * What the store does about its schema on first use: `'check'` (default) verifies that every
   * migration has been applied and throws SchemaOutdatedError otherwise (run `strata migrate`
   * or `store.migrate()` as part of your deploy, e.g. with a role that may run DDL); `'auto'`
   * migrates on first use; `'off'` does neither.
   */
  migrate?: 'check' | 'auto' | 'off'
  /** Streaming replicas to read from (see ReplicaOptions); none by default. */
  replicas?: ReplicaOptions
  /**
   * The tenant this store reads and writes as, on a schema that keeps tenants apart
   * (docs/tenants.md: the schema owner runs `SELECT <schema>.enable_tenants()` once). Every
   * transaction the store runs names it (`set_config('strata.tenant', tenant, true)`, also
   * through PgBouncer in transaction mode); row-level security then shows the store only its
   * tenant's events, streams, groups, projections and checkpoints, and the store's writes are
   * checked to stay in it. Letters, digits and `_ . : @ -`, at most 63 characters. Without it (the
   * default) nothing changes; a store with one on a schema without tenants, or without one on a
   * schema with tenants, is refused with TenantRequiredError on first use.
   */
  tenant?: string
}
