import { readdirSync, readFileSync } from 'node:fs'
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

  it('opens with an Install section that installs the package by its published name', () => {
    const { name } = JSON.parse(read('package.json')) as { name: string }
    const readme = read('README.md')
    const install = readme.indexOf('## Install')
    expect(install).toBeGreaterThan(-1)
    expect(readme.indexOf(`npm install ${name}\n`)).toBeGreaterThan(install)
    expect(readme.indexOf('npm install && npm start')).toBeGreaterThan(install)
  })

  it('imports the package by its published name everywhere users read', () => {
    const { name } = JSON.parse(read('package.json')) as { name: string }
    const files = [
      'README.md',
      ...readdirSync(new URL('../../docs/', import.meta.url))
        .filter((f) => f.endsWith('.md'))
        .map((f) => `docs/${f}`),
      ...readdirSync(new URL('../../examples/', import.meta.url), { recursive: true })
        .map(String)
        .filter((f) => f.endsWith('.ts'))
        .map((f) => `examples/${f}`),
    ]
    const specifiers = files.flatMap((file) =>
      [...read(file).matchAll(/from '([^'.][^']*)'/g)]
        .map((match) => match[1]!)
        .filter((specifier) => /strata/.test(specifier))
        .map((specifier) => `${file}: ${specifier}`),
    )
    expect(specifiers.length).toBeGreaterThan(0)
    const wrong = specifiers.filter(
      (entry) => !new RegExp(`: ${name}(/testing|/dev)?$`).test(entry),
    )
    expect(wrong).toEqual([])
  })
})
