import {
  openStoredGroups,
  QUEUE_PREFIX,
  type StoredGroup,
  type Task,
  type DeadLetter,
} from '../consumers/index.js'
import type { EventStore } from '../event-store.js'
import type { RecordedEvent } from '../store/index.js'
import type { AuditLog } from './audit-log.js'
import { toTailEvent } from './live-feed.js'
import {
  bigintParam,
  type ConsoleApp,
  HttpError,
  intParam,
  sendJson,
  stringParam,
} from './respond.js'
import { listStreams } from './sql.js'
import type { StatsSampler } from './stats-sampler.js'

/** What the read routes need. */
export interface ReadContext {
  readonly store: EventStore
  readonly sampler: StatsSampler
  readonly audit: AuditLog
  readonly settings: { readonly allowActions: boolean; readonly intervalMs: number }
}

/**
 * The console's reads: all GET, none changes anything. Ids and positions travel in the query
 * string; event data never does (it is only ever in response bodies).
 */
export function registerReadRoutes(app: ConsoleApp, ctx: ReadContext): void {
  const { store, sampler } = ctx

  app.get('/api/config', (c) =>
    sendJson(c, {
      schema: store.schema,
      allowActions: ctx.settings.allowActions,
      intervalMs: ctx.settings.intervalMs,
    }),
  )

  app.get('/api/overview', (c) =>
    sendJson(c, { sample: sampler.latest ?? null, history: sampler.history }),
  )

  app.get('/api/streams', async (c) => {
    const prefix = c.req.query('prefix') ?? ''
    const after = c.req.query('after')
    const page = await listStreams(store.pool, store.schema, {
      prefix,
      ...(after === undefined || after === '' ? {} : { after }),
      limit: intParam(c.req.query('limit'), 'limit', 50, 500),
    })
    return sendJson(c, page)
  })

  app.get('/api/stream', async (c) => {
    const id = stringParam(c.req.query('id'), 'id')
    const direction = c.req.query('direction') === 'backward' ? 'backward' : 'forward'
    const from = c.req.query('from')
    const limit = intParam(c.req.query('limit'), 'limit', 50, 1000)
    const [info, events] = await Promise.all([
      store.getStreamInfo(id),
      store.readStream(id, {
        direction,
        limit,
        ...(from === undefined || from === '' ? {} : { from: bigintParam(from, 'from') }),
      }),
    ])
    return sendJson(c, { info, events: events.map(eventJson) })
  })

  app.get('/api/tail', async (c) => {
    const limit = intParam(c.req.query('limit'), 'limit', 50, 500)
    const head = await store.headPosition()
    const page = await store.readAll({
      after: head > BigInt(limit) ? head - BigInt(limit) : 0n,
      limit,
    })
    return sendJson(c, { events: page.events.map(toTailEvent) })
  })

  app.get('/api/projections/failures', async (c) => {
    const name = stringParam(c.req.query('name'), 'name')
    const version = Number(bigintParam(c.req.query('version'), 'version'))
    const failures = await store.projectionFailures(
      name,
      version,
      intParam(c.req.query('limit'), 'limit', 50, 500),
    )
    return sendJson(c, { failures })
  })

  app.get('/api/groups/dead-letters', async (c) => {
    const opened = await openGroup(store, c.req.query('name'), c.req.query('kind'))
    const after = c.req.query('after')
    const letters = await opened.group.deadLetters.list({
      limit: intParam(c.req.query('limit'), 'limit', 50, 500),
      ...(after === undefined || after === '' ? {} : { after: bigintParam(after, 'after') }),
    })
    return sendJson(c, {
      name: opened.name,
      kind: opened.kind,
      deadLetters: letters.map((l) => deadLetterJson(l, opened.kind)),
    })
  })

  app.get('/api/audit', (c) => sendJson(c, { entries: ctx.audit.entries() }))
}

/**
 * A stored group or queue by the name and kind the pages show. @throws HttpError 404 when none.
 */
export async function openGroup(
  store: EventStore,
  name: unknown,
  kind: unknown,
): Promise<StoredGroup> {
  const given = stringParam(name, 'name')
  if (kind !== undefined && kind !== 'group' && kind !== 'queue') {
    throw new HttpError(400, `kind must be 'group' or 'queue', not ${JSON.stringify(kind)}`)
  }
  const [opened] = await openStoredGroups(
    store.core,
    kind === 'queue' && !given.startsWith(QUEUE_PREFIX) ? `${QUEUE_PREFIX}${given}` : given,
  )
  if (opened === undefined || (kind !== undefined && opened.kind !== kind)) {
    throw new HttpError(
      404,
      `no ${kind ?? 'consumer group or queue'} named ${JSON.stringify(given)}`,
    )
  }
  return opened
}

function eventJson(event: RecordedEvent) {
  return {
    id: event.id,
    streamId: event.streamId,
    version: event.version,
    position: event.position,
    type: event.type,
    data: event.data,
    metadata: event.metadata,
    createdAt: event.createdAt,
  }
}

function deadLetterJson(letter: DeadLetter<unknown>, kind: StoredGroup['kind']) {
  return {
    position: letter.position,
    streamId: letter.streamId,
    attempts: letter.attempts,
    reason: letter.reason,
    lastError: letter.lastError ?? null,
    parkedAt: letter.parkedAt,
    lastDeliveredAt: letter.lastDeliveredAt ?? null,
    event: letter.event === undefined ? null : parkedEventJson(letter, kind),
  }
}

/** A parked message's event; a task queue's is a Task (its payload is the event's data). */
function parkedEventJson(letter: DeadLetter<unknown>, kind: StoredGroup['kind']) {
  if (kind === 'group') return eventJson(letter.event as RecordedEvent)
  const task = letter.event as Task<unknown>
  return {
    id: task.id,
    streamId: letter.streamId,
    version: null,
    position: task.position,
    type: '$task',
    data: task.data,
    metadata: task.metadata,
    createdAt: task.sentAt,
  }
}
