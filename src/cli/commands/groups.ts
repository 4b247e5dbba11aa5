import type { Command } from 'commander'
import {
  openStoredGroups,
  type ConsumerGroupStatus,
  type ResetTarget,
  type StoredGroup,
} from '../../consumers/index.js'
import type { EventStore } from '../../event-store.js'
import type { RecordedEvent } from '../../store/index.js'
import type { Action, CliContext } from '../context.js'
import { table, UsageError } from '../output.js'
import { bigintArg, positiveInt } from './store.js'

/**
 * Consumer-group administration: status, dead letters (list, replay, discard), reset. Task
 * queues (store.queue) are groups too: listed with kind 'queue' under their own name.
 */
export function registerGroupCommands(program: Command, action: Action): void {
  const groups = program
    .command('groups')
    .description(
      'consumer groups and task queues: status, dead letters, reset (a queue goes by its name, or $queue:<name>)',
    )

  groups
    .command('status [name]', { isDefault: true })
    .description(
      'every group and queue (or one): position behind the head, in flight, retrying, parked, consumers',
    )
    .action(
      action(async (ctx, name: string | undefined) => {
        const store = ctx.store()
        const statuses: ConsumerGroupStatus[] = []
        for (const { group } of await openGroups(store, name)) statuses.push(await group.status())
        ctx.output.result(statuses, () =>
          statuses.length === 0
            ? 'no consumer groups or task queues'
            : table(
                [
                  'name',
                  'kind',
                  'strategy',
                  'position',
                  'behind',
                  'pending',
                  'delayed',
                  'in flight',
                  'retrying',
                  'parked',
                  'consumers',
                ],
                statuses.map((s) => [
                  s.name,
                  s.kind,
                  s.strategy,
                  s.position,
                  s.behind,
                  s.pending,
                  s.delayed,
                  s.inFlight,
                  s.retrying,
                  s.parked,
                  s.consumers,
                ]),
              ),
        )
      }),
    )

  const deadLetters = groups
    .command('dead-letters')
    .description("a group's or queue's parked messages: list, replay, discard")

  deadLetters
    .command('list <group>', { isDefault: true })
    .description('parked messages in position order, with their last error')
    .option('--limit <n>', 'at most this many', positiveInt, 100)
    .option('--after <position>', 'only those after this position', bigintArg)
    .action(
      action(async (ctx, name: string, opts: { limit: number; after?: bigint }) => {
        const [opened] = await openGroups(ctx.store(), name)
        const letters = await opened!.group.deadLetters.list({
          limit: opts.limit,
          ...(opts.after === undefined ? {} : { after: opts.after }),
        })
        ctx.output.result(letters, () =>
          letters.length === 0
            ? `no dead letters in ${describe(opened!)}`
            : table(
                ['position', 'stream', 'type', 'attempts', 'parked at', 'reason'],
                letters.map((l) => [
                  l.position,
                  l.streamId,
                  opened!.kind === 'queue' ? '$task' : (l.event as RecordedEvent | undefined)?.type,
                  l.attempts,
                  l.parkedAt,
                  l.reason,
                ]),
              ),
        )
      }),
    )

  for (const verb of ['replay', 'discard'] as const) {
    deadLetters
      .command(`${verb} <group>`)
      .description(
        verb === 'replay'
          ? 'deliver parked messages again (fresh attempts; in per-stream groups their streams resume in order)'
          : 'drop parked messages as if acked (their streams go on)',
      )
      .option(
        '--position <position...>',
        'these positions',
        (value: string, previous: bigint[] = []) => [...previous, bigintArg(value)],
      )
      .option('--id <id...>', 'these event ids')
      .option('--all', 'every parked message')
      .action(
        action(
          async (
            ctx,
            name: string,
            opts: { position?: bigint[]; id?: string[]; all?: boolean },
          ) => {
            const targets = [...(opts.position ?? []), ...(opts.id ?? [])]
            if (opts.all === true && targets.length > 0)
              throw new UsageError('--all cannot be combined with --position or --id')
            if (opts.all !== true && targets.length === 0)
              throw new UsageError('name the dead letters: --position, --id or --all')
            const [opened] = await openGroups(ctx.store(), name)
            const count = await opened!.group.deadLetters[verb](opts.all === true ? 'all' : targets)
            ctx.output.result(
              {
                group: opened!.name,
                kind: opened!.kind,
                [verb === 'replay' ? 'replayed' : 'discarded']: count,
              },
              () =>
                `${verb === 'replay' ? 'replayed' : 'discarded'} ${count} dead letter(s) of ${describe(opened!)}`,
            )
          },
        ),
      )
  }

  groups
    .command('reset <group>')
    .description(
      'move a group or queue to a position or a time (replay, or skip ahead); dead letters stay',
    )
    .option(
      '--to-position <position>',
      'deliver the events from this position on (inclusive)',
      bigintArg,
    )
    .option('--position <position>', 'the same as --to-position', bigintArg)
    .option('--to-time <iso>', 'deliver the events created from this time on')
    .option('--time <iso>', 'the same as --to-time')
    .option('--to <where>', "'start' or 'end'")
    .action(
      action(
        async (
          ctx: CliContext,
          name: string,
          opts: {
            toPosition?: bigint
            position?: bigint
            toTime?: string
            time?: string
            to?: string
          },
        ) => {
          const given = [opts.toPosition, opts.position, opts.toTime, opts.time, opts.to].filter(
            (x) => x !== undefined,
          )
          if (given.length !== 1)
            throw new UsageError(
              'give exactly one of --to-position (or --position), --to-time (or --time), --to start|end',
            )
          const position = opts.toPosition ?? opts.position
          const isoTime = opts.toTime ?? opts.time
          let target: ResetTarget
          if (position !== undefined) target = { position }
          else if (isoTime !== undefined) {
            const time = new Date(isoTime)
            if (Number.isNaN(time.getTime()))
              throw new UsageError(`--to-time is not a date: ${JSON.stringify(isoTime)}`)
            target = { time }
          } else if (opts.to === 'start' || opts.to === 'end') target = opts.to
          else throw new UsageError(`--to takes 'start' or 'end', not ${JSON.stringify(opts.to)}`)
          const [opened] = await openGroups(ctx.store(), name)
          const result = await opened!.group.reset(target)
          ctx.output.result(
            { group: opened!.name, kind: opened!.kind, ...result },
            () =>
              `${describe(opened!)} reset: delivering again from position ${result.position} (${result.removed} message(s) left the window)`,
          )
        },
      ),
    )
}

function describe(opened: StoredGroup): string {
  return `${opened.kind === 'queue' ? 'queue' : 'group'} ${opened.name}`
}

/**
 * The stored groups and queues (all, or the one named), opened with their definitions.
 * @throws UsageError when nothing has that name.
 */
async function openGroups(store: EventStore, name?: string): Promise<StoredGroup[]> {
  const opened = await openStoredGroups(store.core, name)
  if (name !== undefined && opened.length === 0) {
    throw new UsageError(`no consumer group or task queue named ${JSON.stringify(name)}`)
  }
  return opened
}
