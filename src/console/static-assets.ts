import { readdir, readFile } from 'node:fs/promises'
import { extname, join, relative, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { ConsoleApp } from './respond.js'

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
}

/**
 * The page's files (src/console/assets, copied to dist/console/assets by the build), read
 * once at start. Only those files are served, by exact name: no path from a request ever
 * reaches the file system.
 */
export async function loadAssets(
  dir: string = fileURLToPath(new URL('./assets/', import.meta.url)),
): Promise<Map<string, { body: string; type: string }>> {
  const assets = new Map<string, { body: string; type: string }>()
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    const type = TYPES[extname(entry.name)]
    if (!entry.isFile() || type === undefined) continue
    const path = join(entry.parentPath, entry.name)
    const name = `/${relative(dir, path).split(sep).join('/')}`
    assets.set(name, { body: await readFile(path, 'utf8'), type })
  }
  if (!assets.has('/index.html')) throw new Error(`the console's page is missing from ${dir}`)
  return assets
}

export function registerAssets(
  app: ConsoleApp,
  assets: Map<string, { body: string; type: string }>,
): void {
  app.get('*', (c, next) => {
    const asset = assets.get(c.req.path === '/' ? '/index.html' : c.req.path)
    if (asset === undefined) return next()
    return c.body(asset.body, 200, { 'Content-Type': asset.type, 'Cache-Control': 'no-cache' })
  })
}
