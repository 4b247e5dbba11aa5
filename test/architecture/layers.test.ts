import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, normalize, relative, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

/**
 * The layers of src/ and what each may import (docs/architecture.md). A module is a folder of
 * src/ or a file at its top; a lower layer never imports a higher one, a folder is entered only
 * through its index.ts, and no import cycle exists, type imports included.
 */
const BASE = ['errors', 'config', 'db', 'events', 'migrate', 'observability']
const CAPABILITIES = [
  'subscriptions',
  'snapshots',
  'projections',
  'consumers',
  'aggregates',
  'relay',
]
const ALLOWED: Readonly<Record<string, readonly string[]>> = {
  errors: [],
  observability: [],
  config: ['errors'],
  db: ['errors'],
  events: ['errors', 'config', 'db'],
  migrate: ['errors', 'db'],
  'node-version': [],
  'local-database': ['errors', 'node-version'],
  partitions: BASE,
  store: BASE,
  subscriptions: [...BASE, 'store'],
  snapshots: [...BASE, 'store'],
  consumers: [...BASE, 'store'],
  projections: [...BASE, 'store', 'subscriptions'],
  aggregates: [...BASE, 'store', 'snapshots'],
  relay: [...BASE, 'store', 'subscriptions'],
  // The facade composes the capabilities; nothing below it knows it exists.
  'event-store': [...BASE, 'store', ...CAPABILITIES],
  'aggregate-functions': ['aggregates', 'event-store'],
  // Built on the facade.
  testing: [...BASE, 'store', ...CAPABILITIES, 'event-store', 'node-version'],
  console: [...BASE, 'store', ...CAPABILITIES, 'event-store'],
  index: [
    ...BASE,
    'store',
    ...CAPABILITIES,
    'event-store',
    'aggregate-functions',
    'local-database',
    'console',
    'node-version',
    'partitions',
  ],
  cli: [
    ...BASE,
    'store',
    ...CAPABILITIES,
    'event-store',
    'console',
    'local-database',
    'node-version',
    'partitions',
  ],
}

const src = fileURLToPath(new URL('../../src/', import.meta.url))

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return sourceFiles(path)
    return entry.name.endsWith('.ts') ? [path] : []
  })
}

/** Relative specifiers of static imports, re-exports and dynamic imports. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8')
  const found: string[] = []
  for (const match of text.matchAll(/^\s*(?:import|export)\s[^;]*?\sfrom\s+'(\.[^']+)'/gm))
    found.push(match[1]!)
  for (const match of text.matchAll(/^\s*import\s+'(\.[^']+)'/gm)) found.push(match[1]!)
  for (const match of text.matchAll(/\bimport\(\s*'(\.[^']+)'\s*\)/g)) found.push(match[1]!)
  return found
}

/** The module a src file belongs to: its top folder, or its own name for top-level files. */
function moduleOf(file: string): string {
  const parts = relative(src, file).split(sep)
  return parts.length > 1 ? parts[0]! : parts[0]!.replace(/\.ts$/, '')
}

const files = sourceFiles(src)
const graph = new Map<string, string[]>(
  files.map((file) => [
    file,
    importsOf(file).map((spec) => normalize(join(dirname(file), spec)).replace(/\.js$/, '.ts')),
  ]),
)

describe('architecture: one direction of dependencies', () => {
  it('knows every module of src/', () => {
    const unknown = [...new Set(files.map(moduleOf))].filter((m) => !(m in ALLOWED))
    expect(unknown, 'add new modules to ALLOWED and to docs/architecture.md').toEqual([])
  })

  it('imports only resolvable files of src/', () => {
    const missing = [...graph].flatMap(([file, targets]) =>
      targets
        .filter((t) => !graph.has(t))
        .map((t) => `${relative(src, file)} -> ${relative(src, t)}`),
    )
    expect(missing).toEqual([])
  })

  it('never imports a higher layer', () => {
    const violations = [...graph].flatMap(([file, targets]) => {
      const from = moduleOf(file)
      return targets
        .map(moduleOf)
        .filter((to) => to !== from && !ALLOWED[from]!.includes(to))
        .map((to) => `${relative(src, file)} imports ${to}, which ${from} may not`)
    })
    expect(violations).toEqual([])
  })

  it("enters another folder only through its index.ts, and never its own folder's", () => {
    const violations = [...graph].flatMap(([file, targets]) =>
      targets
        .filter((target) => {
          const sameModule = moduleOf(target) === moduleOf(file)
          const isFolderFile = relative(src, target).includes(sep)
          const isIndex = target.endsWith(`${sep}index.ts`)
          return (
            isFolderFile && (sameModule ? isIndex && dirname(target) !== dirname(file) : !isIndex)
          )
        })
        .map((t) => `${relative(src, file)} -> ${relative(src, t)}`),
    )
    expect(violations).toEqual([])
  })

  it('has no import cycle, type imports included', () => {
    const cycles: string[] = []
    const state = new Map<string, 'visiting' | 'done'>()
    const stack: string[] = []
    const visit = (file: string) => {
      state.set(file, 'visiting')
      stack.push(file)
      for (const target of graph.get(file) ?? []) {
        if (state.get(target) === 'visiting') {
          const cycle = stack.slice(stack.indexOf(target)).map((f) => relative(src, f))
          cycles.push([...cycle, relative(src, target)].join(' -> '))
        } else if (!state.has(target) && graph.has(target)) visit(target)
      }
      stack.pop()
      state.set(file, 'done')
    }
    for (const file of graph.keys()) if (!state.has(file)) visit(file)
    expect(cycles).toEqual([])
  })
})
