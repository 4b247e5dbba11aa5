import { randomUUID } from 'node:crypto'

/** A fresh stream id in a category, so tests never share streams. */
export function aStreamId(category = 'test'): string {
  return `${category}-${randomUUID()}`
}

export function anEvent(type = 'Happened', data: unknown = { n: Math.random() }) {
  return { type, data }
}
