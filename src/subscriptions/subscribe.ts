import { checkOptions, optionKeys } from '../config/index.js'
import { describeText, InvalidArgumentError } from '../errors.js'
import {
  type StoreCore,
  type RecordedEvent,
  checkFilter,
  checkPositiveInt,
  checkStreamId,
} from '../store/index.js'
import { Checkpointer, checkCheckpointName, checkpointsOf } from './checkpoint-store.js'
import { allSource, checkStart, feedSettings, livePages, streamSource } from './event-feed.js'
import { EventSubscription } from './event-subscription.js'
import type {
  LiveOptions,
  SubscribeToAllOptions,
  SubscribeToCategoryOptions,
  SubscribeToStreamOptions,
  SubscriptionStart,
} from './types.js'

const LIVE_OPTIONS = {
  pageSize: true,
  pollIntervalMs: true,
  retry: true,
  signal: true,
  readFrom: true,
} as const satisfies { readonly [K in keyof Required<LiveOptions>]: true }
const ALL_OPTIONS = optionKeys<SubscribeToAllOptions>({
  ...LIVE_OPTIONS,
  from: true,
  filter: true,
  checkpoint: true,
  checkpointEvery: true,
})
const CATEGORY_OPTIONS = optionKeys<SubscribeToCategoryOptions>({
  ...LIVE_OPTIONS,
  from: true,
  eventTypes: true,
  checkpoint: true,
  checkpointEvery: true,
})
const STREAM_OPTIONS = optionKeys<SubscribeToStreamOptions>({ ...LIVE_OPTIONS, from: true })

/** $all (optionally filtered), catch-up then live. See the facade's subscribeToAll. */
export function subscribeToAll<E extends RecordedEvent>(
  store: StoreCore,
  options: SubscribeToAllOptions = {},
): EventSubscription<E> {
  checkOptions(options, ALL_OPTIONS, 'an option of subscribeToAll()')
  checkStart(options.from, true)
  const settings = feedSettings(options)
  const filter = checkFilter(options.filter)
  const readFrom = store.readTarget(options.readFrom, 'all')
  let from: SubscriptionStart | (() => Promise<SubscriptionStart>) = options.from ?? 'start'
  let checkpointer: Checkpointer | undefined
  let label = filter === undefined ? '$all' : '$all (filtered)'
  if (options.checkpoint !== undefined) {
    const name = checkCheckpointName(options.checkpoint, 'checkpoint')
    const every = checkPositiveInt('checkpointEvery', options.checkpointEvery ?? 100)
    const checkpoints = checkpointsOf(store)
    checkpointer = new Checkpointer(checkpoints, name, every, (error) => store.reportError(error))
    const fallback = from
    from = async () => (await checkpoints.load(name)) ?? fallback
    label = `subscription ${describeText(name)}`
  }
  const source = allSource(store, label, from, filter, readFrom)
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
  checkOptions(options, CATEGORY_OPTIONS, 'an option of subscribeToCategory()')
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
  checkOptions(options, STREAM_OPTIONS, 'an option of subscribeToStream()')
  checkStart(options.from, false)
  const settings = feedSettings(options)
  const readFrom = store.readTarget(options.readFrom, 'all')
  const source = streamSource(store, streamId, options.from ?? 'start', readFrom)
  return new EventSubscription<E>(
    (signal) => livePages(store, source, settings, signal),
    undefined,
    options.signal,
    store,
  )
}
