import { checkOptions, optionKeys } from '../config/index.js'
import { setMaxListeners } from 'node:events'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createAdaptorServer } from '@hono/node-server'
import { Hono } from 'hono'
import { ConfigError } from '../errors.js'
import { componentLogger, errorFields, type StrataLogger } from '../observability/index.js'
import type { EventStore } from '../event-store.js'
import { registerActionRoutes } from './action-routes.js'
import { AuditLog } from './audit-log.js'
import { allowedHostHeaders, createToken, hostGuard, securityHeaders } from './auth.js'
import { LiveFeed } from './live-feed.js'
import { registerLiveRoute } from './live-route.js'
import { registerReadRoutes } from './read-routes.js'
import { errorStatus, sendJson, type ConsoleApp } from './respond.js'
import { loadAssets, registerAssets } from './static-assets.js'
import { StatsSampler } from './stats-sampler.js'

/** Options of {@link startConsole}. */
export interface ConsoleOptions {
  /** TCP port (default 4000; 0 picks a free one: read it from the returned url). */
  readonly port?: number
  /**
   * Address to listen on (default '127.0.0.1': only this machine). Reads need no token, so
   * anyone who can reach the port can read every event: prefer an SSH tunnel to another
   * address.
   */
  readonly host?: string
  /**
   * Enables the actions that change state (replay, discard, reset, pause, resume, rebuild);
   * default false: the console only reads. Each action also needs the token.
   */
  readonly allowActions?: boolean
  /**
   * The token actions must present (`Authorization: Bearer <token>`), at least 16 characters;
   * default: 32 random bytes made at start. Only with allowActions.
   */
  readonly token?: string
  /**
   * Host headers answered besides the bound address (e.g. `console.internal:4000` behind a
   * reverse proxy). Bound to loopback, only loopback names are answered otherwise (a defence
   * against DNS rebinding).
   */
  readonly allowedHosts?: readonly string[]
  /** How often the server samples the store for every page (default 2000 ms). */
  readonly statsIntervalMs?: number
  /** How much history the chart keeps (default 10 minutes). */
  readonly historyMs?: number
  /** Where actions and errors are logged (default: the store's logger). */
  readonly logger?: StrataLogger
}

/** A running console. */
export interface ConsoleHandle {
  /** The page's address, e.g. `http://127.0.0.1:4000/`. */
  readonly url: string
  /** The token actions need, or undefined when actions are disabled. */
  readonly token: string | undefined
  /** Whether actions are enabled. */
  readonly allowActions: boolean
  /** Stops the server, closes the pages' live connections and the console's subscription. */
  close(): Promise<void>
}

/**
 * Serves the web console of a store: overview, streams, the live $all tail, projections,
 * consumer groups and queues with their dead letters, and a chart of throughput and lag. It
 * reads through the store's public API plus a few read-only queries; it holds one subscription
 * to $all and samples the store once per interval, whatever the number of open pages.
 * Read-only unless `allowActions`, and then every action needs the token. Closed by
 * `close()` or with the store.
 *
 * @example
 * const console = await startConsole(store, { port: 4000, allowActions: true })
 * console.log(`open ${console.url}#token=${console.token}`)
 *
 * @throws ConfigError for an invalid option; the listen error (EADDRINUSE…) when the port is taken.
 */
export async function startConsole(
  store: EventStore,
  options: ConsoleOptions = {},
): Promise<ConsoleHandle> {
  const settings = consoleSettings(options)
  const log = componentLogger(options.logger ?? store.logger, 'console')
  const assets = await loadAssets()
  const onError = (error: unknown) => log.warn(errorFields(error), 'console background error')
  const feed = new LiveFeed(store, onError)
  const sampler = new StatsSampler(store, feed, {
    intervalMs: settings.statsIntervalMs,
    historyMs: settings.historyMs,
  })
  const audit = new AuditLog(log)
  const closing = new AbortController()
  setMaxListeners(0, closing.signal)

  let hosts: Set<string> | null = null
  const app: ConsoleApp = new Hono()
  app.use(
    '*',
    hostGuard(() => hosts),
  )
  app.use('*', securityHeaders)
  registerReadRoutes(app, {
    store,
    sampler,
    audit,
    settings: { allowActions: settings.allowActions, intervalMs: settings.statsIntervalMs },
  })
  registerActionRoutes(app, { store, sampler, audit, settings })
  registerLiveRoute(app, feed, sampler, closing.signal)
  registerAssets(app, assets)
  app.notFound((c) => sendJson(c, { error: 'not found' }, 404))
  app.onError((error, c) => {
    const status = errorStatus(error)
    if (status === 500)
      log.error(errorFields(error), `console: ${c.req.method} ${c.req.path} failed`)
    return sendJson(c, { error: error.message }, status)
  })

  await store.ready()
  feed.start()
  await sampler.start()

  const server = createAdaptorServer({ fetch: app.fetch }) as Server
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(settings.port, settings.host, () => {
        server.off('error', reject)
        resolve()
      })
    })
  } catch (error) {
    await Promise.all([sampler.close(), feed.close()])
    throw error
  }
  const port = (server.address() as AddressInfo).port
  hosts = allowedHostHeaders(settings.host, port, settings.allowedHosts)
  const hostInUrl = settings.host.includes(':') ? `[${settings.host}]` : settings.host
  const url = `http://${hostInUrl === '0.0.0.0' || hostInUrl === '[::]' ? '127.0.0.1' : hostInUrl}:${port}/`

  let closed: Promise<void> | undefined
  const close = () =>
    (closed ??= (async () => {
      unregister()
      closing.abort() // ends the pages' live streams
      await new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      })
      await Promise.all([sampler.close(), feed.close()])
      log.info({ url }, 'console stopped')
    })())
  const unregister = store.core.onClose(close)
  log.info(
    { url, host: settings.host, port, allowActions: settings.allowActions },
    'console started',
  )
  return { url, token: settings.token, allowActions: settings.allowActions, close }
}

interface Settings {
  readonly port: number
  readonly host: string
  readonly allowActions: boolean
  readonly token: string | undefined
  readonly allowedHosts: readonly string[]
  readonly statsIntervalMs: number
  readonly historyMs: number
}

const CONSOLE_OPTIONS = optionKeys<ConsoleOptions>({
  port: true,
  host: true,
  allowActions: true,
  token: true,
  allowedHosts: true,
  statsIntervalMs: true,
  historyMs: true,
  logger: true,
})

function consoleSettings(options: ConsoleOptions): Settings {
  checkOptions(options, CONSOLE_OPTIONS, 'an option of startConsole()', { errorClass: ConfigError })
  const port = options.port ?? 4000
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new ConfigError('port', port, 'must be an integer from 0 to 65535')
  }
  const host = options.host ?? '127.0.0.1'
  if (typeof host !== 'string' || host === '' || /[\s/]/.test(host)) {
    throw new ConfigError('host', host, 'must be an address or host name')
  }
  const allowActions = options.allowActions ?? false
  if (typeof allowActions !== 'boolean') {
    throw new ConfigError('allowActions', allowActions, 'must be a boolean')
  }
  if (options.token !== undefined) {
    if (!allowActions) {
      throw new ConfigError('token', '<hidden>', 'is only used with allowActions: true')
    }
    if (typeof options.token !== 'string' || !/^[\x21-\x7e]{16,512}$/.test(options.token)) {
      throw new ConfigError('token', '<hidden>', 'must be 16 to 512 printable ASCII characters')
    }
  }
  const allowedHosts = options.allowedHosts ?? []
  if (!Array.isArray(allowedHosts) || allowedHosts.some((h) => typeof h !== 'string' || h === '')) {
    throw new ConfigError('allowedHosts', allowedHosts, 'must be a list of host[:port] strings')
  }
  const statsIntervalMs = options.statsIntervalMs ?? 2000
  if (!Number.isInteger(statsIntervalMs) || statsIntervalMs < 100) {
    throw new ConfigError('statsIntervalMs', statsIntervalMs, 'must be an integer >= 100')
  }
  const historyMs = options.historyMs ?? 10 * 60_000
  if (!Number.isInteger(historyMs) || historyMs < statsIntervalMs) {
    throw new ConfigError('historyMs', historyMs, 'must be an integer >= statsIntervalMs')
  }
  return {
    port,
    host,
    allowActions,
    token: allowActions ? (options.token ?? createToken()) : undefined,
    allowedHosts,
    statsIntervalMs,
    historyMs,
  }
}
