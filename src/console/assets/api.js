/**
 * Talking to the console's server. Reads are GETs with ids and positions in the query string;
 * actions are POSTs with a JSON body and the token in the Authorization header (never in a URL
 * or a cookie). The token lives in this tab's sessionStorage only.
 */
const TOKEN_KEY = 'strata-console-token'

export function getToken() {
  return sessionStorage.getItem(TOKEN_KEY) ?? ''
}

export function setToken(token) {
  if (token) sessionStorage.setItem(TOKEN_KEY, token)
  else sessionStorage.removeItem(TOKEN_KEY)
}

/**
 * Takes a token handed over in the URL fragment (`#token=…`, which browsers never send to a
 * server) and removes it from the address bar and history at once.
 */
export function adoptTokenFromFragment() {
  const match = /^#token=([^&]+)/.exec(location.hash)
  if (match === null) return
  setToken(decodeURIComponent(match[1]))
  history.replaceState(null, '', `${location.pathname}#/overview`)
}

export class ApiError extends Error {
  constructor(status, message) {
    super(message)
    this.status = status
  }
}

/** GET /api/<path> with query parameters; the parsed JSON. @throws ApiError */
export async function get(path, params = {}) {
  const query = new URLSearchParams()
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') query.set(key, String(value))
  }
  const qs = query.toString()
  const response = await fetch(`/api/${path}${qs ? `?${qs}` : ''}`, {
    headers: { Accept: 'application/json' },
  })
  return parse(response)
}

/** POST /api/actions/<action> with the token. @throws ApiError */
export async function act(action, body) {
  const response = await fetch(`/api/actions/${action}`, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/json',
      Accept: 'application/json',
      Authorization: `Bearer ${getToken()}`,
    },
    body: JSON.stringify(body),
  })
  return parse(response)
}

async function parse(response) {
  const body = await response.json().catch(() => ({}))
  if (!response.ok) throw new ApiError(response.status, body.error ?? `HTTP ${response.status}`)
  return body
}
