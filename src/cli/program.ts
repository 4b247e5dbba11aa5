import { readFileSync } from 'node:fs'
import { Command } from 'commander'
import { cliContext, type Action } from './context.js'
import { explainMissingStore } from './store-schemas.js'
import { registerProjectionCommands } from './commands/projections.js'
import { registerStoreCommands } from './commands/store.js'
import { registerGroupCommands } from './commands/groups.js'
import { registerConsoleCommand } from './commands/console.js'
import { registerRelayCommands } from './commands/relay.js'
import { registerPartitionCommands } from './commands/partitions.js'

export function buildProgram(): Command {
  const program = new Command('strata')
    .description(
      'strata: event store, subscriptions, projections, consumer groups and relays on Postgres',
    )
    .version(packageVersion(), '-V, --version', 'print the pg-strata version')
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
      const { createEventStore } = await import('../event-store.js')
      const ctx = cliContext(program, createEventStore)
      try {
        await work(ctx, ...(args.slice(0, work.length - 1) as typeof args))
      } catch (error) {
        throw ctx.opened === undefined ? error : await explainMissingStore(error, ctx.opened.pool)
      } finally {
        await ctx.close()
      }
    }
  registerStoreCommands(program, action)
  registerProjectionCommands(program, action)
  registerGroupCommands(program, action)
  registerConsoleCommand(program, action)
  registerRelayCommands(program, action)
  registerPartitionCommands(program, action)
  for (const command of program.commands) command.exitOverride()
  return program
}

/** The version in pg-strata's package.json (dist/cli/ and src/cli/ are both two levels down). */
function packageVersion(): string {
  const manifest = new URL('../../package.json', import.meta.url)
  return (JSON.parse(readFileSync(manifest, 'utf8')) as { version: string }).version
}
