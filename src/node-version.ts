/**
 * The Node.js versions strata supports, checked when the package loads. npm only warns about
 * `engines` (unless engine-strict), so without this an older Node would fail later and somewhere
 * less helpful: deep in a dependency, or in a CommonJS `require` of this ESM package.
 *
 * Every entry point (index.ts, testing/, local-database/) imports this module first, and it
 * imports nothing, so it is evaluated before any other module of the graph.
 */

/** The oldest supported Node.js, as in package.json's `engines` (`>=20.19`). */
export const MINIMUM_NODE_VERSION = '20.19.0'

/** Why `version` (a `process.versions.node` string) is not supported, or undefined when it is. */
export function unsupportedNodeReason(version: string): string | undefined {
  const [major = 0, minor = 0] = version.split('.').map((part) => Number.parseInt(part, 10))
  const [minMajor = 0, minMinor = 0] = MINIMUM_NODE_VERSION.split('.').map(Number)
  if (major > minMajor || (major === minMajor && minor >= minMinor)) return undefined
  return (
    `pg-strata needs Node.js ${MINIMUM_NODE_VERSION} or newer, and this is Node.js ${version}. ` +
    'Upgrade Node.js (see "engines" in pg-strata\'s package.json).'
  )
}

const reason = unsupportedNodeReason(process.versions.node)
if (reason !== undefined) throw new Error(reason)
