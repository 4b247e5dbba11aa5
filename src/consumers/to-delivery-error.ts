import type { DeliveryError } from './types.js'

const MAX_STACK = 4000
const MAX_MESSAGE = 2000

/**
 * What a failed delivery records about its error: name, message, stack and a string code, cut
 * to a bounded size (a dead letter must never be too large to store). Non-errors thrown by a
 * handler are described by their type and value.
 */
export function toDeliveryError(error: unknown): DeliveryError {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code
    return {
      name: error.name,
      message: clip(error.message, MAX_MESSAGE),
      ...(error.stack === undefined ? {} : { stack: clip(error.stack, MAX_STACK) }),
      ...(typeof code === 'string' ? { code } : {}),
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

function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text
}
