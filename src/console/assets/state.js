/**
 * What every view shares: the server's config, the latest sample and the chart's history (sent
 * by the server each interval over one live connection), the recent tail, and a small bus
 * views listen on.
 */
export const state = {
  /** @type {{ schema: string, allowActions: boolean, intervalMs: number } | null} */
  config: null,
  sample: null,
  history: [],
  /** Newest last. */
  tail: [],
}

const listeners = new Map()

/** Listens for 'sample', 'tail', 'token' or 'connection'; returns the unsubscribe. */
export function on(type, listener) {
  if (!listeners.has(type)) listeners.set(type, new Set())
  listeners.get(type).add(listener)
  return () => listeners.get(type).delete(listener)
}

export function emit(type, value) {
  for (const listener of listeners.get(type) ?? []) listener(value)
}

/** Groups and queues are told apart by kind: the route of one. */
export function groupRoute(kind, name) {
  return `/groups/${kind}/${encodeURIComponent(name)}`
}

export function streamRoute(streamId) {
  return `/streams/${encodeURIComponent(streamId)}`
}
