import type { Command } from 'commander'
import type { RelayStatus } from '../../relay/index.js'
import { table } from '../output.js'
import type { Action } from '../context.js'

export function registerRelayCommands(program: Command, action: Action): void {
  const relay = program
    .command('relay')
    .description('relays of $all to NATS JetStream: checkpoint, lag, active instance')

  relay
    .command('status [name]', { isDefault: true })
    .description(
      'every relay (or one): its position, lag in events and seconds, and the instance holding its lease',
    )
    .action(
      action(async (ctx, name: string | undefined) => {
        // Postgres only: status never loads the NATS client.
        const statuses = await ctx.store().relayStatus(name)
        if (name !== undefined && statuses.length === 0)
          throw new Error(`no relay named ${JSON.stringify(name)}`)
        ctx.output.result(statuses, () =>
          statuses.length === 0 ? 'no relays' : statusTable(statuses),
        )
      }),
    )
}

function statusTable(statuses: readonly RelayStatus[]): string {
  return table(
    [
      'name',
      'stream',
      'position',
      'sequence',
      'events behind',
      'seconds behind',
      'active instance',
      'last published',
    ],
    statuses.map((s) => [
      s.name,
      s.stream,
      s.position,
      s.streamSequence,
      s.eventsBehindExact ? s.eventsBehind : `>${s.eventsBehind}`,
      s.secondsBehind.toFixed(1),
      s.activeInstance,
      s.lastPublishedAt,
    ]),
  )
}
