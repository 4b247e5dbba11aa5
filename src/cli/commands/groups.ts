import type { Command } from 'commander'
import type {
  ConsumerGroup,
  ConsumerGroupOptions,
  ConsumerGroupStatus,
  ResetTarget,
} from '../../consumers/types.js'
import { quoteIdent } from '../../db/identifiers.js'
import type { EventStore } from '../../store/event-store.js'
import type { RecordedEvent } from '../../store/types.js'
import type { CliContext } from '../context.js'
import { table, UsageError } from '../output.js'
import type { Action } from '../program.js'
import { bigintArg, positiveInt } from './store.js'

/** Consumer-group administration: status, dead letters (list, replay, discard), reset. */
export function registerGroupCommands(program: Command, action: Action): void {
  const groups = program
    .command('groups')
    .description('consumer groups: status, dead letters, reset')

  groups
    .command('status [name]', { isDefault: true })
    .description(
      'every group (or one): position behind the head, in flight, retrying, parked, consumers',
    )
    .action(
      action(async (ctx, name: string | undefined) => {
        const store = ctx.store()
        const statuses: ConsumerGroupStatus[] = []
        for (const group of await openGroups(store, name)) statuses.push(await group.status())
        ctx.output.result(statuses, () =>
          statuses.length === 0
            ? 'no consumer groups'
            : table(
                [
                  'group',
                  'strategy',
                  'position',
                  'behind',
                  'pending',
                  'in flight',
                  'retrying',
                  'parked',
                  'consumers',
                ],
                statuses.map((s) => [
                  s.name,
                  s.strategy,
                  s.position,
                  s.behind,
                  s.pending,
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
    .description("a group's parked messages: list, replay, discard")

  deadLetters
    .command('list <group>', { isDefault: true })
    .description('parked messages in position order, with their last error')
    .option('--limit <n>', 'at most this many', positiveInt, 100)
    .option('--after <position>', 'only those after this position', bigintArg)
    .action(
      action(async (ctx, name: string, opts: { limit: number; after?: bigint }) => {
        const [group] = await openGroups(ctx.store(), name)
        const letters = await group!.deadLetters.list({
          limit: opts.limit,
          ...(opts.after === undefined ? {} : { after: opts.after }),
        })
        ctx.output.result(letters, () =>
          letters.length === 0
            ? `no dead letters in ${name}`
            : table(
                ['position', 'stream', 'type', 'attempts', 'parked at', 'reason'],
                letters.map((l) => [
                  l.position,
                  l.streamId,
                  l.event?.type,
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
            const [group] = await openGroups(ctx.store(), name)
            const count = await group!.deadLetters[verb](opts.all === true ? 'all' : targets)
            ctx.output.result(
              { group: name, [verb === 'replay' ? 'replayed' : 'discarded']: count },
              () =>
                `${verb === 'replay' ? 'replayed' : 'discarded'} ${count} dead letter(s) of ${name}`,
            )
          },
        ),
      )
  }

  groups
    .command('reset <group>')
    .description('move a group to a position or a time (replay, or skip ahead); dead letters stay')
    .option('--to-position <position>', 'deliver the events from this position on', bigintArg)
    .option('--to-time <iso>', 'deliver the events created from this time on')
    .option('--to <where>', "'start' or 'end'")
    .action(
      action(
        async (
          ctx: CliContext,
          name: string,
          opts: { toPosition?: bigint; toTime?: string; to?: string },
        ) => {
          const given = [opts.toPosition, opts.toTime, opts.to].filter((x) => x !== undefined)
          if (given.length !== 1)
            throw new UsageError('give exactly one of --to-position, --to-time, --to start|end')
          let target: ResetTarget
          if (opts.toPosition !== undefined) target = { position: opts.toPosition }
          else if (opts.toTime !== undefined) {
            const time = new Date(opts.toTime)
            if (Number.isNaN(time.getTime()))
              throw new UsageError(`--to-time is not a date: ${JSON.stringify(opts.toTime)}`)
            target = { time }
          } else if (opts.to === 'start' || opts.to === 'end') target = opts.to
          else throw new UsageError(`--to takes 'start' or 'end', not ${JSON.stringify(opts.to)}`)
          const [group] = await openGroups(ctx.store(), name)
          const result = await group!.reset(target)
          ctx.output.result(
            { group: name, ...result },
            () =>
              `${name} reset: next event after position ${result.position} (${result.removed} message(s) left the window)`,
          )
        },
      ),
    )
}

interface GroupRow {
  name: string
  strategy: 'round-robin' | 'per-stream'
  hold_parked_streams: boolean
  source_category: string | null
  source_event_types: string[] | null
  source_stream_ids: string[] | null
  source_stream_prefix: string | null
}

/** Opens existing groups with the definition they were created with (the CLI has no code of yours). */
async function openGroups(
  store: EventStore,
  name: string | undefined,
): Promise<Array<ConsumerGroup<RecordedEvent>>> {
  await store.ready()
  const { rows } = await store.pool.query<GroupRow>(
    `SELECT name, strategy, hold_parked_streams, source_category, source_event_types, source_stream_ids, source_stream_prefix
       FROM ${quoteIdent(store.schema)}.consumer_groups WHERE $1::text IS NULL OR name = $1 ORDER BY name`,
    [name ?? null],
  )
  if (name !== undefined && rows.length === 0)
    throw new UsageError(`no consumer group named ${JSON.stringify(name)}`)
  return rows.map((row) => {
    const source = {
      ...(row.source_category === null ? {} : { category: row.source_category }),
      ...(row.source_event_types === null ? {} : { eventTypes: row.source_event_types }),
      ...(row.source_stream_ids === null ? {} : { streams: row.source_stream_ids }),
      ...(row.source_stream_prefix === null ? {} : { streamIdPrefix: row.source_stream_prefix }),
    }
    const options: ConsumerGroupOptions<RecordedEvent> = {
      source: Object.keys(source).length === 0 ? 'all' : source,
      strategy: row.strategy,
      ...(row.strategy === 'per-stream'
        ? { parkedStream: row.hold_parked_streams ? 'hold' : 'continue' }
        : {}),
    }
    return store.consumerGroup(row.name, options)
  })
}
