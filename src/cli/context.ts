import type { Command } from 'commander'
import type { createEventStore, EventStore } from '../event-store.js'
import type { StrataLogger } from '../observability/index.js'
import { createOutput, UsageError, type Output } from './output.js'

export interface GlobalOptions {
  databaseUrl?: string
  schema: string
  json: boolean
}

/** What every command gets: its output, and a store opened on demand (closed by main). */
export interface CliContext {
  readonly output: Output
  readonly options: GlobalOptions
  /** Opens the store (the database URL is required from here on). */
  store(settings?: { migrate?: 'check' | 'off'; max?: number; logger?: StrataLogger }): EventStore
  /** The store, once a command opened it. */
  readonly opened: EventStore | undefined
  close(): Promise<void>
}

/**
 * `open` is createEventStore, imported by the caller only when a command runs: `--help` and usage
 * errors then never load pg, kysely, zod and rxjs (most of the CLI's start-up time).
 */
export function cliContext(program: Command, open: typeof createEventStore): CliContext {
  const options = program.opts<GlobalOptions>()
  const output = createOutput(options.json)
  let store: EventStore | undefined
  return {
    output,
    options,
    store(settings = {}) {
      const url = options.databaseUrl ?? process.env.DATABASE_URL
      if (url === undefined || url === '') {
        throw new UsageError('no database: pass --database-url <url> or set DATABASE_URL')
      }
      store ??= open(
        { connectionString: url, max: settings.max ?? 4 },
        {
          schema: options.schema,
          migrate: settings.migrate ?? 'check',
          allowUnregisteredTypes: true,
          ...(settings.logger === undefined ? {} : { logger: settings.logger }),
        },
      )
      return store
    },
    get opened() {
      return store
    },
    async close() {
      await store?.close()
    },
  }
}

/** Wraps a command's work: opens the context (and its store, on demand) and closes it after. */
export type Action = <Args extends unknown[]>(
  work: (ctx: CliContext, ...args: Args) => Promise<void>,
) => (...args: Args) => Promise<void>
