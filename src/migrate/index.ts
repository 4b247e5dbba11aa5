/** Schema migrations (the numbered files of migrations/) and the runtime role's grants. */
export * from './grants.js'
export * from './migrator.js'
