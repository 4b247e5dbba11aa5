import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  ConfigError,
  NonRetryableError,
  startConsole,
  type ConsoleHandle,
  type EventStore,
  type StrataLogger,
} from '../../src/index.js'
import { aCategory, aGroupName } from '../consumers/helpers.js'
import { useTestDatabase } from '../support/test-database.js'
import { waitFor } from '../support/wait-for.js'
import { readSse } from './sse.js'

const db = useTestDatabase()
const SCRIPT = '<script>window.__owned = 1</script><img src=x onerror="window.__owned = 2">'

/** A logger that keeps what it is given. */
function recordingLogger() {
  const lines: Array<{ level: string; fields: Record<string, unknown>; message?: string }> = []
  const at =
    (level: string) =>
    (fields: object, message?: string): void => {
      lines.push({
        level,
        fields: fields as Record<string, unknown>,
        ...(message ? { message } : {}),
      })
    }
  const logger: StrataLogger = {
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
  }
  return { logger, lines }
}

describe('startConsole over HTTP', () => {
  let store: EventStore
  let readOnly: ConsoleHandle
  let withActions: ConsoleHandle
  const log = recordingLogger()
  const TOKEN = 'a-token-of-at-least-16-chars'
  const category = aCategory('acct')
  const groupName = aGroupName('mail')
  let poisoned = true
  const delivered: bigint[] = []
  let parkedPosition = 0n

  beforeAll(async () => {
    store = await db.store({ allowUnregisteredTypes: true })
    for (let i = 0; i < 3; i++) {
      await store.appendToStream(`${category}-${i}`, [{ type: 'Opened', data: { i } }])
    }
    const group = store.consumerGroup(groupName, { source: { category }, maxAttempts: 2 })
    group.consume((event) => {
      if (poisoned && event.type === 'Poison') throw new NonRetryableError('mailbox full')
      delivered.push(event.position)
    })
    const poison = await store.appendToStream(`${category}-0`, [
      { type: 'Poison', data: { html: SCRIPT } },
    ])
    parkedPosition = poison.position
    await waitFor(async () => (await group.status()).parked === 1)
    readOnly = await startConsole(store, { port: 0, statsIntervalMs: 200 })
    withActions = await startConsole(store, {
      port: 0,
      allowActions: true,
      token: TOKEN,
      statsIntervalMs: 200,
      logger: log.logger,
    })
  })

  afterAll(async () => {
    await readOnly?.close()
    await withActions?.close()
  })

  const url = (console: ConsoleHandle, path: string) => new URL(path, console.url).toString()
  const post = (
    console: ConsoleHandle,
    action: string,
    body: unknown,
    headers: Record<string, string> = {},
  ) =>
    fetch(url(console, `/api/actions/${action}`), {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...headers },
      body: JSON.stringify(body),
    })

  it('binds to 127.0.0.1 by default and serves the page with a strict content security policy', async () => {
    expect(new URL(readOnly.url).hostname).toBe('127.0.0.1')
    expect(readOnly.token).toBeUndefined()
    const response = await fetch(readOnly.url)
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toMatch(/^text\/html/)
    const csp = response.headers.get('content-security-policy') ?? ''
    expect(csp).toContain("script-src 'self'")
    expect(csp).not.toContain('unsafe-inline')
    expect(response.headers.get('x-content-type-options')).toBe('nosniff')
    const html = await response.text()
    expect(html).toContain('<script type="module" src="/app.js">')
    expect((await fetch(url(readOnly, '/app.js'))).headers.get('content-type')).toMatch(
      /javascript/,
    )
    expect((await fetch(url(readOnly, '/../package.json'))).status).toBe(404)
  })

  it('returns event data only as JSON (a <script> payload is a JSON string, never markup)', async () => {
    const response = await fetch(url(readOnly, `/api/stream?id=${category}-0`))
    expect(response.headers.get('content-type')).toBe('application/json; charset=utf-8')
    expect(response.headers.get('cache-control')).toBe('no-store')
    const body = (await response.json()) as {
      info: { version: string; deleted: string }
      events: Array<{ type: string; data: { html?: string }; version: string }>
    }
    expect(body.info).toMatchObject({ version: '2', deleted: 'no' })
    expect(body.events.map((e) => e.type)).toEqual(['Opened', 'Poison'])
    expect(body.events[1]!.data.html).toBe(SCRIPT)
  })

  it('lists streams by prefix, a page at a time', async () => {
    const first = (await (
      await fetch(url(readOnly, `/api/streams?prefix=${category}-&limit=2`))
    ).json()) as {
      streams: Array<{ streamId: string; version: string; events: number }>
      next: string | null
    }
    expect(first.streams.map((s) => s.streamId)).toEqual([`${category}-0`, `${category}-1`])
    expect(first.streams[0]).toMatchObject({ version: '2', events: 2 })
    const second = (await (
      await fetch(url(readOnly, `/api/streams?prefix=${category}-&limit=2&after=${first.next}`))
    ).json()) as { streams: Array<{ streamId: string }>; next: string | null }
    expect(second.streams.map((s) => s.streamId)).toEqual([`${category}-2`])
    expect(second.next).toBeNull()
  })

  it('answers bad query parameters with 400 naming the value', async () => {
    const response = await fetch(url(readOnly, `/api/streams?limit=abc`))
    expect(response.status).toBe(400)
    expect(((await response.json()) as { error: string }).error).toContain('"abc"')
    expect((await fetch(url(readOnly, '/api/stream'))).status).toBe(400)
    expect((await fetch(url(readOnly, '/api/groups/dead-letters?name=nope'))).status).toBe(404)
  })

  it('shows a dead letter with its error and attempts', async () => {
    const response = await fetch(
      url(readOnly, `/api/groups/dead-letters?name=${groupName}&kind=group`),
    )
    const body = (await response.json()) as {
      deadLetters: Array<{
        position: string
        attempts: number
        reason: string
        lastError: { name: string; message: string }
        event: { type: string; data: { html: string } }
      }>
    }
    expect(body.deadLetters).toHaveLength(1)
    expect(body.deadLetters[0]).toMatchObject({
      position: parkedPosition.toString(),
      attempts: 1,
      lastError: { name: 'NonRetryableError', message: 'mailbox full' },
      event: { type: 'Poison', data: { html: SCRIPT } },
    })
  })

  it('refuses every action when started without allowActions, and records the refusal', async () => {
    const response = await post(
      readOnly,
      'dead-letters.replay',
      { name: groupName, positions: 'all' },
      { Authorization: `Bearer ${TOKEN}` },
    )
    expect(response.status).toBe(403)
    expect(((await response.json()) as { error: string }).error).toMatch(/--allow-actions/)
    const audit = (await (await fetch(url(readOnly, '/api/audit'))).json()) as {
      entries: Array<{ action: string; outcome: string; status: number }>
    }
    expect(audit.entries[0]).toMatchObject({
      action: 'dead-letters.replay',
      outcome: 'refused',
      status: 403,
    })
    const status = await store
      .consumerGroup(groupName, { source: { category }, maxAttempts: 2 })
      .status()
    expect(status.parked).toBe(1)
  })

  it('refuses actions without the token, with a wrong one, from another origin or site, or without a JSON body', async () => {
    const body = { name: groupName, positions: 'all' }
    const refusals = [
      [await post(withActions, 'dead-letters.replay', body), 401],
      [
        await post(withActions, 'dead-letters.replay', body, {
          Authorization: 'Bearer not-the-token-at-all',
        }),
        401,
      ],
      [await post(withActions, 'dead-letters.replay', body, { Authorization: TOKEN }), 401],
      [
        await post(withActions, 'dead-letters.replay', body, {
          Authorization: `Bearer ${TOKEN}`,
          Origin: 'http://evil.example',
        }),
        403,
      ],
      [
        await post(withActions, 'dead-letters.replay', body, {
          Authorization: `Bearer ${TOKEN}`,
          'Sec-Fetch-Site': 'cross-site',
        }),
        403,
      ],
      [
        await fetch(url(withActions, '/api/actions/dead-letters.replay'), {
          method: 'POST',
          headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'text/plain' },
          body: JSON.stringify(body),
        }),
        415,
      ],
    ] as const
    for (const [response, status] of refusals) expect(response.status).toBe(status)
    expect(
      log.lines.filter((l) => l.level === 'warn' && l.fields.outcome === 'refused'),
    ).toHaveLength(refusals.length)
    const status = await store
      .consumerGroup(groupName, { source: { category }, maxAttempts: 2 })
      .status()
    expect(status.parked).toBe(1)
  })

  it('refuses requests whose Host is not the console (DNS rebinding)', async () => {
    const { request } = await import('node:http')
    const status = await new Promise<number | undefined>((resolve, reject) => {
      const req = request(withActions.url, { headers: { Host: 'evil.example:80' } }, (res) => {
        res.resume()
        resolve(res.statusCode)
      })
      req.on('error', reject)
      req.end()
    })
    expect(status).toBe(421)
  })

  it('answers bad action input with 400 and unknown targets with 404, changing nothing', async () => {
    const auth = { Authorization: `Bearer ${TOKEN}` }
    const bad = await post(
      withActions,
      'dead-letters.replay',
      { name: groupName, positions: ['x1'] },
      auth,
    )
    expect(bad.status).toBe(400)
    expect(((await bad.json()) as { error: string }).error).toContain('"x1"')
    expect(
      (await post(withActions, 'dead-letters.replay', { name: 'nope', positions: 'all' }, auth))
        .status,
    ).toBe(404)
    expect((await post(withActions, 'no-such-action', {}, auth)).status).toBe(404)
    expect(
      (await post(withActions, 'groups.reset', { name: groupName, to: 'sideways' }, auth)).status,
    ).toBe(400)
  })

  it('replays a dead letter with the token, logs it, and the group delivers it', async () => {
    poisoned = false
    const response = await post(
      withActions,
      'dead-letters.replay',
      { name: groupName, kind: 'group', positions: [parkedPosition.toString()] },
      { Authorization: `Bearer ${TOKEN}`, Origin: new URL(withActions.url).origin },
    )
    expect(response.status).toBe(200)
    expect(await response.json()).toMatchObject({ replayed: 1 })
    await waitFor(() => delivered.includes(parkedPosition))
    const done = log.lines.find((l) => l.level === 'info' && l.fields.outcome === 'done')
    expect(done?.fields).toMatchObject({
      action: 'dead-letters.replay',
      target: `group ${groupName}`,
    })
  })

  it('sends every page the same samples and tail from one sampler and one subscription', async () => {
    const pages = await Promise.all(
      Array.from({ length: 5 }, () => readSse(url(readOnly, '/api/live'))),
    )
    try {
      for (const page of pages) await page.next('hello')
      const appended = await store.appendToStream(`${category}-live`, [
        { type: 'Live', data: { html: SCRIPT } },
      ])
      for (const page of pages) {
        const tail = await page.until(
          'tail',
          (data: { events: Array<{ position: string; data: string }> }) =>
            data.events.some((e) => e.position === appended.position.toString()),
        )
        expect(tail.events.find((e) => e.position === appended.position.toString())!.data).toBe(
          JSON.stringify({ html: SCRIPT }),
        )
      }
      const samples = await Promise.all(pages.map((page) => page.next('sample')))
      const at = (samples as Array<{ sample: { at: string } }>).map((s) => s.sample.at)
      // One sample, computed once, went to every page (possibly the next one for a late reader).
      expect(new Set(at).size).toBeLessThanOrEqual(2)
    } finally {
      for (const page of pages) page.close()
    }
  })

  it('reads the database once per interval however many pages are open', async () => {
    const other = await db.store()
    let statsQueries = 0
    const query = other.pool.query.bind(other.pool) as (...args: unknown[]) => unknown
    other.pool.query = ((...args: unknown[]) => {
      if (String(args[0]).includes('pg_stat_activity')) statsQueries++
      return query(...args)
    }) as typeof other.pool.query
    const running = await startConsole(other, { port: 0, statsIntervalMs: 200 })
    const pages = await Promise.all(
      Array.from({ length: 10 }, () => readSse(url(running, '/api/live'))),
    )
    try {
      for (const page of pages) await page.next('hello')
      const t0 = Date.now()
      const before = statsQueries
      for (const page of pages) {
        await page.until(
          'sample',
          (d: { sample: { at: string } }) => Date.parse(d.sample.at) >= t0 + 600,
        )
      }
      // About three intervals went by with ten pages open: a sampling each (one more may be
      // under way), not one per page.
      expect(statsQueries - before).toBeGreaterThanOrEqual(3)
      expect(statsQueries - before).toBeLessThanOrEqual(8)
    } finally {
      for (const page of pages) page.close()
      await running.close()
      await other.close()
    }
  })

  it('refuses to pause a projection that does not exist (400 naming it)', async () => {
    const auth = { Authorization: `Bearer ${TOKEN}` }
    const response = await post(withActions, 'projections.pause', { name: 'nothing_here' }, auth)
    expect(response.status).toBe(400)
    expect(((await response.json()) as { error: string }).error).toContain('nothing_here')
  })

  it('rejects invalid options before listening', async () => {
    await expect(startConsole(store, { port: 70_000 })).rejects.toBeInstanceOf(ConfigError)
    await expect(startConsole(store, { token: 'x'.repeat(20) })).rejects.toThrow(/allowActions/)
    await expect(
      startConsole(store, { allowActions: true, token: 'short' }),
    ).rejects.toBeInstanceOf(ConfigError)
    await expect(startConsole(store, { statsIntervalMs: 5 })).rejects.toBeInstanceOf(ConfigError)
  })

  it('generates a token when none is given, and closes with the store', async () => {
    const other = await db.store()
    const running = await startConsole(other, { port: 0, allowActions: true })
    expect(running.token).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect((await fetch(url(running, '/api/config'))).status).toBe(200)
    await other.close()
    await expect(fetch(url(running, '/api/config'))).rejects.toThrow()
  })
})
