/**
 * The console in a real browser (Debian's headless Chromium through playwright-core): an
 * operator finds a stream, sees a message parked in a group, replays it with the token and
 * watches it delivered; without the token nothing changes; a <script> payload stays text.
 */
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  defineProjection,
  NonRetryableError,
  startConsole,
  type ConsoleHandle,
  type EventStore,
} from '../../src/index.js'
import { aCategory, aGroupName } from '../consumers/helpers.js'
import { launchChromium } from '../support/chromium.js'
import { useTestDatabase } from '../support/test-database.js'
import { waitFor } from '../support/wait-for.js'

const db = useTestDatabase()
const SCRIPT = '<script>window.__owned = 1</script><img src=x onerror="window.__owned = 2">'

describe('the console in Chromium', () => {
  let store: EventStore
  let running: ConsoleHandle
  let browser: Browser
  let page: Page
  const category = aCategory('acct')
  const groupName = aGroupName('mail')
  let poisoned = true
  const delivered: string[] = []
  const pageErrors: string[] = []

  beforeAll(async () => {
    browser = await launchChromium()
    store = await db.store({ allowUnregisteredTypes: true })
    for (let i = 0; i < 3; i++) {
      await store.appendToStream(`${category}-${i}`, [
        {
          type: 'AccountOpened',
          data: { owner: `owner ${i}` },
          metadata: { correlationId: `c-${i}` },
        },
      ])
    }
    store.consumerGroup(groupName, { source: { category }, maxAttempts: 2 }).consume((event) => {
      if (poisoned && event.type === 'Poison') throw new NonRetryableError('SMTP 550 mailbox full')
      delivered.push(event.type)
    })
    store.runProjection(
      defineProjection({
        name: 'owners',
        version: 1,
        handlers: { AccountOpened: () => undefined },
      }),
    )
    running = await startConsole(store, { port: 0, allowActions: true, statsIntervalMs: 200 })
    page = await browser.newPage()
    page.on('pageerror', (error) => pageErrors.push(error.message))
    page.on('dialog', (dialog) => void dialog.accept())
  })

  afterAll(async () => {
    await browser?.close()
    await running?.close()
  })

  it('opens the overview with the store at a glance', async () => {
    await page.goto(running.url)
    await page.locator('#live', { hasText: 'live' }).waitFor()
    const cards = page.locator('#overview-cards')
    const head = await store.headPosition()
    await cards
      .locator('[data-stat="head-position"] .card-value', { hasText: String(head) })
      .waitFor()
    expect(await cards.locator('[data-stat="events"] .card-value').textContent()).toBe('3')
    expect(await cards.locator('[data-stat="connections"]').textContent()).toMatch(/\d+ \/ \d+/)
    expect(await page.locator('.chart').count()).toBe(2)
    expect(await page.locator('#mode').textContent()).toBe('actions locked')
  })

  it('finds a stream by prefix and shows its events with data and metadata', async () => {
    await page.click('#nav a[data-page="streams"]')
    await page.fill('#stream-search', `${category}-`)
    await page.click('form.search button')
    await page.locator('#stream-results a', { hasText: `${category}-1` }).click()
    await page.locator('#stream-events .event').first().waitFor()
    expect(await page.locator('h1').textContent()).toBe(`${category}-1`)
    expect(await page.locator('#stream-info').textContent()).toContain('live')
    const event = page.locator('#stream-events .event').first()
    expect(await event.locator('.type').textContent()).toBe('AccountOpened')
    expect(await event.locator('.event-data').textContent()).toContain('"owner": "owner 1"')
    expect(await event.textContent()).toContain('"correlationId": "c-1"')
    // Nothing of the stream went to the server in a URL but its id (in the fragment).
    expect(new URL(page.url()).search).toBe('')
  })

  it('shows a <script> payload as text and runs none of it', async () => {
    await store.appendToStream(`${category}-1`, [{ type: 'Renamed', data: { name: SCRIPT } }])
    await page.goto(`${running.url}#/streams/${encodeURIComponent(`${category}-1`)}`)
    await page.reload()
    const data = page
      .locator('#stream-events .event', { hasText: 'Renamed' })
      .locator('.event-data')
    await data.waitFor()
    expect(await data.textContent()).toContain('<script>window.__owned = 1</script>')
    expect(await page.evaluate(() => (globalThis as { __owned?: number }).__owned)).toBeUndefined()
    expect(await page.locator('#view script, #view img').count()).toBe(0)
    // The tail shows it as text too.
    await page.click('#nav a[data-page="tail"]')
    const row = page.locator('#tail .tail-row', { hasText: 'Renamed' })
    await row.waitFor()
    expect(await row.locator('.preview').textContent()).toContain('<img src=x onerror=')
    expect(await page.evaluate(() => (globalThis as { __owned?: number }).__owned)).toBeUndefined()
    expect(pageErrors).toEqual([])
  })

  it('shows appends in the $all tail live, without a reload', async () => {
    await page.click('#nav a[data-page="tail"]')
    await page.locator('#tail .tail-row').first().waitFor()
    const appended = await store.appendToStream(`${category}-2`, [
      { type: 'LiveOne', data: { n: 1 } },
    ])
    await page.locator(`#tail .tail-row[data-position="${appended.position}"]`).waitFor()
    expect(await page.locator('#tail .tail-row').first().getAttribute('data-position')).toBe(
      appended.position.toString(),
    )
  })

  it('sees a parked message appear in its group', async () => {
    await page.click('#nav a[data-page="groups"]')
    await page.locator('table.groups a', { hasText: groupName }).click()
    await page.locator('#group-counts .card').first().waitFor()
    await store.appendToStream(`${category}-0`, [{ type: 'Poison', data: { html: SCRIPT } }])
    await page.locator('#parked-count .card-value', { hasText: '1' }).waitFor()
    const letter = page.locator('#dead-letters .dead-letter')
    await letter.waitFor()
    expect(await letter.locator('.reason').textContent()).toBe('SMTP 550 mailbox full')
    expect(await letter.textContent()).toContain('NonRetryableError')
    expect(await letter.locator('.event-data').textContent()).toContain('<script>')
  })

  it('refuses a replay without the token, in the page and at the server', async () => {
    await page.locator('#dead-letters .dead-letter button.replay').click()
    await page.locator('#notice', { hasText: 'Paste the action token' }).waitFor()
    const status = await page.evaluate(async () => {
      const response = await fetch('/api/actions/dead-letters.replay', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ name: 'any', positions: 'all' }),
      })
      return response.status
    })
    expect(status).toBe(401)
    const wrong = await page.evaluate(async () => {
      const response = await fetch('/api/actions/dead-letters.replay', {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          Authorization: 'Bearer wrong-token-wrong-token',
        },
        body: JSON.stringify({ name: 'any', positions: 'all' }),
      })
      return response.status
    })
    expect(wrong).toBe(401)
    expect(await page.locator('#parked-count .card-value').textContent()).toBe('1')
  })

  it('replays it with the token and watches it delivered', async () => {
    poisoned = false
    await page.fill('#token', running.token!)
    await page.click('#unlock button')
    expect(await page.locator('#mode').textContent()).toBe('actions unlocked')
    await page.locator('#dead-letters .dead-letter button.replay').click()
    await page.locator('#notice', { hasText: 'replayed 1 dead letter' }).waitFor()
    await page.locator('#parked-count .card-value', { hasText: '0' }).waitFor()
    await page.locator('#dead-letters .empty', { hasText: 'no dead letters' }).waitFor()
    await waitFor(() => delivered.includes('Poison'))
    await page.click('#nav a[data-page="actions"]')
    const entry = page.locator('#audit tr', { hasText: 'dead-letters.replay' }).first()
    await entry.waitFor()
    expect(await entry.textContent()).toContain('done')
    expect(await page.locator('#audit').textContent()).toContain('refused')
  })

  it('pauses and resumes a projection from its page', async () => {
    await page.click('#nav a[data-page="projections"]')
    const row = page.locator('#projections tr', { hasText: 'owners v1' })
    await row.waitFor()
    await row.locator('button', { hasText: 'Pause' }).click()
    await row.locator('.badge', { hasText: 'paused' }).waitFor()
    expect((await store.projectionStatus('owners'))[0]!.paused).toBe(true)
    await row.locator('button', { hasText: 'Resume' }).click()
    await row.locator('.badge', { hasText: 'active' }).waitFor()
    expect(pageErrors).toEqual([])
  })
})
