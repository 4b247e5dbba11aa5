import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { Command } from 'commander'
import type { SingleBar } from 'cli-progress'
import type { ProjectionStatus, RunnableProjection } from '../../projections/index.js'
import type { EventStore } from '../../event-store.js'
import type { Action, CliContext } from '../context.js'
import { progressBar, table, UsageError } from '../output.js'
import { bigintArg, positiveInt } from './store.js'

export function registerProjectionCommands(program: Command, action: Action): void {
  const projections = program
    .command('projections')
    .description('projection status with lag; rebuild with a progress bar; pause and resume')

  projections
    .command('status [name]', { isDefault: true })
    .description('every projection version: status, position, lag, lease, failure')
    .action(
      action(async (ctx, name: string | undefined) => {
        const statuses = await ctx.store().projectionStatus(name)
        ctx.output.result(statuses, () =>
          statuses.length === 0 ? 'no projections' : statusTable(statuses),
        )
      }),
    )

  projections
    .command('rebuild <name>')
    .description(
      'replay a projection version from scratch and draw its progress; with --module, run it here (else your runners do the work and this watches)',
    )
    .option(
      '--version <n>',
      'the version to rebuild (default: the active one, else the newest)',
      positiveInt,
    )
    .option('--from <position>', 'replay after this position instead of from the start', bigintArg)
    .option(
      '--module <file>',
      'a module exporting the projection (defineProjection), to run it in this process',
    )
    .option(
      '--no-reset',
      'do not reset: run or watch the version from where it is (a new version builds beside the active one)',
    )
    .action(
      action(
        async (
          ctx,
          name: string,
          opts: { version?: number; from?: bigint; module?: string; reset: boolean },
        ) => {
          const store = ctx.store()
          const projection =
            opts.module === undefined
              ? undefined
              : await loadProjection(opts.module, name, opts.version)
          const version = opts.version ?? projection?.version ?? (await defaultVersion(store, name))
          if (opts.reset) {
            await store.resetProjection(name, { version, from: opts.from ?? 0n })
            ctx.output.note(
              `reset ${name} v${version}${opts.from === undefined ? '' : ` to after position ${opts.from}`}`,
            )
          }
          const bar = ctx.output.json
            ? undefined
            : new (await progressBar())({
                format: `${name} v${version} |{bar}| {percentage}% | {value}/{total} positions | {rate}/s | ETA {eta_formatted}`,
              })
          const done =
            projection === undefined
              ? watch(store, name, version, bar)
              : run(store, projection, bar)
          const final = await done
          bar?.stop()
          ctx.output.result(
            final,
            () =>
              `${name} v${version}: ${final.status}, position ${final.position}, ${final.behind} behind`,
          )
        },
      ),
    )

  projections
    .command('pause <name>')
    .description("pause a projection's runners (every version unless --version)")
    .option('--version <n>', 'only this version', positiveInt)
    .action(
      action(async (ctx, name: string, opts: { version?: number }) => {
        await ctx
          .store()
          .pauseProjection(name, opts.version === undefined ? {} : { version: opts.version })
        ctx.output.result({ name, paused: true }, () => `paused ${name}`)
      }),
    )

  projections
    .command('resume <name>')
    .description("resume a projection's runners")
    .option('--version <n>', 'only this version', positiveInt)
    .action(
      action(async (ctx, name: string, opts: { version?: number }) => {
        await ctx
          .store()
          .resumeProjection(name, opts.version === undefined ? {} : { version: opts.version })
        ctx.output.result({ name, paused: false }, () => `resumed ${name}`)
      }),
    )

  projections
    .command('failures <name>')
    .description('events a projection version skipped or stopped on')
    .requiredOption('--version <n>', 'the version', positiveInt)
    .option('--limit <n>', 'at most this many', positiveInt, 100)
    .action(
      action(async (ctx: CliContext, name: string, opts: { version: number; limit: number }) => {
        const failures = await ctx.store().projectionFailures(name, opts.version, opts.limit)
        ctx.output.result(failures, () =>
          failures.length === 0
            ? 'no failures'
            : table(
                ['position', 'event', 'type', 'attempts', 'skipped', 'error'],
                failures.map((f) => [
                  f.position,
                  f.eventId,
                  f.eventType,
                  f.attempts,
                  f.skipped,
                  f.error,
                ]),
              ),
        )
      }),
    )
}

function statusTable(statuses: readonly ProjectionStatus[]): string {
  return table(
    [
      'name',
      'version',
      'status',
      'paused',
      'position',
      'behind',
      'seconds behind',
      'lease',
      'failure',
    ],
    statuses.map((s) => [
      s.name,
      s.version,
      s.status,
      s.paused,
      s.position,
      s.behind,
      s.secondsBehind.toFixed(1),
      s.leaseOwner,
      s.failure === null ? null : `at ${s.failure.position}: ${s.failure.error}`,
    ]),
  )
}

async function defaultVersion(store: EventStore, name: string): Promise<number> {
  const statuses = await store.projectionStatus(name)
  const active = statuses.find((s) => s.status === 'active')
  const newest = statuses[statuses.length - 1]
  const version = active?.version ?? newest?.version
  if (version === undefined) throw new UsageError(`no projection named ${JSON.stringify(name)}`)
  return version
}

/** Finds `name` (and `version`, else the newest) among a module's exported projections. */
async function loadProjection(
  file: string,
  name: string,
  version: number | undefined,
): Promise<RunnableProjection> {
  const exports = (await import(pathToFileURL(resolve(file)).href)) as Record<string, unknown>
  const candidates = Object.values(exports).filter(
    (value): value is RunnableProjection =>
      typeof value === 'object' &&
      value !== null &&
      (value as { kind?: unknown }).kind === 'strata.projection',
  )
  const matching = candidates
    .filter((p) => p.name === name && (version === undefined || p.version === version))
    .sort((a, b) => b.version - a.version)
  const found = matching[0]
  if (found === undefined) {
    const known = candidates.map((p) => `${p.name} v${p.version}`).join(', ') || 'none'
    throw new UsageError(
      `${file} exports no projection ${name}${version === undefined ? '' : ` v${version}`} (it exports: ${known})`,
    )
  }
  return found
}

/** Runs the projection here until it is live (caught up), drawing its progress. */
function run(
  store: EventStore,
  projection: RunnableProjection,
  bar: SingleBar | undefined,
): Promise<ProjectionStatus> {
  const runner = store.runProjection(projection)
  let started = false
  runner.progress$.subscribe((p) => {
    const total = Number(p.total)
    if (!started) {
      bar?.start(total, Number(p.done), { rate: '0' })
      started = true
    }
    bar?.setTotal(total)
    bar?.update(Number(p.done), { rate: Math.round(p.rate).toString() })
  })
  return new Promise((resolvePromise, reject) => {
    runner.state$.subscribe((state) => {
      if (state === 'live' || state === 'retired') {
        void runner
          .stop()
          .then(() => store.projectionStatus(projection.name))
          .then((all) => resolvePromise(all.find((s) => s.version === projection.version)!))
      }
    })
    runner.done.catch(reject)
  })
}

/** Watches a version rebuilt by the application's runners until it has caught up. */
async function watch(
  store: EventStore,
  name: string,
  version: number,
  bar: SingleBar | undefined,
): Promise<ProjectionStatus> {
  let started = false
  let last: { at: number; position: bigint } | undefined
  for (;;) {
    const status = (await store.projectionStatus(name)).find((s) => s.version === version)
    if (status === undefined) throw new UsageError(`no projection ${name} v${version}`)
    const total = Number(status.head - status.startedFrom)
    const done = Number(status.position - status.startedFrom)
    const now = Date.now()
    const rate =
      last === undefined
        ? 0
        : (Number(status.position - last.position) * 1000) / Math.max(1, now - last.at)
    last = { at: now, position: status.position }
    if (!started) {
      bar?.start(Math.max(total, 1), done, { rate: '0' })
      started = true
    }
    bar?.setTotal(Math.max(total, 1))
    bar?.update(done, { rate: Math.round(rate).toString() })
    if (status.behind === 0n && status.position >= status.startedFrom) return status
    if (status.failure !== null)
      throw new Error(
        `${name} v${version} stopped at ${status.failure.position}: ${status.failure.error}`,
      )
    await new Promise((r) => setTimeout(r, 500))
  }
}
