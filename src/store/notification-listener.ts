import pg from 'pg'
import { Observable, share } from 'rxjs'
import { type Backoff, backoffDelay, RECONNECT_BACKOFF } from '../config/index.js'

export interface NotificationListenerOptions {
  /** Connection settings for the dedicated LISTEN connection (a pool's own settings work). */
  readonly connection: pg.ClientConfig
  /** The channel appends NOTIFY on. */
  readonly channel: string
  /** Delays between reconnection attempts (default: RECONNECT_BACKOFF, 50 ms doubling to 5 s). */
  readonly backoff?: Backoff
  /** Errors of the listening connection (it reconnects by itself); default: ignored. */
  readonly onError?: (error: unknown) => void
  /**
   * Called (once per listener) when the LISTEN session turns out to be shared with other clients:
   * a transaction-mode pooler such as PgBouncer, where notifications get lost.
   */
  readonly onSharedSession?: () => void
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
  /** The session check runs once per listener. */
  #sessionChecked = false

  constructor(private readonly options: NotificationListenerOptions) {
    this.wakeups$ = new Observable<void>((subscriber) => {
      let client: pg.Client | undefined
      let stopped = false
      let timer: NodeJS.Timeout | undefined
      let failures = 0
      const listen = `LISTEN ${quoteChannel(options.channel)}`

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
          await candidate.query(listen)
          if (stopped || client !== candidate) {
            await candidate.end().catch(() => undefined)
            return
          }
          failures = 0
          subscriber.next() // catch up on anything missed while not listening
          if (!this.#sessionChecked && options.onSharedSession !== undefined) {
            this.#sessionChecked = true
            void sharesSession(candidate, options.connection)
              .then(
                (shared) => {
                  if (shared) options.onSharedSession?.()
                },
                () => undefined, // a failed check proves nothing
              )
              // LISTEN again (a no-op on a session of its own), so that pg_stat_activity shows
              // the listener's last statement as its LISTEN, as it did before the check.
              .then(async () => {
                if (client === candidate) await candidate.query(listen)
              })
              .catch(() => undefined)
          }
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
        const delay = backoffDelay(++failures, options.backoff ?? RECONNECT_BACKOFF)
        timer = setTimeout(() => void connect(), delay)
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

/**
 * Whether the LISTEN connection's server session is handed to other clients between
 * transactions, as a transaction-mode pooler does. Either proves it: the listening connection
 * reports two backends over a few statements, or a second connection lands on its backend (the
 * pooler gives out the server connection that just went idle). A direct connection, or a
 * session-mode pooler, never does either. Other clients' traffic can hide a pooler from a
 * round, hence a few rounds; it stays a best-effort check.
 */
export async function sharesSession(
  listening: pg.Client,
  connection: pg.ClientConfig,
  rounds = 5,
): Promise<boolean> {
  const pidOf = async (client: pg.Client) =>
    (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid
  const probe = new pg.Client({ ...connection, application_name: 'strata listener check' })
  probe.on('error', () => undefined)
  try {
    await probe.connect()
    const listeningPids = new Set<number | undefined>()
    for (let round = 0; round < rounds; round++) {
      listeningPids.add(await pidOf(listening))
      if (listeningPids.size > 1 || listeningPids.has(await pidOf(probe))) return true
    }
    return false
  } finally {
    await probe.end().catch(() => undefined)
  }
}

function quoteChannel(channel: string): string {
  return `"${channel.replaceAll('"', '""')}"`
}
