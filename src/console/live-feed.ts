import type { EventStore } from '../event-store.js'
import type { RecordedEvent } from '../store/index.js'

/** An event as the tail shows it: data and metadata as JSON text, cut at PREVIEW_CHARS. */
export interface TailEvent {
  readonly id: string
  readonly position: string
  readonly streamId: string
  readonly version: string
  readonly type: string
  readonly createdAt: string
  readonly data: string
  readonly metadata: string
  /** Whether data or metadata was cut (the stream page shows them whole). */
  readonly truncated: boolean
}

/** A flush of the tail: the newest events since the last one, and how many were left out. */
export interface TailBatch {
  readonly events: readonly TailEvent[]
  readonly skipped: number
}

const PREVIEW_CHARS = 2_000
/** Events kept for a page that connects (and most sent in one flush). */
const RECENT = 100
const FLUSH_MS = 250
const RESTART_MS = 1_000

/**
 * The console's one subscription to $all, from the end, shared by every open page: events are
 * collected and flushed to the listeners four times a second (at most RECENT per flush, the
 * newest; a page cannot draw thousands a second anyway), and counted for the append rate. A
 * failed subscription starts again after the last event it delivered, so no event is missed.
 */
export class LiveFeed {
  readonly #store: EventStore
  readonly #onError: (error: unknown) => void
  readonly #abort = new AbortController()
  readonly #listeners = new Set<(batch: TailBatch) => void>()
  #recent: TailEvent[] = []
  #pending: TailEvent[] = []
  #skipped = 0
  #delivered = 0
  #lastPosition: bigint | undefined
  #timer: NodeJS.Timeout | undefined
  #running: Promise<void> | undefined

  constructor(store: EventStore, onError: (error: unknown) => void) {
    this.#store = store
    this.#onError = onError
  }

  start(): void {
    this.#running ??= this.#run()
    this.#timer ??= setInterval(() => this.#flush(), FLUSH_MS)
  }

  /** The newest events seen (oldest first), for a page that just connected. */
  recent(): readonly TailEvent[] {
    return this.#recent
  }

  /** Events delivered since the last call (the sampler turns them into a rate). */
  takeDelivered(): number {
    const n = this.#delivered
    this.#delivered = 0
    return n
  }

  /** The position of the last event delivered, if any. */
  get lastPosition(): bigint | undefined {
    return this.#lastPosition
  }

  /** Calls `listener` with every flush; returns the unsubscribe. */
  onBatch(listener: (batch: TailBatch) => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  async close(): Promise<void> {
    this.#abort.abort()
    clearInterval(this.#timer)
    this.#listeners.clear()
    await this.#running
  }

  async #run(): Promise<void> {
    const signal = this.#abort.signal
    while (!signal.aborted) {
      try {
        for await (const event of this.#store.subscribeToAll({
          from: this.#lastPosition ?? 'end',
          signal,
        })) {
          this.#lastPosition = event.position
          this.#delivered++
          this.#pending.push(toTailEvent(event))
          if (this.#pending.length > RECENT) {
            this.#pending.shift()
            this.#skipped++
          }
        }
      } catch (error) {
        if (signal.aborted || this.#store.core.closing) return
        this.#onError(error)
        await new Promise((resolve) => setTimeout(resolve, RESTART_MS))
      }
      if (this.#store.core.closing) return
    }
  }

  #flush(): void {
    if (this.#pending.length === 0) return
    const batch: TailBatch = { events: this.#pending, skipped: this.#skipped }
    this.#recent = [...this.#recent, ...this.#pending].slice(-RECENT)
    this.#pending = []
    this.#skipped = 0
    for (const listener of this.#listeners) listener(batch)
  }
}

/** An event with its data and metadata as (cut) JSON text: the page shows text, nothing else. */
export function toTailEvent(event: RecordedEvent): TailEvent {
  const data = jsonText(event.data)
  const metadata = jsonText(event.metadata)
  return {
    id: event.id,
    position: event.position.toString(),
    streamId: event.streamId,
    version: event.version.toString(),
    type: event.type,
    createdAt: event.createdAt.toISOString(),
    data: data.slice(0, PREVIEW_CHARS),
    metadata: metadata.slice(0, PREVIEW_CHARS),
    truncated: data.length > PREVIEW_CHARS || metadata.length > PREVIEW_CHARS,
  }
}

function jsonText(value: unknown): string {
  return (
    JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) ??
    'null'
  )
}
