import {
  type SqlExecutor,
  DedicatedConnection,
  clientExecutor,
  toBigInt,
  isTransientError,
} from '../db/index.js'
import { A_TIMESTAMP, backoffDelay, checkRetry, isTimestamp, type Retry } from '../config/index.js'
import { ConfigError, describeText, InvalidArgumentError } from '../errors.js'
import {
  type StoreCore,
  type EventRow,
  type AllFilter,
  type ReadFrom,
  type RecordedEvent,
  checkPositiveInt,
} from '../store/index.js'
import { componentLogger, errorFields } from '../observability/index.js'
import { SubscriptionError } from './errors.js'
import { subscriptionSql } from './sql.js'
import type { LiveOptions, RetryPolicy, SubscriptionRetry, SubscriptionStart } from './types.js'
import { WakeUp } from './wake-up.js'
import { delay } from './delay.js'

/** One page of a feed: events after the cursor, the cursor after them, and whether that is all. */
export interface FeedPage {
  readonly events: readonly RecordedEvent[]
  /** Where the next read starts; can be past the last event (a filter scanned further). */
  readonly cursor: bigint
  /** Nothing more right now: wait for a wake-up before reading again. */
  readonly caughtUp: boolean
}

/** What a feed reads: $all (optionally filtered) or one stream. */
export interface FeedSource {
  readonly label: string
  /**
   * Reads on a replica (through the store's replica pools): the feed then holds no connection
   * of its own to the primary, and start() and read() get the primary's pool.
   */
  readonly onReplica: boolean
  /** The cursor to start after (events with a greater position, or version, are delivered). */
  start(db: SqlExecutor): Promise<bigint>
  read(cursor: bigint, limit: number, db: SqlExecutor): Promise<FeedPage>
}

/** $all, or the part of it a filter selects, through the gap-safe reader. */
export function allSource(
  store: StoreCore,
  label: string,
  from: SubscriptionStart | (() => Promise<SubscriptionStart>),
  filter: AllFilter | undefined,
  readFrom: ReadFrom = 'primary',
): FeedSource {
  const sql = subscriptionSql(store.schema)
  const chase = new NotificationChase(store)
  return {
    label,
    onReplica: readFrom === 'replica',
    async start(db) {
      const start = typeof from === 'function' ? await from() : from
      if (start === 'start') return 0n
      if (typeof start === 'bigint') return start
      if (start instanceof Date) {
        const { rows } = await db.query<{ position: string }>(sql.positionAtTime, [start])
        return toBigInt(rows[0]?.position ?? '1') - 1n
      }
      // 'end': after every event committed now. Waiting for the appends in flight makes the
      // horizon exact; if they outlast the wait, a few of them may still be delivered.
      await store.horizon.refresh(5000, db)
      return store.horizon.known
    },
    async read(cursor, limit, db) {
      const page = await store.readAllPage(
        { after: cursor, limit, filter, maxWaitMs: 200 },
        { readFrom },
        db,
      )
      const caughtUp =
        page.isEnd && (readFrom === 'primary' || !(await chase.behind(page.lastPosition)))
      return { events: page.events, cursor: page.lastPosition, caughtUp }
    },
  }
}

/**
 * Wake-ups come from the primary (a hot standby cannot LISTEN), usually before the replica has
 * replayed what they announce. A replica feed that is caught up while a notification announced
 * a later position reads again shortly (backing off to 100 ms) instead of waiting for the next
 * wake-up, for at most the staleness bound per announced position.
 */
export class NotificationChase {
  #since: number | undefined
  #delayMs = 2

  constructor(private readonly store: StoreCore) {}

  /** Whether the replica is behind the last announced position (after a short pause). */
  async behind(cursor: bigint): Promise<boolean> {
    const announced = this.store.listens ? this.store.notifications.latestPosition : 0n
    const limit = this.store.replicas?.maxLagMs ?? 0
    if (cursor >= announced) {
      this.#since = undefined
      this.#delayMs = 2
      return false
    }
    this.#since ??= Date.now()
    if (Date.now() - this.#since > limit) return false
    await new Promise((resolve) => setTimeout(resolve, this.#delayMs))
    this.#delayMs = Math.min(100, this.#delayMs * 2)
    return true
  }
}

/** One stream in version order. Appends to a stream commit in version order, so no gaps. */
export function streamSource(
  store: StoreCore,
  streamId: string,
  from: 'start' | 'end' | bigint,
  readFrom: ReadFrom = 'primary',
): FeedSource {
  const sql = subscriptionSql(store.schema)
  // Appends to a stream serialise on its lock, so they commit (and replay) in version order: a
  // replica shows a prefix of the stream.
  return {
    label: `stream ${describeText(streamId)}`,
    onReplica: readFrom === 'replica',
    async start(db) {
      if (from === 'start') return 0n
      if (typeof from === 'bigint') return from
      const { rows } = await db.query<{ version: string }>(sql.streamVersion, [streamId])
      return toBigInt(rows[0]?.version ?? '0')
    },
    async read(cursor, limit, db) {
      const query = (on: SqlExecutor) =>
        on.query<EventRow>(store.sql.readStream, [streamId, (cursor + 1n).toString(), limit, false])
      const { rows } =
        readFrom === 'primary' ? await query(db) : await store.readOn({ readFrom }, 'all', query)
      const events = rows.map((row) => store.toRecordedEvent(row))
      const last = events[events.length - 1]
      return {
        events,
        cursor: last === undefined ? cursor : last.version,
        caughtUp: rows.length < limit,
      }
    },
  }
}

export interface FeedSettings {
  readonly pageSize: number
  readonly pollIntervalMs: number
  readonly retry: Retry
  readonly onRetry: ((retry: SubscriptionRetry) => void) | undefined
}

/** Retry forever, like consumer groups: an outage of Postgres never ends a subscription. */
const SUBSCRIPTION_RETRY: Retry = {
  maxAttempts: Infinity,
  initialMs: 100,
  maxMs: 30_000,
  multiplier: 2,
  jitter: 0.5,
}

export function feedSettings(options: LiveOptions): FeedSettings {
  const given: RetryPolicy | undefined = options.retry
  let retry: Retry
  try {
    retry = checkRetry(given, SUBSCRIPTION_RETRY, 'retry.', ['onRetry'])
  } catch (error) {
    // Options of a subscription are arguments of its call (InvalidArgumentError, as the others).
    if (error instanceof ConfigError) {
      throw new InvalidArgumentError(error.option, error.value, error.reason)
    }
    throw error
  }
  const onRetry = given?.onRetry
  if (onRetry !== undefined && typeof onRetry !== 'function') {
    throw new InvalidArgumentError('retry.onRetry', onRetry, 'must be a function')
  }
  return {
    pageSize: checkPositiveInt('pageSize', options.pageSize ?? 1000, 100_000),
    pollIntervalMs: checkPositiveInt('pollIntervalMs', options.pollIntervalMs ?? 500),
    retry,
    onRetry,
  }
}

export function checkStart(from: unknown, allowDate: boolean): void {
  const ok =
    from === undefined ||
    from === 'start' ||
    from === 'end' ||
    (typeof from === 'bigint' && from >= 0n) ||
    (allowDate && isTimestamp(from))
  if (!ok) {
    throw new InvalidArgumentError(
      'from',
      from,
      `expected 'start', 'end', a bigint >= 0n${allowDate ? ` or ${A_TIMESTAMP}` : ''}`,
    )
  }
}

/**
 * The pull-based source every live read is built on: pages while catching up, then one read per
 * wake-up (a notification, or the polling interval). It reads on a connection of its own and
 * survives dropped connections and restarts: it reconnects with backoff and resumes after the
 * last event it delivered, so nothing is skipped or repeated. By default it retries transient
 * errors forever; errors that are not transient, or transient ones beyond a finite retry policy,
 * end it with a SubscriptionError.
 *
 * It yields pages (the events of one read, in order); the next page is read only when the
 * consumer asks for it, having handled the previous one, so a slow consumer holds at most one
 * page in memory.
 */
export async function* livePages(
  store: StoreCore,
  source: FeedSource,
  settings: FeedSettings,
  signal: AbortSignal,
): AsyncGenerator<readonly RecordedEvent[], void, undefined> {
  const connection = new DedicatedConnection({
    ...store.pool.options,
    application_name: 'strata subscription',
  })
  const wake = new WakeUp(
    store.listens ? store.notifications.wakeups$ : undefined,
    settings.pollIntervalMs,
  )
  let cursor: bigint | undefined
  let failures = 0
  let outageStarted = 0
  const logger = componentLogger(store.logger, 'subscription')
  // A consumer may stop pulling (an async iterator left suspended): release the connections
  // when the subscription is stopped, not only when the generator next runs.
  const release = () => {
    wake.close()
    store.track(connection.close())
  }
  signal.addEventListener('abort', release, { once: true })
  try {
    while (!signal.aborted) {
      let page: FeedPage
      try {
        if (cursor === undefined) await store.ready()
        const db = source.onReplica ? clientExecutor(store.pool) : await connection.executor()
        cursor ??= await source.start(db)
        wake.arm()
        const from = cursor
        page = store.telemetry.enabled
          ? await store.telemetry.span(
              'strata.subscription.read',
              { 'strata.subscription': source.label, 'strata.after': from.toString() },
              () => source.read(from, settings.pageSize, db),
            )
          : await source.read(from, settings.pageSize, db)
        store.telemetry.count('strata.subscription.delivered', page.events.length, {
          'strata.subscription': source.label,
        })
        if (failures > 0) {
          logger.info(
            {
              subscription: source.label,
              position: (cursor ?? 0n).toString(),
              attempts: failures,
              outageMs: Date.now() - outageStarted,
            },
            'subscription reconnected',
          )
        }
        failures = 0
      } catch (error) {
        if (signal.aborted) return
        failures++
        if (failures === 1) outageStarted = Date.now()
        if (!isTransientError(error) || failures >= settings.retry.maxAttempts) {
          throw new SubscriptionError(source.label, cursor ?? 0n, failures, { cause: error })
        }
        connection.reset()
        const wait = backoffDelay(failures, settings.retry)
        const position = cursor ?? 0n
        logger.warn(
          {
            subscription: source.label,
            position: position.toString(),
            attempt: failures,
            retryInMs: wait,
            ...errorFields(error),
          },
          'subscription reconnecting',
        )
        try {
          settings.onRetry?.({
            subscription: source.label,
            position,
            attempt: failures,
            delayMs: wait,
            error,
          })
        } catch (callbackError) {
          store.reportError(callbackError) // a faulty callback must not end the subscription
        }
        await delay(wait, signal)
        continue
      }
      if (page.events.length > 0) {
        yield page.events
        if (signal.aborted) return
      }
      // Asked for the next page: every event of this one was handled.
      if (page.cursor > cursor) cursor = page.cursor
      if (page.caughtUp) await wake.wait(signal)
    }
  } finally {
    signal.removeEventListener('abort', release)
    wake.close()
    await connection.close()
  }
}
