import type { Command } from 'commander'
import { jsonLinesLogger } from '../json-logger.js'
import { UsageError } from '../output.js'
import type { Action } from '../context.js'
import { positiveInt } from './store.js'

interface ConsoleCliOptions {
  port: string
  host: string
  allowActions?: boolean
  token?: string
  allowedHost?: string[]
  statsInterval?: number
}

/**
 * `strata console`: serves the web console until SIGINT or SIGTERM. Actions and errors are
 * logged as JSON lines on stderr; the address (and the token) go to stdout.
 */
export function registerConsoleCommand(program: Command, action: Action): void {
  program
    .command('console')
    .description(
      'serve the web console: streams, $all tail, projections, consumer groups and dead letters (read-only unless --allow-actions)',
    )
    .option('--port <n>', 'TCP port (0: any free port)', '4000')
    .option(
      '--host <address>',
      'address to listen on (reads need no token: keep it local)',
      '127.0.0.1',
    )
    .option(
      '--allow-actions',
      'enable replay, discard, reset, pause, resume and rebuild (each needs the token)',
    )
    .option(
      '--token <token>',
      'the action token (default: $STRATA_CONSOLE_TOKEN, else a random one, printed at start)',
    )
    .option(
      '--allowed-host <host...>',
      'Host headers to answer besides the bound address (behind a reverse proxy)',
    )
    .option(
      '--stats-interval <ms>',
      'how often the server samples the store for all pages',
      positiveInt,
    )
    .addHelpText(
      'after',
      '\nThe token is printed at start, with a link that hands it to the page in the URL fragment\n(never sent to the server). Every action is logged as a JSON line on stderr.',
    )
    .action(
      action(async (ctx, opts: ConsoleCliOptions) => {
        const port = Number(opts.port)
        if (!Number.isInteger(port) || port < 0 || port > 65_535)
          throw new UsageError(`--port must be from 0 to 65535, not ${JSON.stringify(opts.port)}`)
        const token = opts.token ?? (process.env.STRATA_CONSOLE_TOKEN || undefined)
        if (token !== undefined && opts.allowActions !== true)
          throw new UsageError('--token (or STRATA_CONSOLE_TOKEN) needs --allow-actions')
        const logger = jsonLinesLogger()
        // The console's subscription, sampler and pages share the pool: a few more connections.
        const store = ctx.store({ max: 8, logger })
        const { startConsole } = await import('../../console/index.js')
        const running = await startConsole(store, {
          port,
          host: opts.host,
          allowActions: opts.allowActions === true,
          ...(token === undefined ? {} : { token }),
          ...(opts.allowedHost === undefined ? {} : { allowedHosts: opts.allowedHost }),
          ...(opts.statsInterval === undefined ? {} : { statsIntervalMs: opts.statsInterval }),
          logger,
        })
        ctx.output.result(
          {
            url: running.url,
            schema: store.schema,
            allowActions: running.allowActions,
            ...(running.token === undefined ? {} : { token: running.token }),
          },
          () =>
            running.token === undefined
              ? `strata console on ${running.url} (schema ${store.schema}, read-only; --allow-actions to enable actions)`
              : [
                  `strata console on ${running.url} (schema ${store.schema}), actions enabled`,
                  `token: ${running.token}`,
                  `open:  ${running.url}#token=${running.token}`,
                ].join('\n'),
        )
        await new Promise<void>((resolve) => {
          process.once('SIGINT', resolve)
          process.once('SIGTERM', resolve)
        })
        await running.close()
      }),
    )
}
