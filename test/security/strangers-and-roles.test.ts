import { randomBytes, randomUUID } from 'node:crypto'
import pg from 'pg'
import { firstValueFrom, filter, take, toArray } from 'rxjs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  createEventStore,
  runtimeGrantsSql,
  StreamLockTimeoutError,
  type EventStore,
  type RecordedEvent,
} from '../../src/index.js'
import { loadMigrations, migrate, migrationScript } from '../../src/migrate/migrator.js'
import { balances, bankEvents, readBalances } from '../projections/fixtures.js'
import { aStreamId } from '../support/factories.js'
import { useTestDatabase } from '../support/test-database.js'
import { waitFor } from '../support/wait-for.js'

// docs/guarantees.md, "Strangers and roles": a role with no grants and a role with the runtime
// grants (src/migrate/grants.ts) try each attack of issue 22; each fails or has no effect.

const db = useTestDatabase()
const suffix = randomBytes(4).toString('hex')
const runtimeRole = `strata_rt_${suffix}`
const strangerRole = `strata_x_${suffix}`
const denied = { code: '42501' } // insufficient_privilege
const aCategory = () => `cat${randomBytes(4).toString('hex')}`

let owner: EventStore
let runtime: EventStore<typeof bankEvents, true>
let other: EventStore
const clients: pg.Client[] = []

function urlAs(role: string): string {
  const url = new URL(db.url)
  url.username = role
  return url.toString()
}

async function connectAs(role: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: urlAs(role) })
  client.on('error', () => undefined)
  await client.connect()
  clients.push(client)
  return client
}

/** One appended event's SQL parameters, as append_events takes them. */
function appendArgs(streamId: string) {
  return [[streamId], ['any'], [0], [1], [false], [randomUUID()], ['T'], [{}], [{}], [1], true]
}
const APPEND = `SELECT * FROM strata.append_events($1::text[], $2::text[], $3::bigint[], $4::int[],
  $5::boolean[], $6::uuid[], $7::text[], $8::jsonb[], $9::jsonb[], $10::int[], $11)`

beforeAll(async () => {
  owner = await db.store()
  other = await db.store({ schema: 'other_tenant' })
  await owner.appendToStream(aStreamId(), [{ type: 'Seeded', data: {} }])
  await other.appendToStream(aStreamId(), [{ type: 'Seeded', data: {} }])
  await db.query(`CREATE ROLE ${runtimeRole} LOGIN`)
  await db.query(`CREATE ROLE ${strangerRole} LOGIN`)
  await db.query(runtimeGrantsSql('strata', runtimeRole))
  // Projections keep their read models in schemas of their own (docs/operations.md).
  await db.query(`GRANT CREATE ON DATABASE ${db.name} TO ${runtimeRole}`)
  runtime = createEventStore(
    { connectionString: urlAs(runtimeRole) },
    { events: bankEvents, allowUnregisteredTypes: true },
  )
})

afterAll(async () => {
  for (const client of clients) await client.end().catch(() => undefined)
  await runtime?.close()
  for (const role of [runtimeRole, strangerRole]) {
    await db.query(`DROP OWNED BY ${role} CASCADE`).catch(() => undefined)
    await db.query(`DROP ROLE IF EXISTS ${role}`)
  }
})

describe('the runtime role cannot rewrite history', () => {
  it('cannot insert events, nor change streams, nor write any table directly', async () => {
    const client = await connectAs(runtimeRole)
    const id = aStreamId()
    await runtime.appendToStream(id, [{ type: 'Placed', data: {} }])
    await runtime.tombstoneStream(id)
    const attempts = [
      // forged version, back-dated, squatted position
      `INSERT INTO strata.events (stream_id, version, id, type, data, created_at)
         VALUES ('${id}', 7, gen_random_uuid(), 'Forged', '{}', now() - interval '1 year')`,
      `INSERT INTO strata.events (position, stream_id, version, id, type, data)
         VALUES (1000000, 'squat-1', 1, gen_random_uuid(), 'Squat', '{}')`,
      `DELETE FROM strata.streams WHERE stream_id = '${id}'`, // undo the tombstone
      `UPDATE strata.streams SET version = version + 100`, // a hole in the versions
      `UPDATE strata.streams SET truncate_before = 1000000`, // the owner's scavenge would delete
      `INSERT INTO strata.streams (stream_id, version) VALUES ('floor-1', 50)`,
      `UPDATE strata.events SET data = '{}'`,
      `DELETE FROM strata.events`,
      `TRUNCATE strata.events`,
      `INSERT INTO strata.checkpoints (name, position) VALUES ('x', 1)`,
      `UPDATE strata.projections SET position = 0`,
      `DELETE FROM strata.consumer_group_messages`,
      `UPDATE strata.relays SET position = 0`,
      `INSERT INTO strata.snapshots (stream_id, aggregate, stream_version, snapshot_version, state, pinned)
         VALUES ('${id}', 'a', 1, 1, '{}', true)`,
      `DELETE FROM strata.schema_migrations`,
      `SELECT setval('strata.events_position_seq', 1)`,
      `SELECT nextval('strata.events_position_seq')`, // positions handed out only by appends
      `SELECT * FROM strata.scavenge_batch(100)`,
      `CREATE TABLE strata.sneaky (id int)`,
      `ALTER TABLE strata.events DISABLE TRIGGER events_refuse_delete`,
      `DROP TRIGGER events_refuse_update ON strata.events`,
      `CREATE OR REPLACE FUNCTION strata.safe_horizon(int) RETURNS bigint LANGUAGE sql AS 'SELECT 0::bigint'`,
    ]
    for (const sql of attempts) await expect(client.query(sql), sql).rejects.toMatchObject(denied)
    expect((await owner.getStreamInfo(id)).deleted).toBe('tombstoned')
    await expect(runtime.scavenge()).rejects.toMatchObject(denied)
  })

  it('cannot switch the scavenge exception on: the session setting no longer opens the trigger', async () => {
    const client = await connectAs(runtimeRole)
    await client.query(`SET strata.allow_event_delete = 'on'`)
    await expect(client.query(`DELETE FROM strata.events`)).rejects.toMatchObject(denied)
    // Not even for the owner: only scavenge_batch's own permit opens it.
    const admin = await db.pool.connect()
    try {
      await admin.query('BEGIN')
      await admin.query(`SELECT set_config('strata.allow_event_delete', 'on', true)`)
      await expect(admin.query(`DELETE FROM strata.events`)).rejects.toMatchObject({
        code: 'SX004',
      })
    } finally {
      await admin.query('ROLLBACK')
      admin.release()
    }
  })

  it("cannot take the store's locks, and its temporary tables never stand in for the store's", async () => {
    const client = await connectAs(runtimeRole)
    await client.query('BEGIN')
    await expect(
      // The mode every INSERT into events holds, which safe_horizon waits for (migrations/0017).
      client.query(`LOCK TABLE strata.events IN ROW EXCLUSIVE MODE`),
    ).rejects.toMatchObject(denied)
    await client.query('ROLLBACK')
    await expect(
      client.query(`SELECT * FROM strata.stream_locks WHERE slot = 1 FOR UPDATE`),
    ).rejects.toMatchObject(denied)
    // A temporary "events" table comes first in an unqualified lookup unless pg_temp is last.
    await client.query(
      `CREATE TEMP TABLE events (LIKE strata.events); CREATE TEMP TABLE streams (LIKE strata.streams)`,
    )
    const id = aStreamId()
    await client.query(APPEND, appendArgs(id))
    expect(await owner.readStream(id)).toHaveLength(1)
    expect((await client.query(`SELECT count(*)::int AS n FROM pg_temp.events`)).rows[0].n).toBe(0)
  })

  it('the store functions check their arguments', async () => {
    const client = await connectAs(runtimeRole)
    // Counts that do not add up to the events given.
    const args = appendArgs(aStreamId())
    args[3] = [5]
    await expect(client.query(APPEND, args)).rejects.toMatchObject({ code: '22023' })
    await expect(
      client.query(`SELECT strata.delete_stream($1, 'bogus', 'any', 0)`, [aStreamId()]),
    ).rejects.toMatchObject({ code: '22023' })
  })

  it("cannot read another schema's store", async () => {
    const client = await connectAs(runtimeRole)
    await expect(client.query(`SELECT * FROM other_tenant.events`)).rejects.toMatchObject(denied)
    await expect(
      client.query(APPEND.replace('strata.', 'other_tenant.'), appendArgs(aStreamId())),
    ).rejects.toMatchObject(denied)
  })
})

describe('a stranger (no grants) cannot stall or block the store', () => {
  it('holding the old append-lock advisory key, shared or exclusive, stalls nothing', async () => {
    for (const lock of ['pg_advisory_xact_lock', 'pg_advisory_xact_lock_shared']) {
      const stranger = await connectAs(strangerRole)
      await stranger.query('BEGIN')
      await stranger.query(`SELECT ${lock}(1398034497, hashtext('strata'))`)
      const category = aCategory()
      const { position } = await owner.appendToStream(`${category}-1`, [{ type: 'A', data: {} }])
      // Filtered reads wait for the horizon; they see the event at once.
      const page = await owner.readAll({ after: position - 1n, filter: { category } })
      expect(page.events.map((e) => e.position)).toEqual([position])
      const horizon = await owner.pool.query<{ h: string | null }>(
        'SELECT strata.safe_horizon(0) AS h',
      )
      expect(BigInt(horizon.rows[0]!.h!)).toBeGreaterThanOrEqual(position)
      await stranger.query('ROLLBACK')
    }
  })

  it('whatever holds the lock every INSERT into events takes is waited for; the old advisory key is not', async () => {
    const admin = await db.pool.connect()
    try {
      await admin.query('BEGIN')
      // An appender of any version of the functions (0008's took this advisory key as well).
      await admin.query(`SELECT pg_advisory_xact_lock_shared(1398034497, hashtext('strata'))`)
      // (Up to 2 s for appends in flight elsewhere in this database: only the old key is held.)
      const free = await owner.pool.query<{ h: string | null }>(
        'SELECT strata.safe_horizon(2000) AS h',
      )
      expect(free.rows[0]!.h).not.toBeNull()
      await admin.query(`LOCK TABLE strata.events IN ROW EXCLUSIVE MODE`)
      const held = await owner.pool.query<{ h: string | null }>(
        'SELECT strata.safe_horizon(0) AS h',
      )
      expect(held.rows[0]!.h).toBeNull()
    } finally {
      await admin.query('ROLLBACK')
      admin.release()
    }
  })

  it("holding the old consumer-group claim keys holds back no group's claims", async () => {
    const stranger = await connectAs(strangerRole)
    await stranger.query('BEGIN')
    await stranger.query(
      `SELECT pg_advisory_xact_lock(1398035011, g) FROM generate_series(1, 100) AS g`,
    )
    const category = aCategory()
    await runtime.appendToStream(`${category}-1`, [{ type: 'Work', data: {} }])
    const group = runtime.consumerGroup(`limited_${suffix}`, {
      source: { category },
      maxConcurrency: 1,
      maxPerSecond: 100,
    })
    let handled = 0
    const consumer = group.consume(() => {
      handled++
    })
    try {
      await waitFor(() => handled === 1, { message: 'claimed despite the stranger' })
    } finally {
      await consumer.stop()
      await stranger.query('ROLLBACK')
    }
  })

  it('holding the old stream-lock advisory key blocks no append', async () => {
    const id = aStreamId()
    const stranger = await connectAs(strangerRole)
    await stranger.query('BEGIN')
    await stranger.query(`SELECT pg_advisory_xact_lock(1398035027, hashtext($1))`, [id])
    const store = createEventStore(
      { connectionString: db.url },
      { appendLockTimeoutMs: 2_000, notify: false },
    )
    try {
      await store.appendToStream(id, [{ type: 'A', data: {} }])
      await store.appendToStreams([{ streamId: id, events: [{ type: 'B', data: {} }] }])
      expect((await store.readStream(id)).map((e) => e.type)).toEqual(['A', 'B'])
    } finally {
      await stranger.query('ROLLBACK')
      await store.close()
    }
  })

  it("cannot name, lock or call the store's objects", async () => {
    const stranger = await connectAs(strangerRole)
    const attempts = [
      `LOCK TABLE strata.events IN ROW EXCLUSIVE MODE`,
      // PREPARE resolves and locks its tables without checking privileges on them; without
      // USAGE on the schema it cannot even resolve them.
      `PREPARE p AS INSERT INTO strata.events DEFAULT VALUES`,
      `SELECT * FROM strata.stream_locks FOR UPDATE`,
      `SELECT strata.lock_stream('x')`,
      `SELECT strata.safe_horizon(0)`,
      `SELECT * FROM strata.events`,
    ]
    for (const sql of attempts) {
      await stranger.query('BEGIN')
      await expect(stranger.query(sql), sql).rejects.toMatchObject(denied)
      await stranger.query('ROLLBACK')
    }
    await expect(stranger.query(APPEND, appendArgs(aStreamId()))).rejects.toMatchObject(denied)
  })

  it("a stranger's NOTIFY on the store's channel is only a wake-up: readers never trust it", async () => {
    const id = aStreamId()
    const live = firstValueFrom(
      owner.subscribeToStream(id).pipe(
        filter((e): e is RecordedEvent => 'type' in e),
        take(2),
        toArray(),
      ),
    )
    const stranger = await connectAs(strangerRole)
    await stranger.query(`NOTIFY strata_events, '9223372036854775807'`)
    await stranger.query(`NOTIFY strata_events, 'not a position'`)
    await owner.appendToStream(id, [
      { type: 'A', data: {} },
      { type: 'B', data: {} },
    ])
    expect((await live).map((e) => e.type)).toEqual(['A', 'B'])
  })
})

describe('stream locks', () => {
  it("include the schema: a stream locked in one schema does not block another schema's", async () => {
    const id = aStreamId()
    const admin = await db.pool.connect()
    try {
      await admin.query('BEGIN')
      await admin.query(`SELECT strata.lock_stream($1)`, [id])
      await other.appendToStream(id, [{ type: 'A', data: {} }])
      expect(await other.readStream(id)).toHaveLength(1)
    } finally {
      await admin.query('ROLLBACK')
      admin.release()
    }
  })

  it('an append waits at most appendLockTimeoutMs, then fails with StreamLockTimeoutError', async () => {
    const id = aStreamId()
    const store = createEventStore(
      { connectionString: db.url },
      { appendLockTimeoutMs: 100, notify: false },
    )
    const admin = await db.pool.connect()
    try {
      await admin.query('BEGIN')
      await admin.query(`SELECT strata.lock_stream($1)`, [id])
      const error = await store
        .appendToStream(id, [{ type: 'A', data: {} }])
        .catch((e: unknown) => e)
      expect(error).toBeInstanceOf(StreamLockTimeoutError)
      expect(error).toMatchObject({ code: 'STREAM_LOCK_TIMEOUT', streamId: id, lockTimeoutMs: 100 })
      const many = await store
        .appendToStreams([
          { streamId: id, events: [{ type: 'A', data: {} }] },
          { streamId: aStreamId(), events: [{ type: 'A', data: {} }] },
        ])
        .catch((e: unknown) => e)
      expect(many).toBeInstanceOf(StreamLockTimeoutError)
      await admin.query('ROLLBACK')
      await store.appendToStream(id, [{ type: 'A', data: {} }])
      expect(await store.readStream(id)).toHaveLength(1)
      // The caller's transaction keeps its own lock_timeout.
      await admin.query('BEGIN')
      await admin.query(`SET LOCAL lock_timeout = '1234ms'`)
      await store.appendToStream(aStreamId(), [{ type: 'A', data: {} }], { transaction: admin })
      const { rows } = await admin.query<{ lock_timeout: string }>('SHOW lock_timeout')
      expect(rows[0]!.lock_timeout).toBe('1234ms')
      await admin.query('COMMIT')
    } finally {
      await admin.query('ROLLBACK').catch(() => undefined)
      admin.release()
      await store.close()
    }
  })

  it('appendLockTimeoutMs is checked', () => {
    for (const bad of [-1, 1.5, 'soon']) {
      expect(() =>
        createEventStore(
          { connectionString: db.url },
          // @ts-expect-error -- a wrong type on purpose
          { appendLockTimeoutMs: bad },
        ),
      ).toThrow(/appendLockTimeoutMs/)
    }
  })
})

describe('the runtime role still does everything the library does at run time', () => {
  it('consumer groups: claims, acks, dead letters', async () => {
    const category = aCategory()
    for (let i = 0; i < 5; i++)
      await runtime.appendToStream(`${category}-${i}`, [{ type: 'Work', data: { i } }])
    const group = runtime.consumerGroup(`g_${suffix}`, { source: { category }, maxAttempts: 1 })
    const seen = new Set<string>()
    const consumer = group.consume((event: RecordedEvent) => {
      if ((event.data as { i: number }).i === 0) throw new Error('poison')
      seen.add(event.id)
    })
    try {
      await waitFor(() => seen.size === 4, { message: 'four handled' })
      await waitFor(async () => (await group.status()).parked === 1, { message: 'one parked' })
      const parked = await group.deadLetters.list()
      expect(parked).toHaveLength(1)
      expect(await group.deadLetters.discard(parked.map((p) => p.position))).toBe(1)
      const changed = runtime.consumerGroup(`g_${suffix}`, {
        source: { category, eventTypes: ['Work'] },
      })
      expect((await changed.changeSource()).to).toContain('eventTypes')
    } finally {
      await consumer.stop()
    }
  })

  it('projections: leases, positions and their read model', async () => {
    const account = `account-${randomUUID()}`
    await runtime.appendToStream(account, [
      { type: 'Opened', data: { owner: 'ada' } },
      { type: 'Deposited', data: { amount: 5 } },
    ])
    const runner = runtime.runProjection(balances(1, { name: `rt_balances_${suffix}` }), {
      pollIntervalMs: 50,
    })
    try {
      await waitFor(
        async () =>
          (await readBalances(runtime, `rt_balances_${suffix}`).catch(() => new Map())).get(account)
            ?.balance === 5,
      )
    } finally {
      await runner.stop()
    }
    await runtime.resetProjection(`rt_balances_${suffix}`, { version: 1 })
  })

  it('checkpoints, stream metadata, deletes and multi-stream appends', async () => {
    const id = aStreamId()
    await runtime.appendToStreams([
      { streamId: id, events: [{ type: 'A', data: {} }] },
      { streamId: aStreamId(), events: [{ type: 'A', data: {} }] },
    ])
    await runtime.checkpoints.save(`cp_${suffix}`, 5n)
    await runtime.checkpoints.save(`cp_${suffix}`, 3n) // never backwards
    expect(await runtime.checkpoints.load(`cp_${suffix}`)).toBe(5n)
    await runtime.checkpoints.delete(`cp_${suffix}`)
    await runtime.setStreamMetadata(id, { maxCount: 1, custom: { owner: 'x' } })
    expect((await runtime.getStreamInfo(id)).metadata.maxCount).toBe(1)
    await runtime.deleteStream(id)
    expect(await runtime.readStream(id)).toEqual([])
  })
})

describe('upgrading to migration 0011', () => {
  it('moves a runtime role granted before it to the new grants: it keeps appending, and loses its table writes', async () => {
    const schema = `up_${suffix}`
    const role = `strata_up_${suffix}`
    const names = (await loadMigrations()).map((m) => m.name).filter((n) => n < '0011')
    await db.query(await migrationScript(schema, names))
    await db.query(`CREATE ROLE ${role} LOGIN`)
    // The grants of runtimeGrantsSql before 0011.
    await db.query(`GRANT USAGE ON SCHEMA ${schema} TO ${role};
      GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA ${schema} TO ${role};
      REVOKE UPDATE, DELETE, TRUNCATE ON ${schema}.events FROM ${role};
      REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON ${schema}.schema_migrations FROM ${role};
      GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA ${schema} TO ${role};
      GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA ${schema} TO ${role};`)
    const client = await connectAs(role)
    const oldCall = APPEND.replace('strata.', `${schema}.`)
    await client.query(oldCall, appendArgs(aStreamId())) // as a strata before 0011 appends
    const store = createEventStore({ connectionString: urlAs(role) }, { schema, notify: false })
    try {
      const { applied } = await migrate(db.pool, schema)
      expect(applied[0]).toBe('0011_strangers_and_roles.sql')
      // Functions of later migrations are granted to the roles that may append, too.
      const [grant] = await db.query<{ ok: boolean }>(
        `SELECT has_function_privilege($1, '${schema}.consumer_group_change_source(text, text, text[], text[], text)', 'EXECUTE') AS ok`,
        [role],
      )
      expect(grant?.ok).toBe(true)
      // A process of the old version goes on appending (its call has no lock timeout).
      await client.query(oldCall, appendArgs(aStreamId()))
      const id = aStreamId()
      await store.appendToStream(id, [{ type: 'After', data: {} }])
      await store.checkpoints.save('after', 1n)
      expect(await store.readStream(id)).toHaveLength(1)
      await expect(
        store.pool.query(
          `INSERT INTO ${schema}.events (stream_id, version, id, type, data) VALUES ('x', 1, gen_random_uuid(), 'F', '{}')`,
        ),
      ).rejects.toMatchObject(denied)
      await expect(store.pool.query(`DELETE FROM ${schema}.streams`)).rejects.toMatchObject(denied)
      await expect(store.scavenge()).rejects.toMatchObject(denied)
    } finally {
      await store.close()
      await client.end()
      await db.query(`DROP OWNED BY ${role} CASCADE`).catch(() => undefined)
      await db.query(`DROP ROLE IF EXISTS ${role}`)
    }
  })
})
