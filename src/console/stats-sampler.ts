import { QUEUE_PREFIX } from '../consumers/index.js'
import type { ProjectionStatus } from '../projections/index.js'
import type { EventStore } from '../event-store.js'
import type { LiveFeed } from './live-feed.js'
import {
  connectionStats,
  countEvents,
  groupCounts,
  type ConnectionStats,
  type WindowCounts,
} from './sql.js'

/** A group or task queue in a sample. Positions as strings (JSON has no bigint). */
export interface GroupSample extends WindowCounts {
  readonly name: string
  readonly kind: 'group' | 'queue'
  readonly strategy: string
  readonly position: string
  readonly behind: string
  /** Positions of the log the group moved through per second since the previous sample. */
  readonly positionsPerSecond: number
}

/** A projection version in a sample: its status, and how fast it moved. */
export interface ProjectionSample {
  readonly name: string
  readonly version: number
  readonly status: ProjectionStatus['status']
  readonly mode: ProjectionStatus['mode']
  readonly paused: boolean
  readonly position: string
  readonly startedFrom: string
  readonly behind: string
  readonly secondsBehind: number
  readonly leaseOwner: string | null
  readonly failure: { position: string; eventId: string; error: string; at: string } | null
  readonly positionsPerSecond: number
}

/** What every page is sent each interval: computed once per console, shared by all tabs. */
export interface Sample {
  readonly at: string
  readonly schema: string
  readonly headPosition: string
  readonly events: { readonly count: number; readonly exact: boolean }
  /** Events the console's subscription received per second since the previous sample. */
  readonly eventsPerSecond: number
  readonly connections: ConnectionStats
  readonly groups: readonly GroupSample[]
  readonly projections: readonly ProjectionSample[]
  /** Set when the last sample failed (the database is unreachable, say). */
  readonly error: string | null
}

/** One point of the chart. */
export interface HistoryPoint {
  /** Milliseconds since the epoch. */
  readonly at: number
  readonly eventsPerSecond: number
  /** The largest `behind` of any group or queue (positions). */
  readonly groupLag: number
  /** The largest `behind` of any async projection version that is not retired (positions). */
  readonly projectionLag: number
  readonly parked: number
}

/** How often the event count is taken again (it may scan the table; the rest is cheap). */
const RECOUNT_MS = 30_000

/**
 * Samples the store every interval, once for the whole console however many pages are open:
 * head, event count, rate, connections, every group's counts and every projection's status;
 * keeps the chart's history. The rate comes from the console's own subscription (LiveFeed),
 * not from counting rows.
 */
export class StatsSampler {
  readonly #store: EventStore
  readonly #feed: LiveFeed
  readonly #intervalMs: number
  readonly #historySize: number
  readonly #listeners = new Set<(sample: Sample) => void>()
  #history: HistoryPoint[] = []
  #latest: Sample | undefined
  #previous:
    { at: number; groups: Map<string, bigint>; projections: Map<string, bigint> } | undefined
  #counted: { at: number; count: number; exact: boolean } | undefined
  #deliveredSinceCount = 0
  #timer: NodeJS.Timeout | undefined
  #sampling: Promise<void> | undefined
  #closed = false

  constructor(
    store: EventStore,
    feed: LiveFeed,
    options: { intervalMs: number; historyMs: number },
  ) {
    this.#store = store
    this.#feed = feed
    this.#intervalMs = options.intervalMs
    this.#historySize = Math.max(2, Math.ceil(options.historyMs / options.intervalMs))
  }

  /** Takes the first sample now (resolves once it is there), then one per interval. */
  async start(): Promise<void> {
    await this.#tick()
  }

  get latest(): Sample | undefined {
    return this.#latest
  }

  get history(): readonly HistoryPoint[] {
    return this.#history
  }

  /** Calls `listener` with every sample; returns the unsubscribe. */
  onSample(listener: (sample: Sample) => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  /** Samples again at once (after an action, so pages see its effect without waiting). */
  refresh(): void {
    if (this.#closed || this.#sampling !== undefined) return
    clearTimeout(this.#timer)
    void this.#tick()
  }

  async close(): Promise<void> {
    this.#closed = true
    clearTimeout(this.#timer)
    this.#listeners.clear()
    await this.#sampling
  }

  #tick(): Promise<void> {
    const sampling = this.#sample()
      .then((sample) => {
        this.#latest = sample
        for (const listener of this.#listeners) listener(sample)
      })
      .finally(() => {
        this.#sampling = undefined
        if (!this.#closed) this.#timer = setTimeout(() => void this.#tick(), this.#intervalMs)
      })
    this.#sampling = sampling
    return sampling
  }

  async #sample(): Promise<Sample> {
    const now = Date.now()
    const delivered = this.#feed.takeDelivered()
    this.#deliveredSinceCount += delivered
    const seconds = this.#previous === undefined ? 0 : (now - this.#previous.at) / 1000
    const eventsPerSecond = seconds > 0 ? delivered / seconds : 0
    try {
      const store = this.#store
      const head = await store.headPosition()
      const [counts, statuses, connections, events] = await Promise.all([
        groupCounts(store.pool, store.schema),
        store.projectionStatus(),
        connectionStats(store.pool),
        this.#events(now, head),
      ])
      const groups = counts.flatMap((g): GroupSample[] => {
        const queue = g.storedName.startsWith(QUEUE_PREFIX)
        if (!queue && g.storedName.startsWith('$')) return [] // strata's own
        const before = this.#previous?.groups.get(g.storedName)
        return [
          {
            name: queue ? g.storedName.slice(QUEUE_PREFIX.length) : g.storedName,
            kind: queue ? 'queue' : 'group',
            strategy: g.strategy,
            position: g.position.toString(),
            behind: (head > g.position ? head - g.position : 0n).toString(),
            pending: g.pending,
            delayed: g.delayed,
            inFlight: g.inFlight,
            retrying: g.retrying,
            parked: g.parked,
            consumers: g.consumers,
            positionsPerSecond: rate(before, g.position, seconds),
          },
        ]
      })
      const projections = statuses.map((p): ProjectionSample => {
        const before = this.#previous?.projections.get(`${p.name}\u0000${p.version}`)
        return {
          name: p.name,
          version: p.version,
          status: p.status,
          mode: p.mode,
          paused: p.paused,
          position: p.position.toString(),
          startedFrom: p.startedFrom.toString(),
          behind: p.behind.toString(),
          secondsBehind: p.secondsBehind,
          leaseOwner: p.leaseOwner,
          failure:
            p.failure === null
              ? null
              : {
                  position: p.failure.position.toString(),
                  eventId: p.failure.eventId,
                  error: p.failure.error,
                  at: p.failure.at.toISOString(),
                },
          positionsPerSecond: rate(before, p.position, seconds),
        }
      })
      this.#previous = {
        at: now,
        groups: new Map(counts.map((g) => [g.storedName, g.position])),
        projections: new Map(statuses.map((p) => [`${p.name}\u0000${p.version}`, p.position])),
      }
      this.#record({
        at: now,
        eventsPerSecond,
        groupLag: Math.max(0, ...groups.map((g) => Number(g.behind))),
        projectionLag: Math.max(
          0,
          ...projections.filter((p) => p.status !== 'retired').map((p) => Number(p.behind)),
        ),
        parked: groups.reduce((sum, g) => sum + g.parked, 0),
      })
      return {
        at: new Date(now).toISOString(),
        schema: store.schema,
        headPosition: head.toString(),
        events,
        eventsPerSecond,
        connections,
        groups,
        projections,
        error: null,
      }
    } catch (error) {
      this.#previous = undefined
      return {
        ...(this.#latest ?? emptySample(this.#store.schema)),
        at: new Date(now).toISOString(),
        error: error instanceof Error ? error.message : String(error),
      }
    }
  }

  /**
   * The event count: taken every RECOUNT_MS (it may scan the table), and in between the count
   * taken plus the events the subscription has seen since.
   */
  async #events(now: number, head: bigint): Promise<{ count: number; exact: boolean }> {
    if (this.#counted === undefined || now - this.#counted.at >= RECOUNT_MS) {
      const counted = await countEvents(this.#store.pool, this.#store.schema, head)
      this.#deliveredSinceCount = 0
      this.#counted = { at: now, ...counted }
      return counted
    }
    // Events appended while the count ran may be counted twice: no longer exact.
    return {
      count: this.#counted.count + this.#deliveredSinceCount,
      exact: this.#counted.exact && this.#deliveredSinceCount === 0,
    }
  }

  #record(point: HistoryPoint): void {
    this.#history = [...this.#history, point].slice(-this.#historySize)
  }
}

function rate(before: bigint | undefined, now: bigint, seconds: number): number {
  if (before === undefined || seconds <= 0 || now < before) return 0
  return Number(now - before) / seconds
}

function emptySample(schema: string): Sample {
  return {
    at: new Date().toISOString(),
    schema,
    headPosition: '0',
    events: { count: 0, exact: false },
    eventsPerSecond: 0,
    connections: { total: 0, active: 0, idle: 0, idleInTransaction: 0, max: 0, byApplication: [] },
    groups: [],
    projections: [],
    error: null,
  }
}
