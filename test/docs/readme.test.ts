import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8')

/** The lines between `// #region name` and `// #endregion name`. */
function region(source: string, name: string): string {
  const match = new RegExp(`// #region ${name}\\n([\\s\\S]*?)// #endregion ${name}`).exec(source)
  if (match === null) throw new Error(`no region ${name}`)
  return match[1]!.trim()
}

describe('README', () => {
  it('shows the quick start exactly as examples/01-quick-start/main.ts runs it', () => {
    const snippet = region(read('examples/01-quick-start/main.ts'), 'quick-start')
    expect(read('README.md')).toContain(snippet)
  })

  it('gives the two set-up commands and the test command', () => {
    const readme = read('README.md')
    expect(readme).toContain('npm install && npm start')
    expect(readme).toContain('npm test')
  })
})
