/** A Postgres for development and tests: DATABASE_URL, else a container, else embedded. */
export { acquireDatabase, type AcquireOptions, type LocalDatabase } from './acquire-database.js'
