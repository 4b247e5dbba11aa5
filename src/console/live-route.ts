import { streamSSE, type SSEStreamingApi } from 'hono/streaming'
import type { LiveFeed } from './live-feed.js'
import { jsonText, type ConsoleApp } from './respond.js'
import type { StatsSampler } from './stats-sampler.js'

/** Writes not yet flushed to a page past which it is sent no more tail batches until it drains. */
const MAX_PENDING_WRITES = 8

/**
 * GET /api/live: server-sent events for a page. `hello` (the latest sample, the chart's
 * history, the recent tail), then `sample` every interval and `tail` batches as the console's
 * one subscription delivers them. Every page gets the same objects: nothing is read from the
 * database per page. A page that reads too slowly misses tail batches (told by `skipped`)
 * rather than making the server buffer without bound.
 */
export function registerLiveRoute(
  app: ConsoleApp,
  feed: LiveFeed,
  sampler: StatsSampler,
  closing: AbortSignal,
): void {
  app.get('/api/live', (c) =>
    streamSSE(c, async (stream) => {
      let pending = 0
      let missed = 0
      const send = (event: string, data: unknown) => {
        pending++
        stream
          .writeSSE({ event, data: jsonText(data) })
          .catch(() => undefined)
          .finally(() => pending--)
      }
      send('hello', {
        sample: sampler.latest ?? null,
        history: sampler.history,
        tail: feed.recent(),
      })
      const stopSamples = sampler.onSample((sample) => {
        const last = sampler.history[sampler.history.length - 1]
        send('sample', { sample, point: last ?? null })
      })
      const stopTail = feed.onBatch((batch) => {
        if (pending >= MAX_PENDING_WRITES) {
          missed += batch.events.length + batch.skipped
          return
        }
        send('tail', { events: batch.events, skipped: batch.skipped + missed })
        missed = 0
      })
      await waitForEnd(stream, closing)
      stopSamples()
      stopTail()
    }),
  )
}

function waitForEnd(stream: SSEStreamingApi, closing: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (closing.aborted) return resolve()
    const end = () => {
      closing.removeEventListener('abort', end) // a page that leaves must not leave a listener
      resolve()
    }
    closing.addEventListener('abort', end, { once: true })
    stream.onAbort(end)
  })
}
