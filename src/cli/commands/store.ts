import { Option, type Command } from 'commander'
import { countEvents, listStreams } from '../../console/index.js'
import { quoteIdent } from '../../db/index.js'
import { runtimeGrantsSql } from '../../migrate/index.js'
import type { ExpectedVersion, RecordedEvent } from '../../store/index.js'
import type { Action, CliContext } from '../context.js'
import { progressBar, table, UsageError } from '../output.js'

export function registerStoreCommands(program: Command, action: Action): void {
  program
    .command('migrate')
    .description(
      'create or upgrade the store schema (numbered migrations, checksummed, under a lock)',
    )
    .option('--print', 'print the SQL of every migration for a DBA to review, and change nothing')
    .option('--dry-run', 'list the migrations that would run, and change nothing')
    .option('--allow-checksum-mismatch', 'accept applied migrations whose file has changed')
    .action(
      action(
        async (
          ctx,
          opts: { print?: boolean; dryRun?: boolean; allowChecksumMismatch?: boolean },
        ) => {
          if (opts.print) {
            // No database needed: the script is derived from the files and the schema name.
            const { migrationScript } = await import('../../migrate/index.js')
            process.stdout.write(await migrationScript(ctx.options.schema))
            return
          }
          const store = ctx.store({ migrate: 'off' })
          const result = await store.migrate({
            dryRun: opts.dryRun === true,
            allowChecksumMismatch: opts.allowChecksumMismatch === true,
          })
          ctx.output.result(
            { schema: store.schema, dryRun: opts.dryRun === true, ...result },
            () => {
              if (result.applied.length === 0)
                return `schema ${store.schema} is up to date (${result.alreadyApplied.length} migrations)`
              const verb = opts.dryRun ? 'would apply' : 'applied'
              return result.applied.map((name) => `${verb} ${name}`).join('\n')
            },
          )
        },
      ),
    )

  program
    .command('streams')
    .description('list streams with their version and number of stored events')
    .option('--prefix <prefix>', 'only stream ids starting with this')
    .option('--limit <n>', 'at most this many streams', positiveInt, 100)
    .action(
      action(async (ctx, opts: { prefix?: string; limit: number }) => {
        const store = ctx.store()
        await store.ready()
        const { streams } = await listStreams(store.pool, store.schema, {
          ...(opts.prefix === undefined ? {} : { prefix: opts.prefix }),
          limit: opts.limit,
        })
        ctx.output.result(streams, () =>
          streams.length === 0
            ? 'no streams'
            : table(
                ['stream', 'version', 'events'],
                streams.map((x) => [x.streamId, x.version, x.events]),
              ),
        )
      }),
    )

  program
    .command('read <stream>')
    .description(
      "read a stream's events in version order (--json: one JSON array of the events, [] when none)",
    )
    .option('--backward', 'newest first')
    .option('--from <version>', 'first version to read', bigintArg)
    .option('--limit <n>', 'at most this many events', positiveInt)
    .action(
      action(
        async (
          ctx,
          streamId: string,
          opts: { backward?: boolean; from?: bigint; limit?: number },
        ) => {
          const events = await ctx.store().readStream(streamId, {
            direction: opts.backward ? 'backward' : 'forward',
            ...(opts.from === undefined ? {} : { from: opts.from }),
            ...(opts.limit === undefined ? {} : { limit: opts.limit }),
          })
          ctx.output.result(events, () =>
            events.length === 0 ? `stream ${streamId} has no events` : eventTable(events),
          )
        },
      ),
    )

  program
    .command('tail')
    .description(
      'follow $all live (Ctrl-C to stop); --json prints JSON lines: one event object per line, as it arrives',
    )
    .option('--category <category>', 'only this category (stream ids <category>-…)')
    .option('--type <type...>', 'only these event types')
    .option('--from <from>', "'start', 'end' or a position (exclusive)", 'end')
    .action(
      action(async (ctx, opts: { category?: string; type?: string[]; from: string }) => {
        const store = ctx.store()
        const from = opts.from === 'start' || opts.from === 'end' ? opts.from : bigintArg(opts.from)
        const controller = new AbortController()
        const stop = () => controller.abort()
        process.once('SIGINT', stop)
        process.once('SIGTERM', stop)
        const filter = {
          ...(opts.category === undefined ? {} : { category: opts.category }),
          ...(opts.type === undefined ? {} : { eventTypes: opts.type }),
        }
        ctx.output.note(
          `following $all${opts.category ? ` (category ${opts.category})` : ''}… Ctrl-C to stop`,
        )
        for await (const event of store.subscribeToAll({
          from,
          filter,
          signal: controller.signal,
        })) {
          if (ctx.output.json) ctx.output.result(event, () => '')
          else process.stdout.write(`${eventLine(event)}\n`)
        }
      }),
    )

  program
    .command('append <stream>')
    .description('append one event (validated like any append)')
    .requiredOption('--type <type>', 'event type')
    .requiredOption('--data <json>', 'event data, as JSON')
    .option('--metadata <json>', 'event metadata, as JSON')
    .option('--id <uuid>', 'event id (makes retries idempotent)')
    .option('--expected-version <v>', "'any', 'no_stream', 'stream_exists' or a version", 'any')
    .action(
      action(
        async (
          ctx,
          streamId: string,
          opts: {
            type: string
            data: string
            metadata?: string
            id?: string
            expectedVersion: string
          },
        ) => {
          const event = {
            type: opts.type,
            data: jsonArg('--data', opts.data),
            ...(opts.metadata === undefined
              ? {}
              : { metadata: jsonArg('--metadata', opts.metadata) as Record<string, unknown> }),
            ...(opts.id === undefined ? {} : { id: opts.id }),
          }
          const expected = opts.expectedVersion
          const expectedVersion: ExpectedVersion =
            expected === 'any' || expected === 'no_stream' || expected === 'stream_exists'
              ? expected
              : bigintArg(expected)
          const result = await ctx.store().appendToStream(streamId, [event], { expectedVersion })
          ctx.output.result(
            result,
            () =>
              `appended to ${result.streamId}: version ${result.nextExpectedVersion}, position ${result.position}`,
          )
        },
      ),
    )

  program
    .command('stats')
    .description('events, append rate and table sizes')
    .action(
      action(async (ctx) => {
        const store = ctx.store()
        await store.ready()
        const s = quoteIdent(store.schema)
        const { rows } = await store.pool.query<{
          head: string
          last_minute: string
          last_hour: string
          streams_with_metadata: string
        }>(
          `SELECT (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM ${s}.events_position_seq) AS head,
                  (SELECT count(*) FROM ${s}.events WHERE created_at > now() - interval '1 minute') AS last_minute,
                  (SELECT count(*) FROM ${s}.events WHERE created_at > now() - interval '1 hour') AS last_hour,
                  (SELECT count(*) FROM ${s}.streams) AS streams_with_metadata`,
        )
        const { rows: sizes } = await store.pool.query<{ table: string; bytes: string }>(
          `SELECT c.relname AS table, pg_total_relation_size(c.oid) AS bytes
             FROM pg_class c WHERE c.relnamespace = $1::regnamespace AND c.relkind = 'r' ORDER BY 2 DESC`,
          [store.schema],
        )
        const r = rows[0]!
        const headPosition = BigInt(r.head)
        const events = await countEvents(store.pool, store.schema, headPosition)
        const stats = {
          schema: store.schema,
          headPosition,
          events: events.count,
          eventsExact: events.exact,
          appendedLastMinute: Number(r.last_minute),
          appendedLastHour: Number(r.last_hour),
          ratePerSecondLastMinute: Number(r.last_minute) / 60,
          streamsWithMetadata: Number(r.streams_with_metadata),
          tables: sizes.map((t) => ({ table: t.table, bytes: Number(t.bytes) })),
        }
        ctx.output.result(stats, () =>
          [
            `schema ${stats.schema}: head position ${stats.headPosition}, ${stats.eventsExact ? '' : 'about '}${stats.events} events${stats.eventsExact ? '' : ' (estimated)'}`,
            `appended: ${stats.appendedLastMinute} in the last minute (${stats.ratePerSecondLastMinute.toFixed(1)}/s), ${stats.appendedLastHour} in the last hour`,
            '',
            table(
              ['table', 'size'],
              stats.tables.map((t) => [t.table, humanBytes(t.bytes)]),
            ),
          ].join('\n'),
        )
      }),
    )

  program
    .command('scavenge')
    .description('physically delete the events retention and deletion hide (needs the owner role)')
    .option('--batch-size <n>', 'events per transaction', positiveInt, 10_000)
    .action(
      action(async (ctx, opts: { batchSize: number }) => {
        const bar = ctx.output.json
          ? undefined
          : new (await progressBar())({
              format: 'scavenge | {value} events deleted from {streams} streams',
            })
        bar?.start(0, 0, { streams: 0 })
        const result = await ctx.store().scavenge({
          batchSize: opts.batchSize,
          onProgress: (p) => bar?.update(p.deletedEvents, { streams: p.streams }),
        })
        bar?.stop()
        ctx.output.result(
          result,
          () => `deleted ${result.deletedEvents} events from ${result.streams} streams`,
        )
      }),
    )

  program
    .command('grants')
    .description(
      'print the GRANT statements of a runtime role (append and read, no DDL, no UPDATE/DELETE of events)',
    )
    .addOption(new Option('--role <role>', 'the runtime role').makeOptionMandatory())
    .action(
      action((ctx: CliContext, opts: { role: string }) => {
        process.stdout.write(runtimeGrantsSql(ctx.options.schema, opts.role))
        return Promise.resolve()
      }),
    )
}

export function positiveInt(value: string): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n < 1)
    throw new UsageError(`expected a positive integer, got ${JSON.stringify(value)}`)
  return n
}

export function bigintArg(value: string): bigint {
  if (!/^\d+$/.test(value))
    throw new UsageError(`expected a non-negative integer, got ${JSON.stringify(value)}`)
  return BigInt(value)
}

function jsonArg(option: string, value: string): unknown {
  try {
    return JSON.parse(value)
  } catch (error) {
    throw new UsageError(`${option} is not valid JSON: ${(error as Error).message}`)
  }
}

function eventTable(events: readonly RecordedEvent[]): string {
  return table(
    ['version', 'position', 'type', 'created', 'data'],
    events.map((e) => [e.version, e.position, e.type, e.createdAt, e.data]),
  )
}

function eventLine(e: RecordedEvent): string {
  return `${e.position}  ${e.streamId}@${e.version}  ${e.type}  ${JSON.stringify(e.data)}`
}

function humanBytes(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB']
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`
}
