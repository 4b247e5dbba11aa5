import type { DeliveryError } from './types.js'

const MAX_STACK = 4000
const MAX_MESSAGE = 2000
const MAX_NAME = 200
// With the u flag a surrogate pair is one code point: this matches lone halves only.
const LONE_SURROGATES = /\p{Surrogate}/gu

/**
 * What a failed delivery records about its error: name, message, stack and a string code, cut
 * to a bounded size (a dead letter must never be too large to store). Non-errors thrown by a
 * handler are described by their type and value.
 */
export function toDeliveryError(error: unknown): DeliveryError {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code
    return {
      name: clip(String(error.name), MAX_NAME),
      message: clip(String(error.message), MAX_MESSAGE),
      ...(typeof error.stack === 'string' ? { stack: clip(error.stack, MAX_STACK) } : {}),
      ...(typeof code === 'string' ? { code: clip(code, MAX_NAME) } : {}),
    }
  }
  let message: string
  try {
    message = typeof error === 'string' ? error : (JSON.stringify(error) ?? String(error))
  } catch {
    message = String(error)
  }
  return { name: typeof error, message: clip(message, MAX_MESSAGE) }
}

/**
 * Cut to `max` code units without splitting a surrogate pair, and made storable as jsonb: a
 * handler's error text is diagnostics, so \u0000 and lone surrogates (which jsonb refuses, and
 * would fail the settlement) are replaced rather than refused.
 */
export function clip(text: string, max: number): string {
  let cut = text.length > max ? text.slice(0, max) : text
  const last = cut.charCodeAt(cut.length - 1)
  if (text.length > max && last >= 0xd800 && last <= 0xdbff) cut = cut.slice(0, -1)
  const storable = cut.replaceAll('\u0000', '\\u0000').replace(LONE_SURROGATES, '\ufffd')
  return text.length > max ? `${storable}…` : storable
}
