import { Command } from 'commander'
import { cliContext, type CliContext } from './context.js'
import { registerProjectionCommands } from './commands/projections.js'
import { registerStoreCommands } from './commands/store.js'
import { registerGroupCommands } from './commands/groups.js'
import { registerRelayCommands } from './commands/relay.js'

/** Wraps a command's work: opens the context (and its store, on demand) and closes it after. */
export type Action = <Args extends unknown[]>(
  work: (ctx: CliContext, ...args: Args) => Promise<void>,
) => (...args: Args) => Promise<void>

export function buildProgram(): Command {
  const program = new Command('strata')
    .description(
      'strata: event store, subscriptions, projections, consumer groups and relays on Postgres',
    )
    .option('--database-url <url>', 'Postgres URL (default: $DATABASE_URL)')
    .option('--schema <name>', 'the store schema', 'strata')
    .option(
      '--json',
      'machine-readable output: one JSON document on stdout (tail: JSON lines, one event per line); errors as JSON on stderr',
      false,
    )
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
  const action: Action =
    (work) =>
    async (...args) => {
      const { createEventStore } = await import('../store/event-store.js')
      const ctx = cliContext(program, createEventStore)
      try {
        await work(ctx, ...(args.slice(0, work.length - 1) as typeof args))
      } finally {
        await ctx.close()
      }
    }
  registerStoreCommands(program, action)
  registerProjectionCommands(program, action)
  registerGroupCommands(program, action)
  registerRelayCommands(program, action)
  for (const command of program.commands) command.exitOverride()
  return program
}
