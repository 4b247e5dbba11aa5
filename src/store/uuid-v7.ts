import { randomFillSync } from 'node:crypto'

/** Random bytes drawn 256 ids at a time (as node:crypto's randomUUID buffers its own). */
const pool = Buffer.alloc(10 * 256)
let offset = pool.length

/**
 * A version 7 UUID (RFC 9562): 48 bits of Unix time in milliseconds, then 74 random bits. The
 * ids strata generates for events are of this kind, so the unique index on event ids grows at
 * its right edge like the position key, instead of touching a random leaf page per append
 * (random pages cost cache misses on a long log and a full-page image in the WAL after each
 * checkpoint). They are as unique as random ids; they do show when they were generated.
 */
export function uuidV7(now: number = Date.now()): string {
  if (offset + 10 > pool.length) {
    randomFillSync(pool)
    offset = 0
  }
  const bytes = Buffer.allocUnsafe(16)
  bytes.writeUIntBE(now, 0, 6)
  pool.copy(bytes, 6, offset, offset + 10)
  offset += 10
  bytes[6] = (bytes[6]! & 0x0f) | 0x70 // version 7
  bytes[8] = (bytes[8]! & 0x3f) | 0x80 // variant 10
  const hex = bytes.toString('hex')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}
