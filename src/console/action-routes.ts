import type { HttpBindings } from '@hono/node-server'
import type { Context } from 'hono'
import type { ResetTarget } from '../consumers/index.js'
import type { EventStore } from '../event-store.js'
import { checkAction } from './auth.js'
import type { AuditLog } from './audit-log.js'
import { openGroup } from './read-routes.js'
import {
  bigintParam,
  errorStatus,
  HttpError,
  sendJson,
  stringParam,
  type ConsoleApp,
} from './respond.js'
import type { StatsSampler } from './stats-sampler.js'

/** What the action routes need. */
export interface ActionContext {
  readonly store: EventStore
  readonly sampler: StatsSampler
  readonly audit: AuditLog
  readonly settings: { readonly allowActions: boolean; readonly token: string | undefined }
}

type Body = Record<string, unknown>
/** An action: does its work, returns what it did (also the audit detail) and its target. */
type Handler = (body: Body) => Promise<{ target: string; result: Record<string, unknown> }>

/**
 * The actions that change state: POST with a JSON body, only with actions enabled and the
 * token (see checkAction), each recorded in the audit log whatever its outcome. Every one goes
 * through the public API (dead letters, reset, pause, resume, resetProjection).
 */
export function registerActionRoutes(app: ConsoleApp, ctx: ActionContext): void {
  const { store } = ctx
  const actions: Record<string, Handler> = {
    'dead-letters.replay': (body) => deadLetters(store, body, 'replay'),
    'dead-letters.discard': (body) => deadLetters(store, body, 'discard'),
    'groups.reset': async (body) => {
      const opened = await openGroup(store, body.name, body.kind)
      const result = await opened.group.reset(resetTarget(body.to))
      return { target: `${opened.kind} ${opened.name}`, result: { ...result } }
    },
    'projections.pause': (body) => pause(store, body, true),
    'projections.resume': (body) => pause(store, body, false),
    'projections.rebuild': async (body) => {
      const name = stringParam(body.name, 'name')
      const version = versionParam(body.version)
      if (version === undefined) throw new HttpError(400, 'version is required')
      const from =
        body.from === undefined || body.from === null ? 0n : bigintParam(body.from, 'from')
      await store.resetProjection(name, { version, from })
      return { target: `projection ${name} v${version}`, result: { rebuilding: true, from } }
    },
  }

  app.post('/api/actions/:action', async (c) => {
    const action = c.req.param('action')
    const remote = remoteAddress(c)
    const handler = Object.hasOwn(actions, action) ? actions[action] : undefined
    const refusal = checkAction(c.req, ctx.settings)
    if (refusal !== undefined) {
      ctx.audit.record({
        action,
        target: null,
        outcome: 'refused',
        status: refusal.status,
        detail: refusal.reason,
        remote,
      })
      return sendJson(c, { error: refusal.reason }, refusal.status)
    }
    if (handler === undefined)
      return sendJson(c, { error: `no action ${JSON.stringify(action)}` }, 404)
    let target: string | null = null
    try {
      const body = await c.req.json<unknown>().catch(() => {
        throw new HttpError(400, 'the body is not JSON')
      })
      if (typeof body !== 'object' || body === null || Array.isArray(body)) {
        throw new HttpError(400, 'the body must be a JSON object')
      }
      target = typeof (body as Body).name === 'string' ? ((body as Body).name as string) : null
      const done = await handler(body as Body)
      target = done.target
      ctx.audit.record({
        action,
        target,
        outcome: 'done',
        status: 200,
        detail: JSON.stringify(done.result, (_k, v: unknown) =>
          typeof v === 'bigint' ? v.toString() : v,
        ),
        remote,
      })
      ctx.sampler.refresh()
      return sendJson(c, { action, target, ...done.result })
    } catch (error) {
      const status = errorStatus(error)
      const message = error instanceof Error ? error.message : String(error)
      ctx.audit.record({ action, target, outcome: 'failed', status, detail: message, remote })
      return sendJson(
        c,
        { error: status === 500 ? `${action} failed: ${message}` : message },
        status,
      )
    }
  })
}

async function deadLetters(store: EventStore, body: Body, verb: 'replay' | 'discard') {
  const opened = await openGroup(store, body.name, body.kind)
  const positions = body.positions
  let target: 'all' | bigint[]
  if (positions === 'all') target = 'all'
  else if (Array.isArray(positions) && positions.length > 0 && positions.length <= 10_000) {
    target = positions.map((p, i) => bigintParam(p, `positions[${i}]`))
  } else {
    throw new HttpError(400, "positions must be 'all' or a list of 1 to 10,000 positions")
  }
  const count = await opened.group.deadLetters[verb](target)
  return {
    target: `${opened.kind} ${opened.name}`,
    result: { [verb === 'replay' ? 'replayed' : 'discarded']: count },
  }
}

async function pause(store: EventStore, body: Body, paused: boolean) {
  const name = stringParam(body.name, 'name')
  const version = versionParam(body.version)
  const options = version === undefined ? {} : { version }
  if (paused) await store.pauseProjection(name, options)
  else await store.resumeProjection(name, options)
  return {
    target: `projection ${name}${version === undefined ? '' : ` v${version}`}`,
    result: { paused },
  }
}

function versionParam(value: unknown): number | undefined {
  if (value === undefined || value === null) return undefined
  const n = typeof value === 'string' ? Number(value) : value
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 2 ** 31 - 1) {
    throw new HttpError(400, `version must be a positive integer, not ${JSON.stringify(value)}`)
  }
  return n
}

/** 'start', 'end', { position } (delivered again from it, inclusive) or { time } (ISO). */
function resetTarget(to: unknown): ResetTarget {
  if (to === 'start' || to === 'end') return to
  if (typeof to === 'object' && to !== null) {
    const { position, time } = to as { position?: unknown; time?: unknown }
    if (position !== undefined) return { position: bigintParam(position, 'to.position') }
    if (typeof time === 'string' && !Number.isNaN(Date.parse(time))) return { time: new Date(time) }
  }
  throw new HttpError(
    400,
    `to must be 'start', 'end', { position } or { time: <ISO date> }, not ${JSON.stringify(to)}`,
  )
}

function remoteAddress(c: Context<{ Bindings: HttpBindings }>): string | null {
  return c.env?.incoming?.socket?.remoteAddress ?? null
}
