import { toBigInt } from '../db/index.js'
import { InvalidArgumentError } from '../errors.js'
import { joinedEventRow, type ParkedRow } from './group-db.js'
import type { GroupRuntime } from './group-runtime.js'
import { checkKnownKeys } from '../config/index.js'
import { POSITION_RULE, toPosition } from './positions.js'
import type { DeadLetter, DeadLetters, DeadLetterTarget, ListDeadLettersOptions } from './types.js'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** The dead-letter API of a group: list, inspect, replay, discard, count. */
export function createDeadLetters<E>(runtime: GroupRuntime<E>): DeadLetters<E> {
  const toDeadLetter = (row: ParkedRow): DeadLetter<E> => {
    let event: E | undefined
    if (row.id !== null) {
      try {
        event = runtime.decode(joinedEventRow(row, row.position, row.id))
      } catch {
        event = undefined // the reason it was parked, perhaps; the row still says what it is
      }
    }
    return {
      position: toBigInt(row.position),
      streamId: row.stream_id,
      event,
      attempts: row.attempts,
      reason: row.park_reason ?? '',
      lastError: row.last_error ?? undefined,
      parkedAt: row.parked_at,
      lastDeliveredAt: row.delivered_at ?? undefined,
    }
  }

  /** Positions named by a target; null for 'all'. Unknown event ids are left out. */
  const positionsOf = async (target: DeadLetterTarget): Promise<bigint[] | null> => {
    if (target === 'all') return null
    const items: unknown[] = Array.isArray(target) ? [...(target as unknown[])] : [target]
    const positions: bigint[] = []
    const ids: string[] = []
    items.forEach((item, i) => {
      const name = Array.isArray(target) ? `target[${i}]` : 'target'
      const position =
        typeof item === 'object' && item !== null
          ? toPosition((item as { position?: unknown }).position)
          : toPosition(item)
      if (position !== undefined) positions.push(position)
      else if (typeof item === 'string' && UUID.test(item)) ids.push(item.toLowerCase())
      else {
        throw new InvalidArgumentError(
          name,
          item,
          `must be a position (a bigint, or a non-negative safe integer), an event id (uuid), a dead letter, a list of those, or 'all'`,
        )
      }
    })
    if (ids.length > 0) {
      await runtime.ready()
      for (const position of (await runtime.db.positionsOfIds(ids)).values()) {
        positions.push(position)
      }
    }
    return positions
  }

  const unpark = async (target: DeadLetterTarget, discard: boolean) => {
    const positions = await positionsOf(target)
    if (positions !== null && positions.length === 0) return 0
    const count = await runtime.db.unpark(await runtime.groupId(), positions, discard)
    if (count > 0) await runtime.wakeEveryone()
    return count
  }

  return {
    async list(options: ListDeadLettersOptions = {}) {
      if (typeof options !== 'object' || options === null) {
        throw new InvalidArgumentError('options', options, 'must be an object')
      }
      checkKnownKeys(
        options,
        ['after', 'limit', 'streamId'],
        'an option of deadLetters.list()',
        {},
        '',
        InvalidArgumentError,
      )
      const after = toPosition(options.after ?? 0n)
      if (after === undefined) {
        throw new InvalidArgumentError('after', options.after, POSITION_RULE)
      }
      const limit = options.limit ?? 100
      if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) {
        throw new InvalidArgumentError('limit', limit, 'must be an integer from 1 to 10000')
      }
      const streamId = options.streamId ?? null
      if (streamId !== null && (typeof streamId !== 'string' || streamId.length === 0)) {
        throw new InvalidArgumentError('streamId', streamId, 'must be a non-empty string')
      }
      const rows = await runtime.db.listParked(await runtime.groupId(), after, limit, streamId)
      return rows.map(toDeadLetter)
    },

    async inspect(target) {
      const positions = await positionsOf(target)
      const position = positions?.[0]
      if (position === undefined) return undefined
      const row = await runtime.db.inspectParked(await runtime.groupId(), position)
      return row === undefined ? undefined : toDeadLetter(row)
    },

    replay: (target) => unpark(target, false),
    discard: (target) => unpark(target, true),

    async count() {
      return runtime.db.countParked(await runtime.groupId())
    },
  }
}
