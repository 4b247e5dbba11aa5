import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'

const script = fileURLToPath(new URL('./fixtures/acquire-at-top-level.ts', import.meta.url))
const scratch = mkdtempSync(join(tmpdir(), 'strata-acquire-'))

afterAll(() => rmSync(scratch, { recursive: true, force: true }))

function runScript(env: NodeJS.ProcessEnv) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script], {
      env: { ...process.env, ...env },
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    child.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}

describe('acquireDatabase', () => {
  it('rejects, under a top-level await, when the embedded server fails to start', async () => {
    // The embedded server's temp folder cannot be made: TMPDIR is a file. (tsx's cache is off,
    // as it lives in TMPDIR too.) The process must stay alive until the failure is reported, so
    // the script's catch runs: before, it ended with exit code 13, the promise unsettled.
    const notADirectory = join(scratch, 'a-file')
    writeFileSync(notADirectory, '')
    const result = await runScript({
      DATABASE_URL: '',
      TMPDIR: notADirectory,
      TSX_DISABLE_CACHE: '1',
    })
    expect(result.code, result.stderr).toBe(0)
    expect(JSON.parse(result.stdout.trim())).toEqual({
      caught: expect.stringMatching(/^embedded Postgres failed: ENOTDIR.*strata-pg-/),
    })
  })

  it('returns DATABASE_URL when it is set, without starting anything', async () => {
    const result = await runScript({ DATABASE_URL: 'postgres://somewhere.invalid/db' })
    expect(result.code, result.stderr).toBe(0)
    expect(JSON.parse(result.stdout.trim())).toEqual({ url: 'postgres://somewhere.invalid/db' })
  })
})
