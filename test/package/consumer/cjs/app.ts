/**
 * A CommonJS user of the ESM package: `await import()` works on every supported Node, and a
 * static import (compiled to require()) works on Node 20.19+, which can require() ES modules.
 */
import { createEventStore } from 'pg-strata'

async function main(): Promise<void> {
  const strata = await import('pg-strata')
  const testing = await import('pg-strata/testing')
  const dev = await import('pg-strata/dev')
  const database = await dev.acquireDatabase()
  const store = strata.createEventStore({ connectionString: database.url })
  await store.migrate()
  const stream = `cjs${Date.now()}-1`
  await store.appendToStream(stream, [{ type: 'Pinged', data: { n: 1 } }])
  const read = await store.readStream(stream)
  await store.close()
  console.log(
    JSON.stringify({
      sameFunction: strata.createEventStore === createEventStore,
      specFor: typeof testing.specFor,
      read: read.map((event) => event.type),
    }),
  )
}

main().catch((error: unknown) => {
  console.error(error)
  process.exitCode = 1
})
