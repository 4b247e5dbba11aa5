import { Option, type Command } from 'commander'
import { quoteIdent } from '../../db/index.js'
import { runtimeGrantsSql } from '../../migrate/index.js'
import type { EventStore } from '../../event-store.js'
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
        const s = quoteIdent(store.schema)
        // A loose index scan: distinct stream ids from the (stream_id, version) index, without
        // reading every event.
        const { rows } = await store.pool.query<{
          stream_id: string
          version: string
          events: string
        }>(
          `WITH RECURSIVE ids AS (
             (SELECT stream_id FROM ${s}.events WHERE stream_id >= $1 ORDER BY stream_id LIMIT 1)
             UNION ALL
             SELECT (SELECT e.stream_id FROM ${s}.events e WHERE e.stream_id > ids.stream_id ORDER BY e.stream_id LIMIT 1)
               FROM ids WHERE ids.stream_id IS NOT NULL)
           SELECT ids.stream_id, st.version,
                  (SELECT count(*) FROM ${s}.events e WHERE e.stream_id = ids.stream_id) AS events
             FROM (SELECT stream_id FROM ids WHERE stream_id IS NOT NULL AND stream_id LIKE $2 LIMIT $3) ids,
                  LATERAL ${s}.stream_state(ids.stream_id) st`,
          [
            opts.prefix ?? '',
            `${(opts.prefix ?? '').replace(/[\\%_]/g, (c) => `\\${c}`)}%`,
            opts.limit,
          ],
        )
        const streams = rows.map((r) => ({
          streamId: r.stream_id,
          version: BigInt(r.version),
          events: Number(r.events),
        }))
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
          estimate: string
          last_minute: string
          last_hour: string
          streams_with_metadata: string
        }>(
          `SELECT (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM ${s}.events_position_seq) AS head,
                  ${EVENTS_ESTIMATE_SQL} AS estimate,
                  (SELECT count(*) FROM ${s}.events WHERE created_at > now() - interval '1 minute') AS last_minute,
                  (SELECT count(*) FROM ${s}.events WHERE created_at > now() - interval '1 hour') AS last_hour,
                  (SELECT count(*) FROM ${s}.streams) AS streams_with_metadata`,
          [`${s}.events`],
        )
        const { rows: sizes } = await store.pool.query<{ table: string; bytes: string }>(
          `SELECT c.relname AS table, pg_total_relation_size(c.oid) AS bytes
             FROM pg_class c WHERE c.relnamespace = $1::regnamespace AND c.relkind = 'r' ORDER BY 2 DESC`,
          [store.schema],
        )
        const r = rows[0]!
        const headPosition = BigInt(r.head)
        const events = await countEvents(
          store,
          r.estimate === null ? null : Number(r.estimate),
          headPosition,
        )
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

/** Below this many events `stats` counts them exactly; above it, the planner's estimate will do. */
const EXACT_COUNT_BELOW = 1_000_000
/** How long an exact count may take when the table was never analysed and may be large. */
const COUNT_TIMEOUT_MS = 10_000

/**
 * The planner's estimate of the events table's rows, as Postgres itself scales it: rows per
 * page at the last ANALYZE/VACUUM times the pages there are now. NULL when the table was
 * never analysed or vacuumed (reltuples -1, or no pages counted: autovacuum may be off).
 */
const EVENTS_ESTIMATE_SQL = `(SELECT CASE WHEN c.reltuples < 0 OR c.relpages = 0 THEN NULL
           ELSE (c.reltuples / c.relpages * (pg_relation_size(c.oid) / current_setting('block_size')::int))::bigint END
      FROM pg_class c WHERE c.oid = to_regclass($1))`

/**
 * How many events there are: counted exactly when the estimate is small or unknown, else the
 * estimate. An unknown estimate with a high head position (the head bounds the count from
 * above) is counted under a statement timeout, and past it reported as the head position.
 */
async function countEvents(
  store: EventStore,
  estimate: number | null,
  head: bigint,
): Promise<{ count: number; exact: boolean }> {
  if (estimate !== null && estimate >= EXACT_COUNT_BELOW) return { count: estimate, exact: false }
  const sql = `SELECT count(*) AS n FROM ${quoteIdent(store.schema)}.events`
  if (estimate !== null || head < BigInt(EXACT_COUNT_BELOW)) {
    const { rows } = await store.pool.query<{ n: string }>(sql)
    return { count: Number(rows[0]!.n), exact: true }
  }
  const client = await store.pool.connect()
  try {
    await client.query('BEGIN')
    await client.query(`SET LOCAL statement_timeout = ${COUNT_TIMEOUT_MS}`)
    const { rows } = await client.query<{ n: string }>(sql)
    await client.query('COMMIT')
    return { count: Number(rows[0]!.n), exact: true }
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined)
    if ((error as { code?: unknown }).code !== '57014') throw error // not a query_canceled
    return { count: Number(head), exact: false }
  } finally {
    client.release()
  }
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
