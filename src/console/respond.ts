import type { HttpBindings } from '@hono/node-server'
import type { Context, Hono } from 'hono'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import { isStrataError } from '../errors.js'

/** The console's Hono app: served by @hono/node-server (the request's socket is in env). */
export type ConsoleApp = Hono<{ Bindings: HttpBindings }>

/** JSON text with bigints as strings and dates as ISO strings. */
export function jsonText(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))
}

/** A JSON answer (application/json: a browser never renders it as a page). */
export function sendJson(c: Context, value: unknown, status: ContentfulStatusCode = 200): Response {
  return c.body(jsonText(value), status, { 'Content-Type': 'application/json; charset=utf-8' })
}

/** A request the console cannot serve as asked: answered with its status and message. */
export class HttpError extends Error {
  constructor(
    readonly status: 400 | 404 | 409,
    message: string,
  ) {
    super(message)
  }
}

/** The status for an error thrown while serving: bad input is the caller's, the rest ours. */
export function errorStatus(error: unknown): ContentfulStatusCode {
  if (error instanceof HttpError) return error.status
  if (
    isStrataError(error, 'INVALID_ARGUMENT') ||
    isStrataError(error, 'CONFIG') ||
    isStrataError(error, 'EVENT_VALIDATION')
  )
    return 400
  if (isStrataError(error, 'STREAM_DELETED') || isStrataError(error, 'PROJECTION')) return 409
  return 500
}

/** A query parameter as a positive integer, at most `max`. @throws HttpError */
export function intParam(value: string | undefined, name: string, fallback: number, max: number) {
  if (value === undefined || value === '') return fallback
  const n = Number(value)
  if (!Number.isInteger(n) || n < 1 || n > max) {
    throw new HttpError(
      400,
      `${name} must be an integer from 1 to ${max}, not ${JSON.stringify(value)}`,
    )
  }
  return n
}

/** A position or version given as a decimal string. @throws HttpError */
export function bigintParam(value: unknown, name: string): bigint {
  if (typeof value === 'string' && /^\d{1,19}$/.test(value)) return BigInt(value)
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return BigInt(value)
  throw new HttpError(400, `${name} must be a non-negative integer, not ${JSON.stringify(value)}`)
}

/** A required non-empty string. @throws HttpError */
export function stringParam(value: unknown, name: string): string {
  if (typeof value !== 'string' || value === '') {
    throw new HttpError(400, `${name} is required (a non-empty string)`)
  }
  return value
}
