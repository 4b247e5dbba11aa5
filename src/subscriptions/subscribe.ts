import { InvalidArgumentError } from '../errors.js'
import {
  type StoreCore,
  type RecordedEvent,
  checkFilter,
  checkPositiveInt,
  checkStreamId,
} from '../store/index.js'
import { Checkpointer, checkpointsOf } from './checkpoint-store.js'
import { allSource, checkStart, feedSettings, livePages, streamSource } from './event-feed.js'
import { EventSubscription } from './event-subscription.js'
import type {
  SubscribeToAllOptions,
  SubscribeToCategoryOptions,
  SubscribeToStreamOptions,
  SubscriptionStart,
} from './types.js'

/** $all (optionally filtered), catch-up then live. See the facade's subscribeToAll. */
export function subscribeToAll<E extends RecordedEvent>(
  store: StoreCore,
  options: SubscribeToAllOptions = {},
): EventSubscription<E> {
  checkStart(options.from, true)
  const settings = feedSettings(options)
  const filter = checkFilter(options.filter)
  let from: SubscriptionStart | (() => Promise<SubscriptionStart>) = options.from ?? 'start'
  let checkpointer: Checkpointer | undefined
  let label = filter === undefined ? '$all' : '$all (filtered)'
  if (options.checkpoint !== undefined) {
    const name = options.checkpoint
    if (typeof name !== 'string' || name.length === 0) {
      throw new InvalidArgumentError('checkpoint', name, 'must be a non-empty subscription name')
    }
    const every = checkPositiveInt('checkpointEvery', options.checkpointEvery ?? 100)
    const checkpoints = checkpointsOf(store)
    checkpointer = new Checkpointer(checkpoints, name, every, (error) => store.reportError(error))
    const fallback = from
    from = async () => (await checkpoints.load(name)) ?? fallback
    label = `subscription ${JSON.stringify(name)}`
  }
  const source = allSource(store, label, from, filter)
  return new EventSubscription<E>(
    (signal) => livePages(store, source, settings, signal),
    checkpointer,
    options.signal,
    store,
  )
}

/** The events of one category (stream ids `<category>-…`). */
export function subscribeToCategory<E extends RecordedEvent>(
  store: StoreCore,
  category: string,
  options: SubscribeToCategoryOptions = {},
): EventSubscription<E> {
  if (typeof category !== 'string' || category.length === 0 || category.includes('-')) {
    throw new InvalidArgumentError('category', category, "must be a non-empty string without '-'")
  }
  const { eventTypes, ...rest } = options
  return subscribeToAll<E>(store, {
    ...rest,
    filter: eventTypes === undefined ? { category } : { category, eventTypes },
  })
}

/** One stream in version order; `from` is a version. */
export function subscribeToStream<E extends RecordedEvent>(
  store: StoreCore,
  streamId: string,
  options: SubscribeToStreamOptions = {},
): EventSubscription<E> {
  checkStreamId(streamId)
  checkStart(options.from, false)
  const settings = feedSettings(options)
  const source = streamSource(store, streamId, options.from ?? 'start')
  return new EventSubscription<E>(
    (signal) => livePages(store, source, settings, signal),
    undefined,
    options.signal,
    store,
  )
}
