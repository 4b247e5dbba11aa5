import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { afterAll } from 'vitest'

/** A test fixture running in a child process, reporting facts as JSON lines on stdout. */
export interface Child {
  readonly process: ChildProcess
  readonly facts: Array<Record<string, unknown>>
  readonly exited: Promise<number | null>
  /** Facts that have this key. */
  count(key: string): number
}

/**
 * Runs TypeScript fixtures in child processes (`node --import tsx <fixture>`), killed with
 * SIGKILL after the test file if still running.
 */
export function useChildProcesses() {
  const children: Child[] = []
  afterAll(() => {
    for (const child of children.splice(0)) child.process.kill('SIGKILL')
  })
  return function start(fixture: string, env: Record<string, string>): Child {
    const child = spawn(process.execPath, ['--import', 'tsx', fixture], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    const facts: Array<Record<string, unknown>> = []
    createInterface({ input: child.stdout }).on('line', (line) => {
      try {
        facts.push(JSON.parse(line) as Record<string, unknown>)
      } catch {
        // not a fact
      }
    })
    const handle: Child = {
      process: child,
      facts,
      exited: new Promise((resolve) => child.on('exit', (code) => resolve(code))),
      count: (key) => facts.filter((f) => key in f).length,
    }
    children.push(handle)
    return handle
  }
}
