import { ConfigError } from '../errors.js'
import type { GroupRow } from './group-db.js'
import type { GroupDefinition } from './options.js'

/**
 * Refuses to open a group whose stored definition (fixed at creation) differs from the options.
 * @throws ConfigError naming the option that differs.
 */
export function checkDefinition(name: string, row: GroupRow, ours: GroupDefinition): void {
  const stored: GroupDefinition = {
    category: row.source_category,
    eventTypes: row.source_event_types,
    streamIds: row.source_stream_ids,
    streamPrefix: row.source_stream_prefix,
    strategy: row.strategy,
    holdParkedStreams: row.hold_parked_streams,
  }
  const fix = 'delete the group (group.delete()) to redefine it, or use another name'
  const sourceFix =
    'to change it keeping its position and dead letters, call changeSource() on a group opened with the new source; or use another name'
  if (stored.strategy !== ours.strategy) {
    throw new ConfigError(
      'strategy',
      ours.strategy,
      `consumer group ${JSON.stringify(name)} exists with strategy '${stored.strategy}'; ${fix}`,
    )
  }
  if (stored.holdParkedStreams !== ours.holdParkedStreams) {
    throw new ConfigError(
      'parkedStream',
      ours.holdParkedStreams ? 'hold' : 'continue',
      `consumer group ${JSON.stringify(name)} exists with parkedStream '${stored.holdParkedStreams ? 'hold' : 'continue'}'; ${fix}`,
    )
  }
  const source = (d: GroupDefinition) =>
    JSON.stringify([d.category, d.eventTypes, d.streamIds, d.streamPrefix])
  if (source(stored) !== source(ours)) {
    throw new ConfigError(
      'source',
      describeSource(ours),
      `consumer group ${JSON.stringify(name)} exists with source ${describeSource(stored)}; ${sourceFix}`,
    )
  }
}

/** A readable source, e.g. `{ category: "order", eventTypes: ["Placed"] }` or `'all'`. */
export function describeSource(d: GroupDefinition): string {
  const parts: string[] = []
  if (d.category !== null) parts.push(`category: ${JSON.stringify(d.category)}`)
  if (d.streamIds !== null) parts.push(`streams: ${JSON.stringify(d.streamIds)}`)
  if (d.streamPrefix !== null) parts.push(`streamIdPrefix: ${JSON.stringify(d.streamPrefix)}`)
  if (d.eventTypes !== null) parts.push(`eventTypes: ${JSON.stringify(d.eventTypes)}`)
  return parts.length === 0 ? "'all'" : `{ ${parts.join(', ')} }`
}
