/**
 * Partitioned events and archiving (docs/partitioning.md): partition a store that already has
 * events, keep partitions ahead, archive the oldest while appends go on, and see what a read of
 * the archived range does. Runs on DATABASE_URL, or on an embedded Postgres when it is unset:
 * `npx tsx examples/05-partitioned-archive/main.ts`.
 */
import { z } from 'zod'
import {
  ArchivedRangeError,
  archivePartitions,
  createEventStore,
  createPartitions,
  enablePartitioning,
  partitionsStatus,
} from 'pg-strata'
import { acquireDatabase } from 'pg-strata/dev'

const database = await acquireDatabase()
const store = createEventStore(
  { connectionString: database.url },
  { events: { Ticked: z.object({ n: z.number() }) } },
)
await store.migrate()

const tick = (stream: string, n: number) =>
  store.appendToStream(stream, [{ type: 'Ticked', data: { n } }])
for (let n = 1; n <= 30; n++) await tick(`clock-${n % 3}`, n)

// Once, as the schema owner: the 30 events become events_p0; partitions of 20 positions follow.
await enablePartitioning(store.pool, store.schema, { partitionSize: 20n, ahead: 2 })
for (let n = 31; n <= 100; n++) await tick(`clock-${n % 3}`, n)
// From a scheduler: partitions ahead of the head (the tail took what went past them).
console.log('created', await createPartitions(store.pool, store.schema, { ahead: 2 }))

const { partitions } = await partitionsStatus(store.pool, store.schema)
console.log(
  partitions.map((p) => `${p.name} [${p.fromPosition}, ${p.toPosition ?? '∞'})`).join(' '),
)

// Archive every full partition up to position 60, while a writer keeps appending.
let writing = true
const writer = (async () => {
  for (let n = 101; writing; n++) await tick(`clock-${n % 3}`, n)
})()
const archived = await archivePartitions(store.pool, store.schema, { through: 60n })
writing = false
await writer
console.log(
  'archived',
  archived.map((a) => `${a.partition}: ${a.events} events, positions < ${a.toPosition}`),
)

// Reads that would need the archived range fail; they never skip it.
const last = archived.at(-1)!.toPosition - 1n
for (const read of [() => store.readAll({ after: 0n }), () => store.readStream('clock-1')]) {
  await read().catch((error: unknown) => {
    if (!(error instanceof ArchivedRangeError)) throw error
    console.log(`${error.kind}: ${error.message}`)
  })
}
const page = await store.readAll({ after: last, limit: 5 })
console.log(`after position ${last}: ${page.events.map((e) => e.position).join(', ')} …`)
const versions = await store.readStream('clock-1', { direction: 'backward', limit: 3 })
console.log(`clock-1 goes on: versions ${versions.map((e) => e.version).join(', ')}`)

await store.close()
await database.release()
