/** Schema migrations (the numbered files of migrations/) and the runtime role's grants. */
export { runtimeGrantsSql } from './grants.js'
export {
  appliedVersion,
  assertSchemaCurrent,
  loadMigrations,
  migrate,
  migrationScript,
  type MigrateOptions,
  type MigrateResult,
  type Migration,
} from './migrator.js'
