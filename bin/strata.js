#!/usr/bin/env node
// The `strata` command of pg-strata. In an installed package it runs the built CLI (dist/). In a
// checkout of strata itself (tsconfig.json sits beside package.json; the package does not ship
// it) it runs the TypeScript sources through tsx, so it never runs a stale dist/.
// Plain JavaScript with only dynamic imports, so the Node.js check below runs before anything
// else is loaded.
import { existsSync } from 'node:fs'
import process from 'node:process'
import { URL } from 'node:url'

const [major, minor] = process.versions.node.split('.').map(Number)
if (major < 20 || (major === 20 && minor < 19)) {
  process.stderr.write(
    `strata: pg-strata needs Node.js 20.19.0 or newer, and this is Node.js ${process.versions.node}.\n`,
  )
  process.exit(1)
}

const checkout = existsSync(new URL('../tsconfig.json', import.meta.url))
const built = new URL('../dist/cli/main.js', import.meta.url)
if (checkout) {
  const { register } = await import('tsx/esm/api')
  register()
  await import(new URL('../src/cli/main.ts', import.meta.url).href)
} else if (existsSync(built)) {
  await import(built.href)
} else {
  process.stderr.write('strata: dist/ is missing from pg-strata; reinstall the package\n')
  process.exit(1)
}
