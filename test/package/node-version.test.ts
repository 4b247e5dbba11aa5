import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { MINIMUM_NODE_VERSION, unsupportedNodeReason } from '../../src/node-version.js'

describe('unsupportedNodeReason', () => {
  it('accepts the minimum of package.json engines and anything newer', () => {
    const { engines } = JSON.parse(
      readFileSync(new URL('../../package.json', import.meta.url), 'utf8'),
    ) as { engines: { node: string } }
    expect(`${engines.node}.0`).toBe(`>=${MINIMUM_NODE_VERSION}`)
    for (const version of ['20.19.0', '20.20.2', '21.0.0', '22.12.0', '24.1.0', '100.0.0'])
      expect(unsupportedNodeReason(version)).toBeUndefined()
  })

  it('names the version it needs and the one it got, for anything older', () => {
    for (const version of ['20.18.3', '20.0.0', '18.20.4', '16.20.2', '0.10.48'])
      expect(unsupportedNodeReason(version)).toBe(
        `pg-strata needs Node.js 20.19.0 or newer, and this is Node.js ${version}. ` +
          `Upgrade Node.js (see "engines" in pg-strata's package.json).`,
      )
  })
})
