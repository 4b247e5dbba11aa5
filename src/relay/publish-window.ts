import type { JetStreamClient } from './nats-client.js'
import type { OutgoingMessage } from './message.js'

/** The furthest point every publish up to which is acknowledged. */
export interface Confirmed {
  readonly position: bigint
  /** The JetStream sequence of the message of the event at `position`. */
  readonly sequence: number
}

interface Entry {
  readonly position: bigint
  readonly sentAt: number
  readonly createdAt: Date
  acked: boolean
  sequence: number
}

export interface WindowEvents {
  /** An acknowledgement moved the confirmed point (called in order). */
  confirmed(
    point: Confirmed,
    acked: number,
    ackMs: number,
    createdAt: Date,
    duplicate: number,
  ): void
  /** The first publish that failed (the window takes no more). */
  failed(error: unknown): void
}

/**
 * Publishes with a window of unacknowledged messages, each fenced on the stream's sequence.
 *
 * Every publish carries `Nats-Expected-Last-Sequence`: the message before it in this window (or
 * the stream's last message, for the first) must be the stream's last message when JetStream
 * stores it. JetStream handles a connection's publishes in order, so a full window lands in
 * one pass; if one fails (timeout, disconnect, another instance published meanwhile), every
 * later one fails its expectation too and nothing lands out of order. A re-send of a message
 * JetStream already has (within its duplicate window) is acknowledged as a duplicate, which
 * counts as acknowledged: the message is in the stream.
 */
export class PublishWindow {
  readonly #entries: Entry[] = []
  readonly #pending = new Set<Promise<void>>()
  #nextExpected: number
  #failure: { error: unknown } | undefined
  #wake: (() => void) | undefined
  #lastPosition: bigint

  constructor(
    private readonly js: JetStreamClient,
    /** The stream's last sequence (what the first publish expects). */
    lastSequence: number,
    /** The position after which publishing starts (positions must increase from there). */
    after: bigint,
    private readonly maxInFlight: number,
    private readonly timeoutMs: number,
    private readonly events: WindowEvents,
  ) {
    this.#nextExpected = lastSequence
    this.#lastPosition = after
  }

  /** Messages sent and not yet acknowledged. */
  get inFlight(): number {
    return this.#entries.length
  }

  /** Messages that may be sent now without waiting (0 once the window failed). */
  get free(): number {
    return this.#failure === undefined ? Math.max(0, this.maxInFlight - this.#entries.length) : 0
  }

  get failed(): boolean {
    return this.#failure !== undefined
  }

  /** Resolves once a message may be sent (false: the window failed and takes no more). */
  async room(): Promise<boolean> {
    while (this.#failure === undefined && this.#entries.length >= this.maxInFlight) {
      await new Promise<void>((resolve) => (this.#wake = resolve))
    }
    return this.#failure === undefined
  }

  /** Sends one message; its position must follow the previous one's. */
  send(position: bigint, createdAt: Date, message: OutgoingMessage, messageId: string): void {
    if (position <= this.#lastPosition)
      throw new Error(`relay window: position ${position} after ${this.#lastPosition}`)
    this.#lastPosition = position
    const expected = this.#nextExpected++
    const entry: Entry = {
      position,
      sentAt: performance.now(),
      createdAt,
      acked: false,
      sequence: 0,
    }
    this.#entries.push(entry)
    const work = this.js
      .publish(message.subject, message.body, {
        msgID: messageId,
        headers: message.headers,
        expect: { lastSequence: expected },
        timeout: this.timeoutMs,
      })
      .then(
        (ack) => {
          entry.acked = true
          entry.sequence = ack.seq
          this.#advance(ack.duplicate ? 1 : 0)
        },
        (error: unknown) => this.#fail(error),
      )
    this.#pending.add(work)
    void work.finally(() => this.#pending.delete(work))
  }

  /** Waits until every publish sent has been acknowledged or has failed. */
  async settle(): Promise<void> {
    while (this.#pending.size > 0) await Promise.all([...this.#pending])
  }

  /** The first failure, once settled (undefined when every publish was acknowledged). */
  get failure(): unknown {
    return this.#failure?.error
  }

  #advance(duplicate: number): void {
    let acked = 0
    let last: Entry | undefined
    while (this.#entries[0]?.acked === true) {
      last = this.#entries.shift()!
      acked++
    }
    if (last !== undefined) {
      this.events.confirmed(
        { position: last.position, sequence: last.sequence },
        acked,
        performance.now() - last.sentAt,
        last.createdAt,
        duplicate,
      )
    }
    this.#release()
  }

  #fail(error: unknown): void {
    if (this.#failure === undefined) {
      this.#failure = { error }
      this.events.failed(error)
    }
    this.#release()
  }

  #release(): void {
    const wake = this.#wake
    this.#wake = undefined
    wake?.()
  }
}
