import pg from 'pg'
import { Observable, share } from 'rxjs'

export interface NotificationListenerOptions {
  /** Connection settings for the dedicated LISTEN connection (a pool's own settings work). */
  readonly connection: pg.ClientConfig
  /** The channel appends NOTIFY on. */
  readonly channel: string
  /** First and largest delay between reconnection attempts (default 100 ms and 5 s). */
  readonly minBackoffMs?: number
  readonly maxBackoffMs?: number
  /** Errors of the listening connection (it reconnects by itself); default: ignored. */
  readonly onError?: (error: unknown) => void
}

/**
 * Wake-ups for live readers: one dedicated connection LISTENs on the store's channel and
 * `wakeups$` emits on every notification, and once after every (re)connection so readers catch up
 * on whatever was missed while it was down. It is only a hint: readers also poll, so a lost
 * notification, a dropped listener or a pooler that cannot LISTEN costs latency, never events.
 *
 * The connection is opened when the first reader subscribes and closed when the last one leaves.
 * It needs a session of its own (LISTEN does not work through a transaction-mode pooler).
 */
export class NotificationListener {
  readonly wakeups$: Observable<void>
  #latest = 0n
  /** The connection being closed after the last reader left, if any. */
  #ending: Promise<void> | undefined

  constructor(private readonly options: NotificationListenerOptions) {
    this.wakeups$ = new Observable<void>((subscriber) => {
      let client: pg.Client | undefined
      let stopped = false
      let timer: NodeJS.Timeout | undefined
      let backoff = options.minBackoffMs ?? 100

      const connect = async () => {
        if (stopped) return
        const candidate = new pg.Client(options.connection)
        client = candidate
        candidate.on('notification', (message) => {
          this.#note(message.payload)
          subscriber.next()
        })
        candidate.on('error', (error) => lost(candidate, error))
        candidate.on('end', () => lost(candidate, new Error('listen connection ended')))
        try {
          await candidate.connect()
          await candidate.query(`LISTEN ${quoteChannel(options.channel)}`)
          if (stopped || client !== candidate) {
            await candidate.end().catch(() => undefined)
            return
          }
          backoff = options.minBackoffMs ?? 100
          subscriber.next() // catch up on anything missed while not listening
        } catch (error) {
          lost(candidate, error)
        }
      }

      const lost = (candidate: pg.Client, error: unknown) => {
        if (client !== candidate) return // already replaced
        client = undefined
        candidate.removeAllListeners('end')
        candidate.on('error', () => undefined)
        void candidate.end().catch(() => undefined)
        if (stopped) return
        options.onError?.(error)
        subscriber.next() // readers poll at once rather than wait for a notification
        timer = setTimeout(() => void connect(), backoff * (0.5 + Math.random()))
        backoff = Math.min(backoff * 2, options.maxBackoffMs ?? 5000)
      }

      void connect()
      return () => {
        stopped = true
        if (timer !== undefined) clearTimeout(timer)
        const current = client
        client = undefined
        if (current !== undefined) {
          current.removeAllListeners('end')
          current.on('error', () => undefined)
          this.#ending = current.end().catch(() => undefined)
        }
      }
    }).pipe(share())
  }

  /**
   * The highest position a notification announced (appends NOTIFY the last position they
   * committed); 0n before any. Replica readers use it to know there is more to wait for.
   */
  get latestPosition(): bigint {
    return this.#latest
  }

  #note(payload: string | undefined): void {
    if (payload === undefined || !/^\d{1,19}$/.test(payload)) return
    const position = BigInt(payload)
    if (position > this.#latest) this.#latest = position
  }

  /** Resolves once the connection closed after the last reader left (store.close() waits). */
  async closed(): Promise<void> {
    await this.#ending
  }
}

function quoteChannel(channel: string): string {
  return `"${channel.replaceAll('"', '""')}"`
}
