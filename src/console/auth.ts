import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import type { MiddlewareHandler } from 'hono'

/** A fresh action token: 32 random bytes, base64url (43 characters). */
export function createToken(): string {
  return randomBytes(32).toString('base64url')
}

/**
 * Whether `given` is the token, in time independent of where they differ: both are hashed
 * first, so timingSafeEqual compares equal lengths and the length of the token does not leak.
 */
export function tokenMatches(token: string, given: string | undefined): boolean {
  if (given === undefined) return false
  const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest()
  return timingSafeEqual(digest(token), digest(given))
}

/** Host names that are this machine's loopback interface. */
const LOOPBACK_NAMES = ['127.0.0.1', 'localhost', '[::1]']

/** Whether an address to bind is a loopback one (only this machine can connect). */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host)
}

/**
 * The Host headers a console bound to `host:port` answers. Bound to loopback, only loopback
 * names (and `extra`): a web page the operator visits cannot point its own domain at 127.0.0.1
 * and read the console through the browser (DNS rebinding), since its requests carry its
 * domain as Host. Bound to another address, null (any Host) unless `extra` names some.
 */
export function allowedHostHeaders(
  host: string,
  port: number,
  extra: readonly string[],
): Set<string> | null {
  if (!isLoopback(host) && extra.length === 0) return null
  const names = isLoopback(host) ? [...LOOPBACK_NAMES, host] : [host]
  return new Set([...names.map((name) => `${name}:${port}`), ...extra.map((h) => h.toLowerCase())])
}

/** Refuses requests whose Host header is not one the console answers (421). */
export function hostGuard(allowed: () => Set<string> | null): MiddlewareHandler {
  return async (c, next) => {
    const hosts = allowed()
    const host = c.req.header('host')?.toLowerCase()
    if (hosts !== null && (host === undefined || !hosts.has(host))) {
      return c.json({ error: `host ${JSON.stringify(host ?? '')} is not served here` }, 421)
    }
    return next()
  }
}

/**
 * Headers for every response: a content security policy that runs only the console's own
 * scripts (an event payload holding a script can never run, even if it reached the page as
 * markup), no framing, no MIME sniffing, no referrer, no caching of API answers.
 */
export const securityHeaders: MiddlewareHandler = async (c, next) => {
  await next()
  c.header(
    'Content-Security-Policy',
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  )
  c.header('X-Content-Type-Options', 'nosniff')
  c.header('X-Frame-Options', 'DENY')
  c.header('Referrer-Policy', 'no-referrer')
  c.header('Cross-Origin-Opener-Policy', 'same-origin')
  c.header('Cross-Origin-Resource-Policy', 'same-origin')
  if (c.req.path.startsWith('/api/')) c.header('Cache-Control', 'no-store')
}

/** Why an action request was refused, for the audit log. */
export interface Refusal {
  readonly status: 401 | 403 | 415
  readonly reason: string
}

/**
 * Checks a request that changes state: actions enabled, a JSON body (a form elsewhere cannot
 * send one without a CORS preflight, which the console never grants), same origin when the
 * browser says where it comes from, and the token as `Authorization: Bearer <token>` (a
 * header, never a cookie: another site's page cannot make the browser send it).
 */
export function checkAction(
  request: {
    header(name: string): string | undefined
  },
  settings: { readonly allowActions: boolean; readonly token: string | undefined },
): Refusal | undefined {
  if (!settings.allowActions || settings.token === undefined) {
    return {
      status: 403,
      reason: 'actions are disabled: start the console with --allow-actions (allowActions: true)',
    }
  }
  const site = request.header('sec-fetch-site')
  if (site !== undefined && site !== 'same-origin' && site !== 'none') {
    return { status: 403, reason: `cross-site request refused (Sec-Fetch-Site: ${site})` }
  }
  const origin = request.header('origin')
  const host = request.header('host')
  if (origin !== undefined && (host === undefined || !sameOrigin(origin, host))) {
    return { status: 403, reason: `cross-origin request refused (Origin: ${origin})` }
  }
  const type = request.header('content-type') ?? ''
  if (!/^application\/json\b/i.test(type)) {
    return { status: 415, reason: 'actions take a JSON body (Content-Type: application/json)' }
  }
  const authorization = request.header('authorization')
  const given = authorization?.match(/^Bearer\s+(\S+)\s*$/i)?.[1]
  if (!tokenMatches(settings.token, given)) {
    return {
      status: 401,
      reason:
        given === undefined
          ? 'missing token: send Authorization: Bearer <token>'
          : 'wrong token (it was printed when the console started)',
    }
  }
  return undefined
}

function sameOrigin(origin: string, host: string): boolean {
  try {
    const url = new URL(origin)
    return (
      (url.protocol === 'http:' || url.protocol === 'https:') && url.host === host.toLowerCase()
    )
  } catch {
    return false
  }
}
