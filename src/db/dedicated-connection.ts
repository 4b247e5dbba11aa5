import pg from 'pg'
import { clientExecutor, type SqlExecutor } from './executor.js'
import { tenantOfConfig, tenantQuery } from './tenant-pool.js'

/**
 * A connection of a live reader's own, opened on first use and replaced after a failure. Live
 * readers hold it while subscribed instead of taking a pooled one per page, so they never starve
 * the application's pool and closing them releases exactly what they opened.
 */
export class DedicatedConnection {
  #client: pg.Client | undefined
  #connecting: Promise<pg.Client> | undefined
  #closed = false
  /** One tenant executor per connection: it follows the connection's transaction state. */
  #tenantClient: { client: pg.Client; executor: SqlExecutor } | undefined

  constructor(private readonly config: pg.ClientConfig) {}

  async executor(): Promise<SqlExecutor> {
    const client = await this.#connect()
    const named = tenantOfConfig(this.config)
    if (named === undefined) return clientExecutor(client)
    // A tenant store's reader: every transaction names the tenant (see tenantPool).
    if (this.#tenantClient?.client !== client) {
      const query = tenantQuery(client.query.bind(client) as never, named.tenant, named.schema)
      this.#tenantClient = { client, executor: clientExecutor({ query } as never) }
    }
    return this.#tenantClient.executor
  }

  /** Drops the connection after an error; the next executor() opens a new one. */
  reset(): void {
    const client = this.#client
    this.#client = undefined
    this.#connecting = undefined
    if (client !== undefined) void client.end().catch(() => undefined)
  }

  /** Closes the connection for good: a later executor() is refused rather than reconnecting. */
  async close(): Promise<void> {
    this.#closed = true
    const client = this.#client ?? (await this.#connecting?.catch(() => undefined))
    this.#client = undefined
    this.#connecting = undefined
    await client?.end().catch(() => undefined)
  }

  #connect(): Promise<pg.Client> {
    if (this.#closed) return Promise.reject(new Error('the connection was closed'))
    if (this.#client !== undefined) return Promise.resolve(this.#client)
    this.#connecting ??= (async () => {
      const client = new pg.Client(this.config)
      // A dead connection reports here; the failing query reports it too, which is what we act on.
      client.on('error', () => undefined)
      try {
        await client.connect()
      } catch (error) {
        this.#connecting = undefined
        await client.end().catch(() => undefined)
        throw error
      }
      if (this.#closed) {
        // Closed while connecting: do not keep what nobody will close.
        await client.end().catch(() => undefined)
        throw new Error('the connection was closed')
      }
      this.#client = client
      return client
    })()
    return this.#connecting
  }
}
