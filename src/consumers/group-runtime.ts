import { randomUUID } from 'node:crypto'
import type { Subscription } from 'rxjs'
import { StoreClosedError } from '../errors.js'
import { archivedAware, type StoreCore, type EventRow } from '../store/index.js'
import {
  GroupDb,
  type AdmitResult,
  type ClaimResult,
  type GroupRow,
  type LeaseRef,
  type RetryRequest,
} from './group-db.js'
import { type Kick } from './kick.js'
import { componentLogger, type StrataLogger } from '../observability/index.js'
import { checkDefinition } from './group-definition.js'
import type { GroupSettings } from './options.js'
import { admitFromReplica } from './replica-admission.js'
import { SettleBatcher } from './settle-batcher.js'
import { consumerSql } from './sql.js'
import type { DeliveryError, StopOptions, StopResult } from './types.js'

/** What a group runtime needs from each of its running consumers. */
export interface AttachedConsumer {
  readonly kick: Kick
  stop(options?: StopOptions): Promise<StopResult>
}

export interface GroupRuntimeOptions<E> {
  readonly store: StoreCore
  /** The group's name in the database (`$queue:<name>` for a task queue). */
  readonly name: string
  /** The name users gave (the queue's name for a task queue; default: `name`). */
  readonly displayName?: string
  /** Default 'group'. */
  readonly kind?: 'group' | 'queue'
  readonly settings: GroupSettings
  /** Turns a stored event row into what handlers receive. @throws when it cannot. */
  readonly decode: (row: EventRow) => E
}

/** A claim with the token and the local time it was sent (the lease's local deadline base). */
export interface Claimed extends ClaimResult {
  readonly token: string
  readonly sentAt: number
}

/** Positions scanned per admission at most, so one admission stays short on a long log. */
const SCAN_LIMIT = 50_000
/** Most messages one claim statement leases (for all the local consumers it serves). */
const MAX_CLAIM_BATCH = 500
/**
 * Claim statements of this process in flight at once. A second one, sent while the first waited
 * for its commit, walked past the rows the first held and locked rows the first had just leased
 * (SKIP LOCKED takes the newest version of a row updated since its snapshot, and keeps the lock
 * when the recheck fails), so acks of those rows waited for it: with one, 16 round-robin consumers
 * drained 44,400 deliveries/s against 41,300 and 16 per-stream consumers 30,700-31,800 against
 * 28,000-28,600 (bench/scenarios/consumers.ts, 12-15 drains each); 1 and 4 consumers the same.
 */
const MAX_CLAIMS_IN_FLIGHT = 1

interface ClaimRequest {
  readonly want: number
  readonly resolve: (claimed: Claimed) => void
  readonly reject: (error: unknown) => void
}

/**
 * One group as this process sees it: its row (created on first use), admission shared by all
 * local consumers (one at a time), batched acks and nacks, and wake-ups. Correctness lives in
 * the database (migrations/0003); this class only saves round trips and latency.
 */
export class GroupRuntime<E> {
  readonly db: GroupDb
  /** The name in the database: internal (a task queue's is `$queue:<name>`). */
  readonly name: string
  /** The name users gave and see: in status, delivery contexts, errors and logs. */
  readonly displayName: string
  readonly kind: 'group' | 'queue'
  /** The store's logger, for this group's deliveries. */
  readonly log: StrataLogger
  readonly settings: GroupSettings
  readonly decode: (row: EventRow) => E
  readonly #store: StoreCore
  #group: Promise<GroupRow> | undefined
  #admission: Promise<AdmitResult> | undefined
  readonly #acks: SettleBatcher<LeaseRef>
  readonly #retries: SettleBatcher<RetryRequest>
  readonly #consumers = new Set<AttachedConsumer>()
  /** Identifies this process's claims in the window (consumer_id), for diagnosis. */
  readonly #claimerId = randomUUID()
  #claims: ClaimRequest[] = []
  #claiming = 0
  /** When admission last found the window full, and window slots this process freed since. */
  #fullAt = -Infinity
  #freedSinceFull = 0
  /** Window slots this process freed since its last admission (see admitAhead). */
  #freedSinceAdmission = 0
  /** Acks since this process last vacuumed the consumer tables, and whether one is running. */
  #acksSinceVacuum = 0
  #vacuuming = false
  #wakeups: Subscription | undefined
  #removeCloseHook: (() => void) | undefined

  constructor(options: GroupRuntimeOptions<E>) {
    this.#store = options.store
    this.name = options.name
    this.displayName = options.displayName ?? options.name
    this.kind = options.kind ?? 'group'
    this.log = componentLogger(options.store.logger, 'consumer')
    this.settings = options.settings
    this.decode = options.decode
    this.db = new GroupDb(
      options.store.pool,
      options.store.statements,
      consumerSql(options.store.schema),
    )
    // Refuses readFrom 'replica' on a store without replicas.
    options.store.readTarget(options.settings.delivery.readFrom, 'all')
    this.#acks = new SettleBatcher(async (leases) => this.db.ack(await this.groupId(), leases))
    this.#retries = new SettleBatcher(async (requests) =>
      this.db.retry(await this.groupId(), requests),
    )
  }

  get store(): StoreCore {
    return this.#store
  }

  /**
   * The group's id, creating the group on first use.
   * @throws ConfigError when it exists with another definition.
   */
  async groupId(): Promise<number> {
    return (await this.ensure()).id
  }

  /**
   * Resolves once the store's schema is usable: every entry point goes through it (directly or
   * through {@link ensure}), so a missing migration is a SchemaOutdatedError (`migrate:
   * 'check'`) or is applied (`migrate: 'auto'`) rather than a raw database error.
   * @throws StoreClosedError, SchemaOutdatedError
   */
  ready(): Promise<void> {
    if (this.#store.closed) return Promise.reject(new StoreClosedError())
    return this.#store.ready()
  }

  /**
   * Creates the group if absent and checks the stored definition against ours (once per
   * runtime, again after the group was found missing). Checks the store's schema first.
   * @throws ConfigError when it exists with another source, strategy or parkedStream.
   * @throws SchemaOutdatedError when the schema is behind (with `migrate: 'check'`).
   */
  ensure(): Promise<GroupRow> {
    if (this.#store.closed) return Promise.reject(new StoreClosedError())
    if (this.#group !== undefined) return this.#group
    const group = this.ready()
      .then(() => this.db.ensure(this.name, this.settings.definition, this.settings.start))
      .then((row) => {
        checkDefinition(this.displayName, row, this.settings.definition)
        return row
      })
    this.#group = group
    group.catch(() => {
      // Try again next time (after a lost connection; a wrong definition fails again).
      if (this.#group === group) this.#group = undefined
    })
    return group
  }

  /**
   * Moves events from the log into the window; concurrent callers in this process share one
   * admission. Wakes local consumers when it admitted something.
   */
  admit(): Promise<AdmitResult> {
    const { windowSize, maxWaitMs, pollIntervalMs } = this.settings.delivery
    // A full window stays full until acks free a good share of it: per-stream consumers that
    // find only blocked messages would otherwise count the window after every claim. Other
    // processes' acks are seen after a poll interval at the latest.
    if (
      this.#freedSinceFull < Math.max(1, windowSize / 8) &&
      Date.now() - this.#fullAt < pollIntervalMs
    ) {
      return Promise.resolve({ status: 'full', admitted: 0 })
    }
    this.#admission ??= (async () => {
      this.#freedSinceAdmission = 0
      try {
        const result = await this.#admit(windowSize, maxWaitMs)
        if (result.status === 'missing') this.#group = undefined
        if (result.status === 'full') {
          this.#fullAt = Date.now()
          this.#freedSinceFull = 0
        } else {
          this.#fullAt = -Infinity
        }
        if (result.admitted > 0) this.broadcast()
        return result
      } finally {
        this.#admission = undefined
      }
    })()
    return this.#admission
  }

  /** One admission: the log read on the primary, or on a replica (`readFrom: 'replica'`). */
  async #admit(windowSize: number, maxWaitMs: number): Promise<AdmitResult> {
    const onPrimary = async () =>
      this.db.admit(await this.groupId(), windowSize, SCAN_LIMIT, maxWaitMs)
    if (this.settings.delivery.readFrom === 'primary') return archivedAware(onPrimary)
    const group = await this.ensure()
    return archivedAware(() =>
      admitFromReplica(
        this.#store,
        this.db.sql,
        group,
        windowSize,
        SCAN_LIMIT,
        maxWaitMs,
        onPrimary,
      ),
    )
  }

  /** A window slot was freed here (ack, park): admission may find room again. */
  #freed(): void {
    this.#freedSinceFull++
    this.#freedSinceAdmission++
  }

  /**
   * Admits in the background once acks here freed a quarter of the window since the last
   * admission, so the window is topped up while consumers still have messages to claim, rather
   * than refilled only once a claim comes back short (which makes every consumer wait for it).
   */
  admitAhead(): void {
    const { windowSize, onError } = this.settings.delivery
    if (this.#admission !== undefined) return
    if (this.#freedSinceAdmission < Math.max(1, windowSize / 4)) return
    this.admit().catch(onError)
  }

  /**
   * Leases up to `limit` deliverable messages to a consumer. The requests of all local
   * consumers are served by at most MAX_CLAIMS_IN_FLIGHT claim statements at a time (more
   * would only contend for the same rows and pages): those that arrive meanwhile are claimed
   * together next, and the rows are split in arrival order. They share a lease token, which is
   * fine: a lease is its message's position with that token.
   */
  claim(_consumerId: string, limit: number): Promise<Claimed> {
    return new Promise<Claimed>((resolve, reject) => {
      this.#claims.push({ want: limit, resolve, reject })
      void this.#claimNext()
    })
  }

  async #claimNext(): Promise<void> {
    if (this.#claiming >= MAX_CLAIMS_IN_FLIGHT || this.#claims.length === 0) return
    this.#claiming++
    const batch: ClaimRequest[] = []
    let total = 0
    while (this.#claims.length > 0 && total + this.#claims[0]!.want <= MAX_CLAIM_BATCH) {
      const request = this.#claims.shift()!
      batch.push(request)
      total += request.want
    }
    if (batch.length === 0) {
      batch.push(this.#claims.shift()!) // a single request larger than a batch
      total = batch[0]!.want
    }
    try {
      const claimed = await this.#claimRows(total)
      let next = 0
      for (const request of batch) {
        const rows = claimed.rows.slice(next, next + request.want)
        next += rows.length
        request.resolve({ ...claimed, rows })
      }
    } catch (error) {
      for (const request of batch) request.reject(error)
    } finally {
      this.#claiming--
      void this.#claimNext()
    }
  }

  async #claimRows(limit: number): Promise<Claimed> {
    const groupId = await this.groupId()
    const { leaseMs, maxConcurrency, maxPerSecond } = this.settings.delivery
    const { strategy, holdParkedStreams } = this.settings.definition
    const token = randomUUID()
    const sentAt = Date.now()
    const result = await this.db.claim(
      groupId,
      this.#claimerId,
      token,
      limit,
      leaseMs,
      strategy === 'per-stream',
      holdParkedStreams,
      maxConcurrency,
      maxPerSecond,
    )
    return { ...result, token, sentAt }
  }

  /** Acks (batched). Resolves to whether the lease still held. */
  ack(lease: LeaseRef): Promise<boolean> {
    return this.#acks.settle(lease).finally(() => {
      this.#freed()
      this.#countAck()
    })
  }

  /**
   * Acked messages are deleted; their space is reused once vacuumed. Every `vacuumEvery` acks
   * this process vacuums the consumer tables itself, so they stay small however autovacuum is
   * configured (see DeliveryOptions.vacuumEvery).
   */
  #countAck(): void {
    const { vacuumEvery, onError } = this.settings.delivery
    if (vacuumEvery === 0 || ++this.#acksSinceVacuum < vacuumEvery || this.#vacuuming) return
    if (this.#store.closed) return
    this.#acksSinceVacuum = 0
    this.#vacuuming = true
    void this.db
      .vacuum()
      .catch(onError)
      .finally(() => {
        this.#vacuuming = false
      })
  }

  /** Ends a lease (batched): a nack with a delay, or a release with none. */
  retry(
    lease: LeaseRef,
    delayMs: number,
    error: DeliveryError | undefined,
    uncount: boolean,
  ): Promise<boolean> {
    return this.#retries.settle({ ...lease, delayMs, error, uncount })
  }

  /** Parks a leased message. Resolves to whether the lease still held. */
  async park(lease: LeaseRef, reason: string, error: DeliveryError | undefined) {
    try {
      return await this.db.park(await this.groupId(), lease.position, lease.token, reason, error)
    } finally {
      this.#freed()
    }
  }

  /** Registers or refreshes a consumer and renews its leases; resolves to those still held. */
  async heartbeat(
    consumerId: string,
    label: string,
    concurrency: number,
    leases: readonly LeaseRef[],
  ): Promise<Set<bigint>> {
    const { heartbeatMs, leaseMs } = this.settings.delivery
    return this.db.heartbeat(
      await this.groupId(),
      consumerId,
      label,
      concurrency,
      Math.max(3 * heartbeatMs, leaseMs),
      leases,
      leaseMs,
    )
  }

  async unregister(consumerId: string): Promise<void> {
    await this.db.unregister(await this.groupId(), consumerId)
  }

  /** Resolves once no ack or nack of this process is queued or in flight. */
  async drainSettlements(): Promise<void> {
    await Promise.all([this.#acks.drain(), this.#retries.drain()])
  }

  /** Wakes every local consumer (new messages may be deliverable). */
  broadcast(): void {
    for (const consumer of this.#consumers) consumer.kick.notify()
  }

  /**
   * Wakes the consumers of every process, after something other than an append made messages
   * deliverable (released leases, replayed dead letters, a reset). A hint: they also poll.
   */
  async wakeEveryone(): Promise<void> {
    this.broadcast()
    if (this.#store.closed) return
    await this.#store.pool
      .query(this.#store.sql.notify, ['0'])
      .catch(this.settings.delivery.onError)
  }

  /**
   * A consumer starts: listen for appends while any runs, and stop them all on store.close().
   * @throws StoreClosedError
   */
  attach(consumer: AttachedConsumer): void {
    if (this.#store.closing) throw new StoreClosedError()
    this.#consumers.add(consumer)
    if (this.#consumers.size > 1) return
    if (this.#store.listens) {
      this.#wakeups = this.#store.notifications.wakeups$.subscribe(() => this.broadcast())
    }
    this.#removeCloseHook = this.#store.onClose(async () => {
      await Promise.all([...this.#consumers].map((c) => c.stop()))
    })
  }

  /** A consumer stopped. */
  detach(consumer: AttachedConsumer): void {
    if (!this.#consumers.delete(consumer) || this.#consumers.size > 0) return
    this.#wakeups?.unsubscribe()
    this.#wakeups = undefined
    this.#removeCloseHook?.()
    this.#removeCloseHook = undefined
  }

  /** Stops every consumer of this runtime. */
  async stopAll(options?: StopOptions): Promise<void> {
    await Promise.all([...this.#consumers].map((c) => c.stop(options)))
  }

  /** Forgets the group's row (after a delete): the next use creates it again. */
  forget(): void {
    this.#group = undefined
  }
}
