import { createHash } from 'node:crypto'

/** The namespace of strata's name-based ids (a fixed random uuid). */
export const STRATA_UUID_NAMESPACE = '0d5a9d8e-3b71-4c2e-9f5a-7f6c1b2e4a90'

/**
 * A name-based (version 5, SHA-1) uuid, RFC 9562: the same name in the same namespace always
 * gives the same id, so a task sent twice with one dedupKey becomes one idempotent event.
 */
export function uuidV5(name: string, namespace: string = STRATA_UUID_NAMESPACE): string {
  const hash = createHash('sha1')
    .update(Buffer.from(namespace.replaceAll('-', ''), 'hex'))
    .update(name, 'utf8')
    .digest()
  hash[6] = (hash[6]! & 0x0f) | 0x50
  hash[8] = (hash[8]! & 0x3f) | 0x80
  const hex = hash.subarray(0, 16).toString('hex')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}
