import { toBigInt } from '../db/index.js'
import { DuplicateEventError, InvalidArgumentError, StoreClosedError } from '../errors.js'
import { EventTypes } from '../events/index.js'
import {
  AppendBatcher,
  type PreparedAppend,
  type StoreCore,
  AppendNotifier,
  type EventRow,
  type EventMetadata,
  prepareEvents,
  uuidV7,
} from '../store/index.js'
import { ConsumerGroupHandle } from './consumer-group-handle.js'
import { GroupRuntime } from './group-runtime.js'
import { checkKnownKeys } from '../config/index.js'
import { checkGroupName, checkTaskQueueOptions } from './group-options.js'
import type { GroupSettings } from './options.js'
import type { SendOptions, SentTask, Task, TaskQueue, TaskQueueOptions } from './task-types.js'
import { uuidV5 } from './uuid-v5.js'

/** The event type of tasks. */
export const TASK_EVENT_TYPE = '$task'
const MAX_DELAY_MS = 365 * 24 * 3600_000
const MAX_DEDUP_KEY_LENGTH = 1000

/**
 * Opens a task queue of a store (what `store.queue(name, options)` calls): a round-robin
 * consumer group named `$queue:<name>` over the streams `send` appends to, one stream per task
 * in the category `$queue:<name>` ('-' and '%' in the name are percent-encoded, since a
 * category ends at the first '-').
 *
 * @throws InvalidArgumentError for an invalid name; ConfigError for invalid options.
 */
export function createTaskQueue<P>(
  store: StoreCore,
  name: string,
  options: TaskQueueOptions = {},
): TaskQueue<P> {
  const queueName = checkGroupName(name, 'queue name')
  const category = `$queue:${queueName.replaceAll('%', '%25').replaceAll('-', '%2D')}`
  const settings: GroupSettings = {
    definition: {
      category,
      eventTypes: null,
      streamIds: null,
      streamPrefix: null,
      strategy: 'round-robin',
      holdParkedStreams: true,
    },
    // Tasks sent before the first consumer started must be delivered too.
    start: { kind: 'start', position: null, time: null },
    // Without an onError of the queue's own, its recoverable errors go to the store's logger
    // and onError (as a group's do).
    delivery: checkTaskQueueOptions(
      options !== null && typeof options === 'object' && options.onError === undefined
        ? { ...options, onError: (error: unknown) => store.reportError(error) }
        : options,
    ),
  }
  const runtime = new GroupRuntime<Task<P>>({
    store,
    name: `$queue:${queueName}`,
    displayName: queueName,
    kind: 'queue',
    settings,
    decode: (row) => toTask<P>(row),
  })
  return new TaskQueueHandle<P>(runtime, store, queueName, category)
}

class TaskQueueHandle<P> extends ConsumerGroupHandle<Task<P>> implements TaskQueue<P> {
  constructor(
    runtime: GroupRuntime<Task<P>>,
    private readonly store: StoreCore,
    private readonly queueName: string,
    private readonly category: string,
  ) {
    super(runtime)
  }

  async send(payload: P, options: SendOptions = {}): Promise<SentTask> {
    if (this.store.closing) throw new StoreClosedError()
    if (typeof options !== 'object' || options === null) {
      throw new InvalidArgumentError('options', options, 'must be an object')
    }
    checkKnownKeys(
      options,
      ['delayMs', 'dedupKey', 'metadata'],
      'an option of send()',
      {},
      '',
      InvalidArgumentError,
    )
    const { delayMs = 0, dedupKey, metadata } = options
    if (!Number.isInteger(delayMs) || delayMs < 0 || delayMs > MAX_DELAY_MS) {
      throw new InvalidArgumentError(
        'delayMs',
        delayMs,
        `must be an integer from 0 to ${MAX_DELAY_MS}`,
      )
    }
    if (
      dedupKey !== undefined &&
      (typeof dedupKey !== 'string' ||
        dedupKey.length === 0 ||
        dedupKey.length > MAX_DEDUP_KEY_LENGTH)
    ) {
      throw new InvalidArgumentError(
        'dedupKey',
        dedupKey,
        `must be a string of 1 to ${MAX_DEDUP_KEY_LENGTH} characters`,
      )
    }
    if (
      metadata !== undefined &&
      (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata))
    ) {
      throw new InvalidArgumentError('metadata', metadata, 'must be a plain object')
    }
    // A dedupKey becomes the task's id: sending it again is an idempotent retry of one append.
    const id = dedupKey === undefined ? uuidV7() : uuidV5(`${this.queueName}\u0000${dedupKey}`)
    const sender = taskSender(this.store)
    const events = prepareEvents(
      [
        {
          id,
          type: TASK_EVENT_TYPE,
          data: payload,
          metadata: {
            ...metadata,
            ...(delayMs > 0 ? { $delayMs: delayMs } : {}),
            ...(dedupKey === undefined ? {} : { $dedupKey: dedupKey }),
          },
        },
      ],
      sender.types,
      { maxEventsPerAppend: 1, maxAppendBytes: 64 * 1024 * 1024 },
    )
    await this.runtime.ready()
    const append: PreparedAppend = {
      streamId: `${this.category}-${id}`,
      expected: { kind: 'any', version: null },
      expectedAsGiven: 'any',
      // Random ids cannot be a retry: skip the idempotency lookup for them.
      events: { ...events, idsSupplied: dedupKey !== undefined },
    }
    try {
      const outcome = await sender.batcher.append(append)
      sender.notifier.appended(outcome.position)
      return { id, position: outcome.position, duplicate: outcome.retried }
    } catch (error) {
      // The key was sent before with another payload: like SQS, accept and enqueue nothing.
      if (dedupKey !== undefined && error instanceof DuplicateEventError) {
        const position = (await this.runtime.db.positionsOfIds([id])).get(id)
        if (position !== undefined) return { id, position, duplicate: true }
      }
      throw error
    }
  }
}

function toTask<P>(row: EventRow): Task<P> {
  const {
    $delayMs: delay,
    $dedupKey: dedupKey,
    ...metadata
  } = row.metadata as EventMetadata & {
    $delayMs?: unknown
    $dedupKey?: unknown
  }
  const delayMs = typeof delay === 'number' ? delay : 0
  return {
    id: row.id,
    payload: row.data as P,
    data: row.data as P,
    sentAt: row.created_at,
    availableAt: new Date(row.created_at.getTime() + delayMs),
    dedupKey: typeof dedupKey === 'string' ? dedupKey : undefined,
    metadata,
    position: toBigInt(row.position),
  }
}

/** Appends tasks with group commit and wakes consumers: one per store, closed with it. */
interface TaskSender {
  readonly types: EventTypes
  readonly batcher: AppendBatcher
  readonly notifier: AppendNotifier
}

const senders = new WeakMap<StoreCore, TaskSender>()

function taskSender(store: StoreCore): TaskSender {
  let sender = senders.get(store)
  if (sender === undefined) {
    const onError = () => undefined // a lost notification costs latency only: consumers poll
    const notifier = new AppendNotifier(store.pool, store.sql, onError)
    sender = {
      // Task payloads are any JSON: not checked against the store's registry.
      types: new EventTypes(undefined, true),
      batcher: new AppendBatcher(store.pool, store.sql, {
        maxInFlight: 2,
        maxBatchEvents: 1000,
        attempts: 3,
      }),
      notifier,
    }
    senders.set(store, sender)
    store.onClose(() => notifier.close())
  }
  return sender
}
