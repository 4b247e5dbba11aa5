import type pg from 'pg'
import {
  executorFor,
  inTenantTransaction,
  tenantOf,
  inTransaction,
  type ExternalTransaction,
  type SqlExecutor,
} from '../db/index.js'
import { TenantConflictError } from '../errors.js'
import type { EventTypes } from '../events/index.js'
import type { Telemetry } from '../observability/index.js'
import {
  AppendBatcher,
  appendAtomically,
  withAppendRetries,
  type AppendOutcome,
  type PreparedAppend,
} from './append.js'
import type { AppendNotifier } from './notifier.js'
import type { WalPosition } from './replica.js'
import type { StoreSql } from './sql.js'
import type { AppendResult, ExpectedVersion, StreamAppend } from './types.js'
import {
  checkExpectedVersion,
  checkStreamId,
  prepareAppends,
  prepareEvents,
  type EventLimits,
} from './validate.js'

/**
 * An extension point of the append: work that must run inside the transaction of every append of
 * the event types it handles (inline projections register one). While any is registered for an
 * append's types, that append runs in a transaction of its own instead of the group-commit batch.
 */
export interface TransactionalAppendHook {
  /** Whether any of these event types needs the hook. */
  handles(types: Iterable<string>): boolean
  /** Runs inside the append's transaction with the ids of the events it just wrote. */
  apply(tx: SqlExecutor, eventIds: readonly string[]): Promise<void>
}

export interface AppenderOptions {
  readonly pool: pg.Pool
  /** The pool sending named prepared statements (autocommit only). */
  readonly statements: SqlExecutor
  readonly sql: StoreSql
  readonly eventTypes: EventTypes
  readonly limits: EventLimits
  readonly telemetry: Telemetry
  /** Append transactions in flight at once (group commit). */
  readonly maxInFlight: number
  /** NOTIFY after appends; undefined with `notify: false`. */
  readonly notifier: AppendNotifier | undefined
  /** Resolves once the schema is usable. */
  readonly ready: () => Promise<void>
  /** Whether the store is closed (no more retries then). */
  readonly closed: () => boolean
  /** With replicas: where results get their commitLsn from. */
  readonly walPosition: WalPosition | undefined
}

/** Attempts of an append whose connection failed (the waits between them: about 1 s in all). */
const APPEND_ATTEMPTS = 4

/**
 * The append path of a store: validation, group commit for plain appends, a transaction of its
 * own (or the caller's) when hooks must run or the caller passed one, retries of transient
 * failures with the idempotency check on, and the NOTIFY that wakes live readers.
 */
export class Appender {
  readonly #options: AppenderOptions
  readonly #batcher: AppendBatcher
  readonly #hooks: TransactionalAppendHook[] = []

  constructor(options: AppenderOptions) {
    this.#options = options
    this.#batcher = new AppendBatcher(options.statements, options.sql, {
      maxInFlight: options.maxInFlight,
      maxBatchEvents: 1000,
      attempts: APPEND_ATTEMPTS,
      closed: options.closed,
    })
  }

  addHook(hook: TransactionalAppendHook): void {
    if (!this.#hooks.includes(hook)) this.#hooks.push(hook)
  }

  /**
   * Checks an append before any SQL.
   * @throws InvalidStreamIdError, InvalidExpectedVersionError and the event checks.
   */
  prepare(streamId: unknown, events: unknown, expectedVersion: unknown): PreparedAppend {
    const id = checkStreamId(streamId)
    const expected = checkExpectedVersion(expectedVersion)
    return {
      streamId: id,
      expected,
      expectedAsGiven: (expectedVersion ?? 'any') as ExpectedVersion,
      events: prepareEvents(events, this.#options.eventTypes, this.#options.limits),
    }
  }

  /** Appends one prepared append (traced when telemetry is on). */
  async appendOne(
    append: PreparedAppend,
    transaction: ExternalTransaction | undefined,
  ): Promise<AppendResult> {
    await this.#options.ready()
    const { telemetry } = this.#options
    if (!telemetry.enabled) return this.#appendOne(append, transaction)
    return telemetry.span(
      'strata.append',
      {
        'strata.stream_id': append.streamId,
        'strata.event_count': append.events.ids.length,
        'strata.expected_version': String(append.expectedAsGiven),
      },
      () => this.#appendOne(append, transaction),
    )
  }

  async #appendOne(
    append: PreparedAppend,
    transaction: ExternalTransaction | undefined,
  ): Promise<AppendResult> {
    const { telemetry, notifier } = this.#options
    const started = performance.now()
    let outcome: AppendOutcome
    if (transaction !== undefined || this.#hooksApply([append])) {
      outcome = (await this.#appendInTransaction([append], transaction))[0]!
    } else {
      outcome = await this.#batcher.append(append)
      notifier?.appended(outcome.position)
    }
    if (telemetry.enabled) {
      telemetry.duration('strata.append.duration', performance.now() - started)
      if (!outcome.retried) telemetry.count('strata.events.appended', append.events.ids.length)
    }
    await this.#ownRetries([outcome])
    return this.#withLsn([publicResult(outcome)], transaction).then(([result]) => result!)
  }

  /** Adds commitLsn to results of appends that committed on their own (stores with replicas). */
  async #withLsn(
    results: AppendResult[],
    transaction: ExternalTransaction | undefined,
  ): Promise<AppendResult[]> {
    const wal = this.#options.walPosition
    if (wal === undefined || transaction !== undefined) return results
    const commitLsn = await wal.after()
    return commitLsn === undefined ? results : results.map((r) => ({ ...r, commitLsn }))
  }

  /** Appends to several streams in one transaction: all or nothing. */
  async appendMany(
    appends: ReadonlyArray<StreamAppend<unknown>>,
    transaction: ExternalTransaction | undefined,
  ): Promise<AppendResult[]> {
    const prepared = prepareAppends(appends, this.#options.limits, (entry) =>
      this.prepare(entry.streamId, entry.events, entry.expectedVersion),
    )
    await this.#options.ready()
    if (transaction !== undefined || this.#hooksApply(prepared)) {
      const outcomes = await this.#appendInTransaction(prepared, transaction)
      await this.#ownRetries(outcomes)
      return this.#withLsn(outcomes.map(publicResult), transaction)
    }
    // One statement in autocommit: all or nothing without a BEGIN/COMMIT round trip.
    const { statements, sql, notifier } = this.#options
    const outcomes = await this.#withRetries(prepared, (idCheck) =>
      appendAtomically(statements, sql, prepared, idCheck),
    )
    notifier?.appended(maxPosition(outcomes))
    await this.#ownRetries(outcomes)
    return this.#withLsn(outcomes.map(publicResult), undefined)
  }

  /**
   * A tenant store's idempotent retry must be of its own events: an event id another tenant
   * already appended to that stream id (a task queue's dedupKey, say) comes back from
   * append_events as a retry of the other tenant's append, which wrote nothing for this one.
   * Retries are rare, so the check (is the position visible to this tenant?) costs nothing else.
   */
  async #ownRetries(outcomes: readonly AppendOutcome[]): Promise<void> {
    const { pool, sql } = this.#options
    const tenant = tenantOf(pool)
    if (tenant === undefined) return
    for (const outcome of outcomes) {
      if (!outcome.retried) continue
      const { rows } = await pool.query(sql.visiblePosition, [outcome.position.toString()])
      if (rows.length === 0) throw new TenantConflictError(tenant, 'stream', outcome.streamId)
    }
  }

  /**
   * All or nothing inside a transaction: the caller's, or one of our own when hooks must run in
   * it. Hooks see the events just appended (not retries of stored ones).
   */
  async #appendInTransaction(
    appends: readonly PreparedAppend[],
    transaction: ExternalTransaction | undefined,
  ): Promise<AppendOutcome[]> {
    const { pool, sql, notifier } = this.#options
    const run = async (tx: SqlExecutor, forceIdCheck: boolean) => {
      const outcomes = await appendAtomically(tx, sql, appends, forceIdCheck)
      const fresh = appends.filter((_, i) => !outcomes[i]!.retried)
      for (const hook of this.#hooks) {
        const ids = fresh.filter((a) => hook.handles(a.events.types)).flatMap((a) => a.events.ids)
        if (ids.length > 0) await hook.apply(tx, ids)
      }
      return outcomes
    }
    if (transaction !== undefined) {
      const tx = inTenantTransaction(executorFor(transaction), pool)
      const outcomes = await run(tx, false)
      // Inside the caller's transaction: delivered at their commit, dropped with their rollback.
      if (notifier !== undefined) await tx.query(sql.notify, [maxPosition(outcomes).toString()])
      return outcomes
    }
    const outcomes = await this.#withRetries(appends, (idCheck) =>
      inTransaction(pool, (tx) => run(tx, idCheck)),
    )
    notifier?.appended(maxPosition(outcomes))
    return outcomes
  }

  #hooksApply(appends: readonly PreparedAppend[]): boolean {
    return this.#hooks.some((hook) => appends.some((a) => hook.handles(a.events.types)))
  }

  #withRetries<T>(
    appends: readonly PreparedAppend[],
    run: (idCheck: boolean) => Promise<T>,
  ): Promise<T> {
    return withAppendRetries(
      appends,
      { attempts: APPEND_ATTEMPTS, closed: this.#options.closed },
      run,
    )
  }
}

function publicResult(outcome: AppendOutcome): AppendResult {
  return {
    streamId: outcome.streamId,
    nextExpectedVersion: outcome.nextExpectedVersion,
    position: outcome.position,
  }
}

function maxPosition(outcomes: readonly AppendOutcome[]): bigint {
  return outcomes.reduce((max, o) => (o.position > max ? o.position : max), 0n)
}
