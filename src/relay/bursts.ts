const IDLE = Symbol('idle')

/** Resolves after the current turn of the event loop: whatever was ready has been delivered. */
const nextTurn = () => new Promise<typeof IDLE>((resolve) => setImmediate(resolve, IDLE))

/**
 * Groups an async iterable's items into bursts: the first item of a burst is waited for, the
 * rest are those ready without waiting for I/O (the rest of a page already read), up to
 * `max()`. Publishing a burst in one synchronous loop lets the NATS client write it to the
 * socket at once; one message per event-loop turn costs a write each.
 *
 * Stop the source (its signal) before leaving early while it may be waiting for items: leaving
 * returns the source, which waits for a pending read.
 */
export async function* bursts<T>(
  source: AsyncIterable<T>,
  max: () => number,
): AsyncGenerator<T[], void, undefined> {
  const iterator = source[Symbol.asyncIterator]()
  try {
    let next = iterator.next()
    for (;;) {
      const first = await next
      if (first.done === true) return
      const burst = [first.value]
      next = iterator.next()
      let done = false
      while (burst.length < max()) {
        const ready = await Promise.race([next, nextTurn()])
        if (ready === IDLE) break
        if (ready.done === true) {
          done = true
          break
        }
        burst.push(ready.value)
        next = iterator.next()
      }
      yield burst
      if (done) return
    }
  } finally {
    await iterator.return?.()
  }
}
