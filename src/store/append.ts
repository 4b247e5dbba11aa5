import {
  type SqlExecutor,
  toBigInt,
  isDatabaseError,
  isTransientError,
  isUniqueViolation,
  mayHaveCommitted,
  STRATA_SQLSTATE,
} from '../db/index.js'
import { type Backoff, backoffDelay, pause } from '../config/index.js'
import {
  AppendOutcomeUnknownError,
  DuplicateEventError,
  EventImmutableError,
  StreamDeletedError,
  StreamLockTimeoutError,
  WrongExpectedVersionError,
} from '../errors.js'
import type { StoreSql } from './sql.js'
import type { AppendResult, ExpectedVersion } from './types.js'
import type { ExpectedVersionParam, PreparedEvents } from './validate.js'

export interface PreparedAppend {
  readonly streamId: string
  readonly expected: ExpectedVersionParam
  /** As the caller passed it, for error messages. */
  readonly expectedAsGiven: ExpectedVersion
  readonly events: PreparedEvents
}

export interface AppendOutcome extends AppendResult {
  /** The events were already stored by an earlier identical append; nothing was written. */
  readonly retried: boolean
}

interface OutcomeRow {
  status: 'ok' | 'retried' | 'duplicate' | 'wrong_expected_version' | 'tombstoned' | 'busy'
  next_version: string | null
  last_position: string | null
  detail: string | null
}

/**
 * Parameters of the append_events function (migrations/0001) for these appends.
 * `forceIdCheck` makes a retry after a lost connection idempotent even for generated ids.
 */
function appendParams(appends: readonly PreparedAppend[], forceIdCheck: boolean, atomic: boolean) {
  const streamIds: string[] = []
  const expected: string[] = []
  const expectedVersions: Array<string | null> = []
  const counts: number[] = []
  const checkIds: boolean[] = []
  const ids: string[] = []
  const types: string[] = []
  const data: string[] = []
  const metadata: string[] = []
  const dataVersions: number[] = []
  for (const append of appends) {
    const events = append.events
    streamIds.push(append.streamId)
    expected.push(append.expected.kind)
    expectedVersions.push(append.expected.version?.toString() ?? null)
    counts.push(events.ids.length)
    checkIds.push(events.idsSupplied || forceIdCheck)
    ids.push(...events.ids)
    types.push(...events.types)
    data.push(...events.data)
    metadata.push(...events.metadata)
    dataVersions.push(...events.dataVersions)
  }
  return [
    streamIds,
    expected,
    expectedVersions,
    counts,
    checkIds,
    ids,
    types,
    data,
    metadata,
    dataVersions,
    atomic,
  ]
}

/**
 * Whether `appends` can go through append_event (migrations/0016): one append of one event whose
 * id was generated, with no id check asked for.
 */
function isSingleEvent(appends: readonly PreparedAppend[], idCheck: boolean): boolean {
  const events = appends.length === 1 ? appends[0]!.events : undefined
  return events !== undefined && events.ids.length === 1 && !events.idsSupplied && !idCheck
}

/** Runs append_event for a single-event append; its outcome as append_events' row. */
async function appendSingleEvent(
  executor: SqlExecutor,
  sql: StoreSql,
  append: PreparedAppend,
  atomic: boolean,
): Promise<OutcomeRow> {
  const events = append.events
  const { rows } = await executor.query<{ r: string }>(sql.appendEvent, [
    append.streamId,
    append.expected.kind,
    append.expected.version?.toString() ?? null,
    events.ids[0],
    events.types[0],
    events.data[0],
    events.metadata[0],
    events.dataVersions[0],
    atomic,
  ])
  return parseOutcome(rows[0]!.r)
}

/**
 * The text form of append_event's composite result, `(status,next_version,last_position,detail)`:
 * every field is a word or a number (or empty for null), so it needs no quoting rules.
 */
function parseOutcome(text: string): OutcomeRow {
  const [status, nextVersion, lastPosition, detail] = text.slice(1, -1).split(',')
  const orNull = (field: string | undefined) => (field === undefined || field === '' ? null : field)
  return {
    status: status as OutcomeRow['status'],
    next_version: orNull(nextVersion),
    last_position: orNull(lastPosition),
    detail: orNull(detail),
  }
}

/**
 * Appends all or nothing, in one statement (inside the executor's transaction, or its own).
 * @throws the typed error of the first failing append.
 */
export async function appendAtomically(
  executor: SqlExecutor,
  sql: StoreSql,
  appends: readonly PreparedAppend[],
  forceIdCheck = false,
): Promise<AppendOutcome[]> {
  try {
    if (isSingleEvent(appends, forceIdCheck)) {
      return [toOutcome(await appendSingleEvent(executor, sql, appends[0]!, true), appends[0]!)]
    }
    const { rows } = await executor.query<OutcomeRow>(
      sql.appendEvents,
      appendParams(appends, forceIdCheck, true),
    )
    return rows.map((row, i) => toOutcome(row, appends[i]!))
  } catch (error) {
    throw mapAppendError(error, appends, sql.lockTimeoutMs)
  }
}

function toOutcome(row: OutcomeRow, append: PreparedAppend): AppendOutcome {
  switch (row.status) {
    case 'ok':
    case 'retried':
      return {
        streamId: append.streamId,
        nextExpectedVersion: toBigInt(row.next_version ?? '0'),
        position: toBigInt(row.last_position ?? '0'),
        retried: row.status === 'retried',
      }
    case 'wrong_expected_version':
      throw new WrongExpectedVersionError(
        append.streamId,
        append.expectedAsGiven,
        toBigInt(row.detail ?? '0'),
      )
    case 'duplicate':
      throw duplicateError(append, row.detail)
    case 'tombstoned':
      throw new StreamDeletedError(append.streamId)
    case 'busy':
      throw new Error(`append_events answered 'busy' for stream ${append.streamId} in atomic mode`)
  }
}

/** Turns the SQLSTATEs of append_events and append_event (and the id constraints) into typed errors. */
export function mapAppendError(
  error: unknown,
  appends: readonly PreparedAppend[],
  lockTimeoutMs = 0,
): unknown {
  if (!isDatabaseError(error)) return error
  if (error.code === LOCK_NOT_AVAILABLE) {
    const ids = [...new Set(appends.map((a) => a.streamId))]
    return new StreamLockTimeoutError(ids[0] ?? '', ids, lockTimeoutMs, { cause: error })
  }
  const failing = appends[Number(error.hint ?? '1') - 1] ?? appends[0]!
  const code = error.code
  if (code === STRATA_SQLSTATE.wrongExpectedVersion) {
    return new WrongExpectedVersionError(
      failing.streamId,
      failing.expectedAsGiven,
      toBigInt(error.detail || '0'),
    )
  }
  if (code === STRATA_SQLSTATE.duplicateEvent) return duplicateError(failing, error.detail)
  if (code === STRATA_SQLSTATE.streamTombstoned) return new StreamDeletedError(failing.streamId)
  if (code === STRATA_SQLSTATE.eventImmutable)
    return new EventImmutableError(error.message, { cause: error })
  if (isUniqueViolation(error, 'events_id_key') || isUniqueViolation(error, 'event_ids_pkey')) {
    // A concurrent append to another stream stored one of these ids first (or, on a
    // partitioned store, an archived event has it: event_ids keeps the ids of archived events).
    const id = /\(id\)=\(([0-9a-f-]+)\)/.exec(error.detail ?? '')?.[1]
    const owner = appends.find((a) => id !== undefined && a.events.ids.includes(id)) ?? appends[0]!
    return new DuplicateEventError(
      id ?? owner.events.ids[0] ?? '',
      owner.streamId,
      undefined,
      'the id belongs to an event appended concurrently',
    )
  }
  return error
}

/** lock_not_available: the lock_timeout append_events takes (migrations/0011) ran out. */
const LOCK_NOT_AVAILABLE = '55P03'

function duplicateError(
  append: PreparedAppend,
  detail: string | null | undefined,
): DuplicateEventError {
  let parsed: { eventId?: string; existingStreamId?: string | null; reason?: string } = {}
  try {
    parsed = JSON.parse(detail || '{}') as typeof parsed
  } catch {
    // keep the defaults
  }
  return new DuplicateEventError(
    parsed.eventId ?? append.events.ids[0] ?? '',
    append.streamId,
    parsed.existingStreamId ?? undefined,
    parsed.reason ?? 'the id is already stored',
  )
}

/** Waits between attempts of an append whose connection failed: about 50, 200, 800 ms. */
const APPEND_RETRY: Backoff = { initialMs: 50, maxMs: 1000, multiplier: 4, jitter: 0.5 }

export interface AppendRetryOptions {
  /** Attempts in all (the first included). */
  readonly attempts: number
  /** An earlier attempt (a batch) may already have committed these appends. */
  readonly uncertain?: boolean
  /** No more attempts once the store is closed. */
  readonly closed?: (() => boolean) | undefined
}

/**
 * Runs an append, retrying transient failures. The events keep their ids (generated once, before
 * the first attempt), and every attempt after a failure checks them (`idCheck`), so a retry of an
 * append that did commit returns its result instead of writing it twice. When the attempts run
 * out after a failure that may have come after the commit, the outcome is unknown: that is an
 * AppendOutcomeUnknownError carrying the ids, for the caller's own idempotent retry.
 */
export async function withAppendRetries<T>(
  appends: readonly PreparedAppend[],
  options: AppendRetryOptions,
  run: (idCheck: boolean) => Promise<T>,
): Promise<T> {
  let uncertain = options.uncertain ?? false
  for (let attempt = 1; ; attempt++) {
    try {
      return await run(uncertain || attempt > 1)
    } catch (error) {
      if (!isTransientError(error)) throw error
      uncertain ||= mayHaveCommitted(error)
      if (attempt >= options.attempts || options.closed?.() === true) {
        if (!uncertain) throw error // never reached the server: nothing was written
        const sent = appends.map((a) => ({ streamId: a.streamId, eventIds: [...a.events.ids] }))
        throw new AppendOutcomeUnknownError(sent, attempt, { cause: error })
      }
      await pause(backoffDelay(attempt, APPEND_RETRY))
    }
  }
}

interface Pending {
  readonly append: PreparedAppend
  readonly resolve: (outcome: AppendOutcome) => void
  readonly reject: (error: unknown) => void
}

export interface BatcherOptions {
  /** Batches in flight at once (default 4). */
  readonly maxInFlight: number
  /** Largest number of events in one batch (default 1000). */
  readonly maxBatchEvents: number
  /** Attempts for an append whose connection failed (default 3). */
  readonly attempts: number
  /** No more attempts once the store is closed. */
  readonly closed?: (() => boolean) | undefined
}

/**
 * Group commit for single appends. Appends that arrive while earlier batches are in flight wait
 * and go together in the next batch: one statement, one transaction, one commit for all of them,
 * each with its own outcome (a failing append writes nothing and fails alone). An idle store
 * sends an append at once, so batching adds no latency; under load it saves a commit and a round
 * trip per append.
 *
 * Order: appends to one stream leave in the order they arrived, and a stream is in at most one
 * batch at a time. A batch never waits for a stream locked elsewhere: such appends come back
 * 'busy' and go on their own. A batch that fails as a whole (a lost connection, a race on an
 * event id) is replayed append by append with the idempotency check on, so nothing is written
 * twice.
 */
export class AppendBatcher {
  #queue: Pending[] = []
  #inFlight = 0
  /** Appends in flight per stream; a stream is never in two batches at once. */
  readonly #streamsInFlight = new Map<string, number>()

  constructor(
    /** The pool, in autocommit (named prepared statements). */
    private readonly executor: SqlExecutor,
    private readonly sql: StoreSql,
    private readonly options: BatcherOptions,
  ) {}

  append(append: PreparedAppend): Promise<AppendOutcome> {
    return new Promise<AppendOutcome>((resolve, reject) => {
      this.#queue.push({ append, resolve, reject })
      this.#pump()
    })
  }

  #pump(): void {
    while (this.#inFlight < this.options.maxInFlight && this.#queue.length > 0) {
      const batch = this.#takeBatch()
      if (batch.length === 0) return // everything queued waits for a stream in flight
      this.#inFlight++
      void this.#run(batch).finally(() => {
        this.#inFlight--
        this.#pump()
      })
    }
  }

  #takeBatch(): Pending[] {
    const batch: Pending[] = []
    const waiting: Pending[] = []
    const held = new Set<string>() // streams skipped in this pass: keep their order
    let events = 0
    for (const pending of this.#queue) {
      const { streamId } = pending.append
      const size = pending.append.events.ids.length
      const full = batch.length > 0 && events + size > this.options.maxBatchEvents
      if (full || held.has(streamId) || this.#streamsInFlight.has(streamId)) {
        held.add(streamId)
        waiting.push(pending)
        continue
      }
      batch.push(pending)
      events += size
    }
    for (const { append } of batch) {
      this.#streamsInFlight.set(
        append.streamId,
        (this.#streamsInFlight.get(append.streamId) ?? 0) + 1,
      )
    }
    this.#queue = waiting
    return batch
  }

  #settle(pending: Pending, outcome: Promise<AppendOutcome>): Promise<void> {
    return outcome.then(pending.resolve, pending.reject).finally(() => {
      const { streamId } = pending.append
      const left = (this.#streamsInFlight.get(streamId) ?? 1) - 1
      if (left === 0) this.#streamsInFlight.delete(streamId)
      else this.#streamsInFlight.set(streamId, left)
      this.#pump()
    })
  }

  async #run(batch: Pending[]): Promise<void> {
    let rows: OutcomeRow[]
    try {
      const appends = batch.map((p) => p.append)
      rows = isSingleEvent(appends, false)
        ? [await appendSingleEvent(this.executor, this.sql, appends[0]!, false)]
        : (
            await this.executor.query<OutcomeRow>(
              this.sql.appendEvents,
              appendParams(appends, false, false),
            )
          ).rows
    } catch (error) {
      // The batch as a whole failed (and rolled back, or its commit is unknown): replay one by
      // one, idempotently, so each append gets its own outcome.
      const uncertain = mayHaveCommitted(error)
      for (const pending of batch)
        await this.#settle(pending, this.#single(pending.append, uncertain))
      return
    }
    for (let i = 0; i < batch.length; i++) {
      const pending = batch[i]!
      const row = rows[i]!
      if (row.status === 'busy') {
        // Locked by another transaction: wait for it on a connection of its own, without
        // holding this batch's place (the stream stays in flight until it is done).
        void this.#settle(pending, this.#single(pending.append))
        continue
      }
      void this.#settle(
        pending,
        Promise.resolve().then(() => toOutcome(row, pending.append)),
      )
    }
  }

  async #single(append: PreparedAppend, uncertain = false): Promise<AppendOutcome> {
    // A failed batch was the first attempt: one fewer here.
    const attempts = uncertain ? Math.max(1, this.options.attempts - 1) : this.options.attempts
    const [outcome] = await withAppendRetries<AppendOutcome[]>(
      [append],
      { attempts, uncertain, closed: this.options.closed },
      (idCheck) => appendAtomically(this.executor, this.sql, [append], idCheck),
    )
    return outcome!
  }
}
