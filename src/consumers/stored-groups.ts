import { quoteIdent } from '../db/index.js'
import type { RecordedEvent, StoreCore } from '../store/index.js'
import { createConsumerGroup, createTaskQueue } from './consumer-group.js'
import type { ConsumerGroup, ConsumerGroupOptions, ConsumerStrategy } from './types.js'

/** The stored name of a task queue's group: `$queue:<the queue's name>`. */
export const QUEUE_PREFIX = '$queue:'

/** A group or a task queue of the database, opened as the API opens it. */
export interface StoredGroup {
  readonly kind: 'group' | 'queue'
  /** The name users gave: a queue's own name (`emails`, stored as `$queue:emails`). */
  readonly name: string
  readonly group: ConsumerGroup<unknown>
}

interface GroupRow {
  name: string
  strategy: ConsumerStrategy
  hold_parked_streams: boolean
  source_category: string | null
  source_event_types: string[] | null
  source_stream_ids: string[] | null
  source_stream_prefix: string | null
}

/**
 * Opens the groups and task queues stored in the database with the definition they
 * were created with, for tools that have no code of the application (the CLI, the console).
 * Without a name: all of them, by name. A name is a group's name, else a queue's (`emails`);
 * `$queue:emails` always names the queue (when a group and a queue share a name). Returns an
 * empty list when nothing has that name. Groups whose name is reserved (`$…`, other than queues)
 * belong to strata itself and are left out.
 */
export async function openStoredGroups(store: StoreCore, name?: string): Promise<StoredGroup[]> {
  await store.ready()
  const candidates =
    name === undefined
      ? null
      : name.startsWith(QUEUE_PREFIX)
        ? [name]
        : [name, `${QUEUE_PREFIX}${name}`]
  const { rows } = await store.pool.query<GroupRow>(
    `SELECT name, strategy, hold_parked_streams, source_category, source_event_types, source_stream_ids, source_stream_prefix
       FROM ${quoteIdent(store.schema)}.consumer_groups WHERE $1::text[] IS NULL OR name = ANY($1) ORDER BY name`,
    [candidates],
  )
  const opened = rows.flatMap((row) => {
    const group = openRow(store, row)
    return group === undefined ? [] : [group]
  })
  if (name === undefined) {
    return opened.sort((a, b) =>
      a.name === b.name ? a.kind.localeCompare(b.kind) : a.name < b.name ? -1 : 1,
    )
  }
  // A group of that name first, else the queue.
  const found = opened.find((g) => g.kind === 'group') ?? opened[0]
  return found === undefined ? [] : [found]
}

function openRow(store: StoreCore, row: GroupRow): StoredGroup | undefined {
  if (row.name.startsWith(QUEUE_PREFIX)) {
    const name = row.name.slice(QUEUE_PREFIX.length)
    return { kind: 'queue', name, group: createTaskQueue(store, name) }
  }
  if (row.name.startsWith('$')) return undefined
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
  return { kind: 'group', name: row.name, group: createConsumerGroup(store, row.name, options) }
}
