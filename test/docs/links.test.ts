import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const root = join(dirname(fileURLToPath(import.meta.url)), '../..')
const files = [
  'README.md',
  ...readdirSync(join(root, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
]
const prose = (file: string) =>
  readFileSync(join(root, file), 'utf8').replace(/```[\s\S]*?```/g, '')

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to '-', repeats numbered. */
function anchorsOf(file: string): Set<string> {
  const seen = new Map<string, number>()
  const anchors = new Set<string>()
  for (const [, heading] of prose(file).matchAll(/^#{1,6}\s+(.*)$/gm)) {
    const slug = heading!
      .trim()
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-')
    const n = seen.get(slug) ?? 0
    seen.set(slug, n + 1)
    anchors.add(n === 0 ? slug : `${slug}-${n}`)
  }
  return anchors
}

describe('links in the docs', () => {
  it('every relative link reaches a file, and every #anchor a heading in it', () => {
    const broken: string[] = []
    for (const file of files) {
      for (const [, link] of prose(file).matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/.test(link!)) continue
        const [path, anchor] = link!.split('#') as [string, string | undefined]
        const target = path === '' ? file : join(dirname(file), path)
        if (!existsSync(join(root, target))) broken.push(`${file}: ${link} (no such file)`)
        else if (anchor !== undefined && target.endsWith('.md') && !anchorsOf(target).has(anchor))
          broken.push(`${file}: ${link} (no such heading)`)
      }
    }
    expect(broken).toEqual([])
  })
})
