#!/usr/bin/env node
// The `strata` command: the built CLI when dist/ exists (a published package), else the
// TypeScript sources through tsx (a checkout).
import { existsSync } from 'node:fs'
import { URL } from 'node:url'

const built = new URL('../dist/cli/main.js', import.meta.url)
if (existsSync(built)) {
  await import(built.href)
} else {
  const { register } = await import('tsx/esm/api')
  register()
  await import(new URL('../src/cli/main.ts', import.meta.url).href)
}
