import type { Command } from 'commander'
import type { ArchiveResult, PartitionsStatus } from '../../partitions/index.js'
import type { Action, CliContext } from '../context.js'
import { table, UsageError } from '../output.js'
import { bigintArg, positiveInt } from './store.js'

/** `strata partitions …`: events partitioned by position, and archiving (docs/partitioning.md). */
export function registerPartitionCommands(program: Command, action: Action): void {
  const partitions = program
    .command('partitions')
    .description('events partitioned by position: enable, list, create ahead, archive old ones')

  partitions
    .command('list', { isDefault: true })
    .description('the partitions of events (range, estimated rows) and the archived ranges')
    .action(
      action(async (ctx) => {
        const status = await statusOf(ctx)
        ctx.output.result(status, () => statusText(status))
      }),
    )

  partitions
    .command('enable')
    .description(
      'partition events by position (once, as the schema owner): existing events become the first partition; takes an exclusive lock on events meanwhile',
    )
    .requiredOption('--size <positions>', 'positions per partition', bigintArg)
    .option('--ahead <n>', 'partitions to create past the head', positiveInt, 4)
    .action(
      action(async (ctx, opts: { size: bigint; ahead: number }) => {
        if (opts.size < 1n) throw new UsageError('--size must be at least 1')
        const { enablePartitioning } = await import('../../partitions/index.js')
        const store = await ready(ctx)
        const enabled = await enablePartitioning(store.pool, store.schema, {
          partitionSize: opts.size,
          ahead: opts.ahead,
        })
        ctx.output.result({ schema: store.schema, enabled, partitionSize: opts.size }, () =>
          enabled
            ? `events of schema ${store.schema} are partitioned by position, ${opts.size} per partition`
            : `events of schema ${store.schema} were already partitioned, ${opts.size} per partition`,
        )
      }),
    )

  partitions
    .command('create')
    .description(
      'create partitions ahead of the head (run it from a scheduler); a tail that received rows becomes a regular partition',
    )
    .option('--ahead <n>', 'partitions to keep past the head', positiveInt, 4)
    .option('--lock-timeout <ms>', 'longest wait for the lock on events', positiveInt, 5000)
    .action(
      action(async (ctx, opts: { ahead: number; lockTimeout: number }) => {
        const { createPartitions } = await import('../../partitions/index.js')
        const store = await ready(ctx)
        const created = await createPartitions(store.pool, store.schema, {
          ahead: opts.ahead,
          lockTimeoutMs: opts.lockTimeout,
        })
        ctx.output.result({ schema: store.schema, created }, () =>
          created.length === 0 ? 'partitions are ahead already' : `created ${created.join(', ')}`,
        )
      }),
    )

  partitions
    .command('archive [partition]')
    .description(
      'archive the oldest partition (or the one named, which must be the oldest), or with --through/--older-than every oldest partition that qualifies, by DETACH PARTITION CONCURRENTLY: appends and reads go on; reads of the range fail from then on',
    )
    .option(
      '--through <position>',
      'every partition whose positions are all at or below this',
      bigintArg,
    )
    .option(
      '--older-than <age>',
      'every partition whose last event is older than this: a number and m, h or d (90d)',
      ageArg,
    )
    .option(
      '--force',
      'archive even though checkpoints, groups, projections or relays still need it',
    )
    .option('--drop', 'drop the detached table (default: keep it as a plain table)')
    .option('--dry-run', 'say what would be archived, and change nothing')
    .action(
      action(
        async (
          ctx,
          name: string | undefined,
          opts: {
            through?: bigint
            olderThan?: number
            force?: boolean
            drop?: boolean
            dryRun?: boolean
          },
        ) => {
          const { archivePartition, archivePartitions, partitionsToArchive } =
            await import('../../partitions/index.js')
          const bulk = opts.through !== undefined || opts.olderThan !== undefined
          if (bulk && name !== undefined) {
            throw new UsageError('name a partition, or give --through/--older-than, not both')
          }
          const status = await statusOf(ctx)
          if (!status.partitioned)
            throw new Error(`events of schema ${ctx.options.schema} are not partitioned`)
          const store = ctx.store()
          const options = {
            force: opts.force === true,
            drop: opts.drop === true,
            onStep: (step: string, partition: string) => ctx.output.note(`${step} ${partition}`),
          }
          if (bulk) {
            const selection = {
              ...(opts.through === undefined ? {} : { through: opts.through }),
              ...(opts.olderThan === undefined
                ? {}
                : { writtenBefore: new Date(Date.now() - opts.olderThan) }),
            }
            if (opts.dryRun) {
              const names = partitionsToArchive(status, selection).map((p) => p.name)
              ctx.output.result({ partitions: names, dryRun: true }, () =>
                names.length === 0 ? 'no partition qualifies' : `would archive ${names.join(', ')}`,
              )
              return
            }
            const results = await archivePartitions(store.pool, store.schema, {
              ...options,
              ...selection,
            })
            ctx.output.result(results, () =>
              results.length === 0 ? 'no partition qualifies' : results.map(describe).join('\n'),
            )
            return
          }
          // An interrupted archive first, else the oldest attached partition.
          const unfinished = status.archived.find((a) => a.state === 'detaching')
          const partition = name ?? unfinished?.name ?? status.partitions[0]?.name
          if (partition === undefined) throw new Error('no partition to archive')
          if (opts.dryRun) {
            ctx.output.result({ partition, dryRun: true }, () => `would archive ${partition}`)
            return
          }
          const result = await archivePartition(store.pool, store.schema, partition, options)
          ctx.output.result(result, () => describe(result))
        },
      ),
    )
}

function describe(result: ArchiveResult): string {
  return `archived ${result.partition}: positions ${result.fromPosition} to ${result.toPosition - 1n}, ${result.events} events, ${result.state}`
}

/** `90d`, `12h`, `30m` as milliseconds. */
function ageArg(value: string): number {
  const match = /^(\d+)([mhd])$/.exec(value)
  if (match === null) {
    throw new UsageError(`expected an age like 90d, 12h or 30m, got ${JSON.stringify(value)}`)
  }
  const unit = { m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] as 'm' | 'h' | 'd']
  return Number(match[1]) * unit
}

async function ready(ctx: CliContext) {
  const store = ctx.store()
  await store.ready()
  return store
}

async function statusOf(ctx: CliContext): Promise<PartitionsStatus> {
  const { partitionsStatus } = await import('../../partitions/index.js')
  const store = await ready(ctx)
  return partitionsStatus(store.pool, store.schema)
}

function statusText(status: PartitionsStatus): string {
  if (!status.partitioned)
    return 'events are not partitioned (strata partitions enable --size <positions>)'
  const attached = table(
    ['partition', 'from', 'to', 'estimated events', 'detach pending'],
    status.partitions.map((p) => [
      p.name,
      p.fromPosition,
      p.toPosition ?? 'MAXVALUE',
      p.estimatedEvents,
      p.detachPending ? 'yes' : '',
    ]),
  )
  if (status.archived.length === 0) return attached
  const archived = table(
    ['archived', 'from', 'to', 'events', 'state', 'at'],
    status.archived.map((a) => [
      a.name,
      a.fromPosition,
      a.toPosition,
      a.events,
      a.state,
      a.archivedAt,
    ]),
  )
  return `${attached}\n\n${archived}`
}
