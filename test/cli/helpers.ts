import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { beforeAll } from 'vitest'
import type { TestDatabase } from '../support/test-database.js'

export interface Run {
  code: number | null
  stdout: string
  stderr: string
}

/**
 * The strata CLI against a test file's database. The CLI as users run it is compiled JavaScript;
 * running the TypeScript sources through tsx costs seconds per process, so each file bundles it
 * once (esbuild, dependencies external) into a folder of its own (files run in parallel) at the
 * sources' depth, so `../../migrations` still resolves.
 */
export function useCli(db: TestDatabase, name: string) {
  let bin: string | undefined
  beforeAll(async () => {
    const { build } = await import('esbuild')
    const outdir = fileURLToPath(
      new URL(`../../node_modules/.strata-cli-bundle-${name}`, import.meta.url),
    )
    await build({
      entryPoints: [fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url))],
      bundle: true,
      // Chunks keep the CLI's lazy imports lazy (--help does not load the store), as in dist/.
      splitting: true,
      platform: 'node',
      format: 'esm',
      packages: 'external',
      outdir,
      outExtension: { '.js': '.mjs' },
      logLevel: 'error',
    })
    const outfile = `${outdir}/main.mjs`
    bin = outfile
  })

  /** Runs the CLI; `until` interrupts it (SIGINT) once its output satisfies it. */
  const strata = function strata(
    args: string[],
    options: { env?: NodeJS.ProcessEnv; until?: (out: string) => boolean } = {},
  ): Promise<Run> {
    if (bin === undefined) throw new Error('useCli: the CLI is bundled in beforeAll')
    const child = spawn(process.execPath, [bin, ...args], {
      env: { ...process.env, DATABASE_URL: db.url, ...options.env },
    })
    return new Promise((resolve) => {
      let stdout = ''
      let stderr = ''
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString()
        if (options.until?.(stdout)) child.kill('SIGINT')
      })
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
      child.on('exit', (code) => resolve({ code, stdout, stderr }))
    })
  }
  /**
   * Starts the CLI and leaves it running: for long-running commands (console, tail) that the
   * test talks to before it interrupts them.
   */
  const start = (args: string[], env: NodeJS.ProcessEnv = {}): RunningCli => {
    if (bin === undefined) throw new Error('useCli: the CLI is bundled in beforeAll')
    const child = spawn(process.execPath, [bin, ...args], {
      env: { ...process.env, DATABASE_URL: db.url, ...env },
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    const exited = new Promise<Run>((resolve) =>
      child.on('exit', (code) => resolve({ code, stdout, stderr })),
    )
    return {
      stdout: () => stdout,
      stderr: () => stderr,
      exited,
      interrupt: () => {
        child.kill('SIGINT')
        return exited
      },
    }
  }
  return Object.assign(strata, { start, bundleDir: () => bin?.replace(/\/main\.mjs$/, '') })
}

/** A CLI process started by useCli(...).start. */
export interface RunningCli {
  stdout(): string
  stderr(): string
  /** Resolves when the process exits (by itself or interrupted). */
  readonly exited: Promise<Run>
  /** Sends SIGINT; resolves when the process has exited. */
  interrupt(): Promise<Run>
}
