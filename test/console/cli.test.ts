import { cpSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { beforeAll, describe, expect, it } from 'vitest'
import { useCli } from '../cli/helpers.js'
import { useTestDatabase } from '../support/test-database.js'
import { waitFor } from '../support/wait-for.js'

const db = useTestDatabase()
const strata = useCli(db, 'console')

describe('strata console', () => {
  beforeAll(async () => {
    const store = await db.store({ allowUnregisteredTypes: true })
    await store.appendToStream('cli-1', [{ type: 'Happened', data: { n: 1 } }])
    // The bundle stands where dist/ would: the page's files go beside it, as the build copies them.
    cpSync(
      fileURLToPath(new URL('../../src/console/assets', import.meta.url)),
      `${strata.bundleDir()!}/assets`,
      { recursive: true },
    )
  })

  it('documents its options', async () => {
    const run = await strata(['console', '--help'])
    expect(run.code).toBe(0)
    expect(run.stdout).toContain('--allow-actions')
    expect(run.stdout).toContain('--port')
  })

  it('is a usage error to give a token without --allow-actions (exit 2)', async () => {
    const run = await strata(['console', '--port', '0', '--token', 'x'.repeat(20)])
    expect(run.code).toBe(2)
    expect(run.stderr).toContain('--allow-actions')
    expect((await strata(['console', '--port', 'lots'])).code).toBe(2)
  })

  it('serves read-only by default, and stops on SIGINT with exit code 0', async () => {
    const cli = strata.start(['console', '--port', '0'])
    const line = await waitFor(() =>
      /strata console on (http:\/\/127\.0\.0\.1:\d+\/)/.exec(cli.stdout()),
    )
    const url = line[1]!
    expect(cli.stdout()).toContain('read-only')
    expect((await fetch(url)).status).toBe(200)
    const config = (await (await fetch(`${url}api/config`)).json()) as { allowActions: boolean }
    expect(config.allowActions).toBe(false)
    const run = await cli.interrupt()
    expect(run.code).toBe(0)
    const logs = run.stderr
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { msg: string })
    expect(logs.map((l) => l.msg)).toEqual(['console started', 'console stopped'])
  })

  it('with --allow-actions and --json prints the address and token, and logs every action', async () => {
    const token = 'cli-token-0123456789abcdef'
    const cli = strata.start(['console', '--port', '0', '--allow-actions', '--json'], {
      STRATA_CONSOLE_TOKEN: token,
    })
    const printed = await waitFor(() => {
      try {
        return JSON.parse(cli.stdout()) as { url: string; token: string; allowActions: boolean }
      } catch {
        return undefined
      }
    })
    expect(printed).toMatchObject({ token, allowActions: true, schema: 'strata' })
    const refused = await fetch(`${printed.url}api/actions/projections.pause`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: 'p' }),
    })
    expect(refused.status).toBe(401)
    const run = await cli.interrupt()
    expect(run.code).toBe(0)
    const logs = run.stderr
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(logs).toContainEqual(
      expect.objectContaining({
        level: 'warn',
        component: 'console',
        action: 'projections.pause',
        outcome: 'refused',
        status: 401,
      }),
    )
    expect(run.stderr).not.toContain(token)
  })
})
