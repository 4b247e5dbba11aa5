import { randomBytes } from 'node:crypto'
import { firstValueFrom, take, toArray } from 'rxjs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  createEventStore,
  runtimeGrantsSql,
  SchemaOutdatedError,
  type EventStore,
} from '../../src/index.js'
import { aStreamId } from '../support/factories.js'
import { useTestDatabase } from '../support/test-database.js'

const db = useTestDatabase()
const role = `strata_rt_${randomBytes(4).toString('hex')}`
let runtime: EventStore

beforeAll(async () => {
  const owner = await db.store()
  await owner.appendToStream(aStreamId(), [{ type: 'Seeded', data: {} }])
  await db.query(`CREATE ROLE ${role} LOGIN`)
  await db.query(runtimeGrantsSql('strata', role))
  const url = new URL(db.url)
  url.username = role
  runtime = createEventStore({ connectionString: url.toString() })
})

afterAll(async () => {
  await runtime?.close()
  await db.query(`DROP OWNED BY ${role}`)
  await db.query(`DROP ROLE IF EXISTS ${role}`)
})

describe('a runtime role (docs/operations.md)', () => {
  it('appends, reads, subscribes and checkpoints', async () => {
    const id = aStreamId()
    const { position } = await runtime.appendToStream(id, [{ type: 'Placed', data: { n: 1 } }])
    await runtime.appendToStreams([
      { streamId: id, events: [{ type: 'Paid', data: {} }], expectedVersion: 1n },
    ])
    expect((await runtime.readStream(id)).map((e) => e.type)).toEqual(['Placed', 'Paid'])
    expect((await runtime.readAll({ after: position - 1n })).events[0]!.streamId).toBe(id)
    const live = await firstValueFrom(runtime.subscribeToStream(id).pipe(take(2), toArray()))
    expect(live).toHaveLength(2)
    await runtime.checkpoints.save('rt', position)
    expect(await runtime.checkpoints.load('rt')).toBe(position)
    await runtime.setStreamMetadata(id, { maxCount: 10 })
    await runtime.deleteStream(id)
  })

  it('cannot run DDL, migrate, or update, delete or truncate events', async () => {
    const denied = { code: '42501' } // insufficient_privilege
    await expect(runtime.pool.query(`CREATE TABLE strata.sneaky (id int)`)).rejects.toMatchObject(
      denied,
    )
    await expect(runtime.pool.query(`UPDATE strata.events SET data = '{}'`)).rejects.toMatchObject(
      denied,
    )
    await expect(runtime.pool.query(`DELETE FROM strata.events`)).rejects.toMatchObject(denied)
    await expect(runtime.pool.query(`TRUNCATE strata.events`)).rejects.toMatchObject(denied)
    await expect(runtime.pool.query(`DELETE FROM strata.schema_migrations`)).rejects.toMatchObject(
      denied,
    )
    await expect(runtime.scavenge()).rejects.toMatchObject(denied)
  })
})

describe('running without migrating at start', () => {
  it('throws SchemaOutdatedError when the schema is behind, before touching anything', async () => {
    const store = createEventStore({ connectionString: db.url }, { schema: 'never_migrated' })
    try {
      const error = await store
        .appendToStream(aStreamId(), [{ type: 'T', data: {} }])
        .catch((e: unknown) => e)
      expect(error).toBeInstanceOf(SchemaOutdatedError)
      expect(error).toMatchObject({ schema: 'never_migrated', appliedVersion: 0 })
      expect((error as Error).message).toContain('strata migrate')
      await expect(store.readAll()).rejects.toBeInstanceOf(SchemaOutdatedError)
    } finally {
      await store.close()
    }
  })

  it("migrate: 'auto' migrates on first use; 'off' does not check", async () => {
    const auto = createEventStore(
      { connectionString: db.url },
      { schema: 'auto_migrated', migrate: 'auto' },
    )
    try {
      const r = await auto.appendToStream(aStreamId(), [{ type: 'T', data: {} }])
      expect(r.nextExpectedVersion).toBe(1n)
    } finally {
      await auto.close()
    }
    const off = createEventStore(
      { connectionString: db.url },
      { schema: 'not_checked', migrate: 'off' },
    )
    try {
      await expect(off.readAll()).rejects.toMatchObject({ code: '42P01' })
    } finally {
      await off.close()
    }
  })
})
