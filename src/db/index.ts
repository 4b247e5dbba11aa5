/** Postgres access shared by every layer: executors, identifiers, int8, errors, kysely. */
export * from './dedicated-connection.js'
export * from './executor.js'
export * from './identifiers.js'
export * from './int8.js'
export * from './kysely.js'
export * from './pg-errors.js'
export * from './tenant-pool.js'
