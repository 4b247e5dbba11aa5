/** A server-sent events reader over fetch, for tests: events by name, in order. */
export interface SseReader {
  /** The next event of that name (data parsed as JSON). */
  next<T = unknown>(event: string, timeoutMs?: number): Promise<T>
  /** The first event of that name, from now on, whose data satisfies `match`. */
  until<T = unknown>(event: string, match: (data: T) => boolean, timeoutMs?: number): Promise<T>
  close(): void
}

export async function readSse(url: string): Promise<SseReader> {
  const abort = new AbortController()
  const response = await fetch(url, {
    signal: abort.signal,
    headers: { Accept: 'text/event-stream' },
  })
  if (!response.ok || response.body === null) throw new Error(`SSE ${url}: HTTP ${response.status}`)
  const queue: Array<{ event: string; data: unknown }> = []
  let wake: (() => void) | undefined
  let failure: Error | undefined
  void (async () => {
    const decoder = new TextDecoder()
    let buffer = ''
    try {
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true })
        let end: number
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end)
          buffer = buffer.slice(end + 2)
          let event = 'message'
          const data: string[] = []
          for (const line of block.split('\n')) {
            if (line.startsWith('event:')) event = line.slice(6).trim()
            else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''))
          }
          if (data.length > 0) queue.push({ event, data: JSON.parse(data.join('\n')) })
          wake?.()
        }
      }
    } catch (error) {
      failure = error instanceof Error ? error : new Error(String(error))
      wake?.()
    }
  })()

  const take = async <T>(event: string, match: (data: T) => boolean, timeoutMs: number) => {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const index = queue.findIndex((m) => m.event === event && match(m.data as T))
      if (index >= 0) {
        const [found] = queue.splice(0, index + 1).slice(-1)
        return found!.data as T
      }
      if (failure !== undefined && !abort.signal.aborted) throw failure
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`SSE: no ${event} event within ${timeoutMs} ms`)
      await new Promise<void>((resolve) => {
        wake = resolve
        setTimeout(resolve, Math.min(left, 100))
      })
    }
  }
  return {
    next: (event, timeoutMs = 10_000) => take(event, () => true, timeoutMs),
    until: (event, match, timeoutMs = 10_000) => take(event, match, timeoutMs),
    close: () => abort.abort(),
  }
}
