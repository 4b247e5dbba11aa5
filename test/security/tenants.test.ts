import { randomBytes, randomUUID } from 'node:crypto'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import {
  createEventStore,
  DuplicateEventError,
  runtimeGrantsSql,
  TenantConflictError,
  TenantRequiredError,
  type EventStore,
  type RecordedEvent,
} from '../../src/index.js'
import { bankAccount } from '../aggregates/fixtures.js'
import { balances, bankEvents, readBalances } from '../projections/fixtures.js'
import { startPgBouncer, type PgBouncerServer } from '../support/pgbouncer-server.js'
import { databaseUrl, useTestDatabase } from '../support/test-database.js'
import { waitFor } from '../support/wait-for.js'

// docs/tenants.md: two runtime-role stores, tenants A and B, on one schema. A's events are never
// visible to B through any read path; B cannot write to A's stream nor consume A's group.

const db = useTestDatabase()
const suffix = randomBytes(4).toString('hex')
const role = `strata_tn_${suffix}`
const category = `cat${suffix}`
const aStream = `${category}-a1`
const bStream = `${category}-b1`

type Store = EventStore<typeof bankEvents, true>
let owner: EventStore
let a: Store
let b: Store
const opened: Array<{ close(): Promise<void> }> = []
const clients: pg.Client[] = []

function urlAs(user: string): string {
  const url = new URL(db.url)
  url.username = user
  return url.toString()
}

function tenantStore(tenant: string | undefined, schema = 'strata', url = urlAs(role)): Store {
  const store = createEventStore(
    { connectionString: url, max: 4 },
    {
      schema,
      events: bankEvents,
      allowUnregisteredTypes: true,
      ...(tenant === undefined ? {} : { tenant }),
      ...(db.viaPooler || url !== urlAs(role) ? { listen: false } : {}),
    },
  )
  opened.push(store)
  return store
}

async function connectAs(user: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: urlAs(user) })
  client.on('error', () => undefined)
  await client.connect()
  clients.push(client)
  return client
}

/** The ids of every event of $all the store sees. */
async function allIds(store: Store): Promise<Set<string>> {
  const ids = new Set<string>()
  let after = 0n
  for (;;) {
    const page = await store.readAll({ after, limit: 50 })
    for (const e of page.events) ids.add(e.id)
    after = page.lastPosition
    if (page.isEnd) return ids
  }
}

let aIds: string[] = []
let bIds: string[] = []

beforeAll(async () => {
  owner = await db.store()
  // A tenant-less event from before tenants were enabled: it stays tenant '' (owner only).
  await owner.appendToStream(`${category}-before`, [{ type: 'Opened', data: { owner: 'old' } }])
  await db.query(`SELECT strata.enable_tenants()`)
  await db.query(`CREATE ROLE ${role} LOGIN`)
  await db.query(runtimeGrantsSql('strata', role))
  await db.query(`GRANT CREATE ON DATABASE ${db.name} TO ${role}`)
  a = tenantStore('tenant-a')
  b = tenantStore('tenant-b')
  // Interleaved, so each tenant's positions have the other's in between (gaps in its $all).
  for (let i = 0; i < 3; i++) {
    const ra = await a.appendToStream(aStream, [{ type: 'Deposited', data: { amount: 1 } }])
    const rb = await b.appendToStream(bStream, [{ type: 'Deposited', data: { amount: 2 } }])
    expect(ra.nextExpectedVersion).toBe(BigInt(i + 1))
    expect(rb.nextExpectedVersion).toBe(BigInt(i + 1))
  }
  aIds = (await a.readStream(aStream)).map((e) => e.id)
  bIds = (await b.readStream(bStream)).map((e) => e.id)
})

afterAll(async () => {
  for (const client of clients) await client.end().catch(() => undefined)
  for (const store of opened) await store.close().catch(() => undefined)
  await db.query(`DROP OWNED BY ${role} CASCADE`).catch(() => undefined)
  await db.query(`DROP ROLE IF EXISTS ${role}`)
})

describe('reads stay within the tenant', () => {
  it('readAll, readStream, getStreamInfo and headPosition', async () => {
    const seenByA = await allIds(a)
    const seenByB = await allIds(b)
    expect([...seenByA].sort()).toEqual([...aIds].sort())
    expect([...seenByB].sort()).toEqual([...bIds].sort())
    expect(await b.readStream(aStream)).toEqual([])
    expect(await b.readStream(aStream, { direction: 'backward' })).toEqual([])
    expect((await b.getStreamInfo(aStream)).version).toBe(0n)
    expect((await a.getStreamInfo(aStream)).version).toBe(3n)
    const aLast = (await a.readStream(aStream)).at(-1)!.position
    const bLast = (await b.readStream(bStream)).at(-1)!.position
    expect(await a.headPosition()).toBe(aLast)
    expect(await b.headPosition()).toBe(bLast)
    // The owner, without a tenant, sees everything (administration, scavenge).
    expect((await owner.readStream(aStream)).length).toBe(3)
  })

  it('subscribeToAll, subscribeToCategory and subscribeToStream', async () => {
    const live = `${category}-b-live`
    const subscriptions = [
      b.subscribeToAll(),
      b.subscribeToCategory(category),
      b.subscribeToStream(aStream),
      b.subscribeToStream(live),
    ]
    const seen: RecordedEvent[][] = subscriptions.map(() => [])
    const subs = subscriptions.map((s, i) => s.subscribe((e) => void seen[i]!.push(e)))
    try {
      // After the catch-up: a new event of A, then one of B each subscription may see.
      await a.appendToStream(aStream, [{ type: 'Deposited', data: { amount: 1 } }])
      const marker = await b.appendToStream(live, [{ type: 'Deposited', data: { amount: 9 } }])
      await waitFor(
        () => [0, 1, 3].every((i) => seen[i]!.some((e) => e.position === marker.position)),
        { message: 'B sees its own live event' },
      )
      const aAll = new Set((await a.readStream(aStream)).map((e) => e.id))
      for (const events of seen) {
        expect(events.filter((e) => aAll.has(e.id))).toEqual([])
      }
      expect(seen[2]).toEqual([])
      expect(seen[0]!.map((e) => e.id)).toEqual([...bIds, ...seen[0]!.slice(3).map((e) => e.id)])
    } finally {
      for (const s of subs) s.unsubscribe()
    }
  })

  it('consumer groups admit the tenant’s events only; group names are per tenant', async () => {
    const received: string[] = []
    const group = b.consumerGroup(`group_b_${suffix}`, { source: { category }, startFrom: 'start' })
    const consumer = group.consume((event) => void received.push(event.streamId))
    try {
      await waitFor(() => received.length >= 3, { message: 'B’s group got its events' })
    } finally {
      await consumer.stop()
    }
    expect(received.every((s) => s.startsWith(`${category}-b`))).toBe(true)
    // Groups vacuum their tables now and then: not inside the transaction that names the tenant.
    await b.pool.query('VACUUM (SKIP_LOCKED) strata.consumer_group_messages')

    const aGroup = a.consumerGroup(`group_a_${suffix}`, { source: { category } })
    const aConsumer = aGroup.consume(() => undefined)
    await waitFor(async () => (await aGroup.status()).consumers >= 1, {
      message: 'A’s group exists',
    })
    await aConsumer.stop()
    // B's group of the same name is B's own: B's events, A's group untouched.
    const sameName: string[] = []
    const bGroup = b.consumerGroup(`group_a_${suffix}`, {
      source: { category },
      startFrom: 'start',
    })
    const bConsumer = bGroup.consume((event) => void sameName.push(event.streamId))
    try {
      await waitFor(() => sameName.length >= 3, {
        message: 'B’s group of that name got B’s events',
      })
    } finally {
      await bConsumer.stop()
    }
    expect(sameName.every((s) => s.startsWith(`${category}-b`))).toBe(true)
    const { rows } = await db.pool.query<{ tenant_id: string }>(
      `SELECT tenant_id FROM strata.consumer_groups WHERE name = $1 ORDER BY tenant_id`,
      [`group_a_${suffix}`],
    )
    expect(rows.map((r) => r.tenant_id)).toEqual(['tenant-a', 'tenant-b'])
    expect((await aGroup.status()).consumers).toBe(0)
  })

  it('B cannot claim, ack or reset A’s group through the functions either', async () => {
    const client = await connectAs(role)
    const { rows } = await db.pool.query<{ id: number }>(
      `SELECT id FROM strata.consumer_groups WHERE name = $1 AND tenant_id = 'tenant-a'`,
      [`group_a_${suffix}`],
    )
    const groupId = rows[0]!.id
    await client.query(`SELECT set_config('strata.tenant', 'tenant-b', false)`)
    // B's row-level security hides A's group: nothing to read.
    expect(
      (await client.query(`SELECT 1 FROM strata.consumer_groups WHERE id = ${groupId}`)).rows,
    ).toEqual([])
    const attempts = [
      `SELECT * FROM strata.consumer_group_admit(${groupId}, 100, 100, 0)`,
      `SELECT * FROM strata.consumer_group_heartbeat(${groupId}, gen_random_uuid(), 'x', 1, 1000, '{}', '{}', 1000)`,
      `SELECT * FROM strata.consumer_group_reset(${groupId}, 'start', NULL, NULL)`,
    ]
    for (const sql of attempts) {
      await expect(client.query(sql), sql).rejects.toMatchObject({ code: 'SX010' })
    }
    // A claim finds nothing of A's to lease (B's policies and A's messages' group).
    const claimed = await client
      .query(
        `SELECT * FROM strata.consumer_group_claim(${groupId}, gen_random_uuid(), gen_random_uuid(), 10, 1000, false, false, NULL, NULL)`,
      )
      .catch((e: { code?: string }) => ({ rows: [], code: e.code }))
    // (It may answer one row of nulls: no delivery.)
    expect(claimed.rows.filter((r: { position: unknown }) => r.position !== null)).toEqual([])
    // By name, B reaches its own group of that name only: deleting it leaves A's.
    await client.query(`SELECT strata.consumer_group_delete('group_a_${suffix}')`)
    const left = await db.pool.query<{ tenant_id: string }>(
      `SELECT tenant_id FROM strata.consumer_groups WHERE name = $1`,
      [`group_a_${suffix}`],
    )
    expect(left.rows).toEqual([{ tenant_id: 'tenant-a' }])
  })

  it('projections: B’s runner folds B’s events only; A’s projection name is refused to B', async () => {
    const account = `account-${randomUUID()}`
    await a.appendToStream(account, [{ type: 'Opened', data: { owner: 'ada' } }])
    const bAccount = `account-${randomUUID()}`
    await b.appendToStream(bAccount, [
      { type: 'Opened', data: { owner: 'bob' } },
      { type: 'Deposited', data: { amount: 4 } },
    ])
    const name = `tb_balances_${suffix}`
    const runner = b.runProjection(balances(1, { name }), { pollIntervalMs: 50 })
    try {
      await waitFor(
        async () =>
          (await readBalances(b, name).catch(() => new Map())).get(bAccount)?.balance === 4,
        { message: 'B’s projection caught up' },
      )
    } finally {
      await runner.stop()
    }
    expect([...(await readBalances(b, name)).keys()]).toEqual([bAccount])
    expect((await a.projectionStatus(name)).length).toBe(0)
    expect((await b.projectionStatus(name)).length).toBe(1)
    const stolen = a.runProjection(balances(1, { name }), { pollIntervalMs: 50 })
    const failure = await stolen.done.catch((e: unknown) => e)
    expect((failure as { cause?: unknown }).cause).toBeInstanceOf(TenantConflictError)
  })

  it('load() of an aggregate sees the tenant’s stream only', async () => {
    const account = bankAccount()
    const id = randomUUID()
    const openedA = await a.handle(account, id, {
      type: 'Open',
      data: { owner: 'ada', overdraftLimit: 0 },
    })
    expect(openedA.version).toBe(1n)
    const loadedByB = await b.load(account, id)
    expect(loadedByB.version).toBe(0n)
    expect(loadedByB.state.status).toBe('new')
    // B deciding on it would write into A's stream: refused.
    await expect(
      b.handle(account, id, { type: 'Open', data: { owner: 'eve', overdraftLimit: 0 } }),
    ).rejects.toBeInstanceOf(TenantConflictError)
    expect((await a.load(account, id)).state.owner).toBe('ada')
  })

  it('checkpoint names are per tenant: A’s is neither visible to nor writable by B', async () => {
    await a.checkpoints.save(`cp_${suffix}`, 5n)
    expect(await b.checkpoints.load(`cp_${suffix}`)).toBeNull()
    await b.checkpoints.save(`cp_${suffix}`, 9n)
    expect(await b.checkpoints.load(`cp_${suffix}`)).toBe(9n)
    expect(await a.checkpoints.load(`cp_${suffix}`)).toBe(5n)
    await b.checkpoints.delete(`cp_${suffix}`)
    expect(await a.checkpoints.load(`cp_${suffix}`)).toBe(5n)
    expect((await b.checkpoints.list()).map((c) => c.name)).not.toContain(`cp_${suffix}`)
  })
})

describe('writes stay within the tenant', () => {
  it('B cannot append to A’s stream, set its metadata, delete it or snapshot it', async () => {
    const conflict = await b
      .appendToStream(aStream, [{ type: 'Deposited', data: { amount: 100 } }])
      .catch((e: unknown) => e)
    expect(conflict).toBeInstanceOf(TenantConflictError)
    expect(conflict).toMatchObject({ tenant: 'tenant-b', kind: 'stream', taken: aStream })
    await expect(
      b.appendToStreams([
        { streamId: `${category}-b-other`, events: [{ type: 'Deposited', data: { amount: 1 } }] },
        { streamId: aStream, events: [{ type: 'Deposited', data: { amount: 1 } }] },
      ]),
    ).rejects.toBeInstanceOf(TenantConflictError)
    await expect(b.setStreamMetadata(aStream, { maxCount: 1 })).rejects.toBeInstanceOf(
      TenantConflictError,
    )
    await expect(b.deleteStream(aStream)).rejects.toBeInstanceOf(TenantConflictError)
    await expect(b.tombstoneStream(aStream)).rejects.toBeInstanceOf(TenantConflictError)
    // With an expected version too: the conflict, not A's version.
    await expect(b.deleteStream(aStream, { expectedVersion: 1n })).rejects.toBeInstanceOf(
      TenantConflictError,
    )
    // Nothing of it reached A's stream, nor B's other stream (the multi-stream append is atomic).
    expect(
      (await a.readStream(aStream)).every((e) => (e.data as { amount: number }).amount === 1),
    ).toBe(true)
    expect((await a.getStreamInfo(aStream)).deleted).toBe('no')
    expect(await b.readStream(`${category}-b-other`)).toEqual([])
  })

  it('an event id A already appended is not B’s idempotent retry (task queues’ dedupKey)', async () => {
    const id = randomUUID()
    const stream = `${category}-shared-id`
    await a.appendToStream(stream, [{ id, type: 'Deposited', data: { amount: 1 } }])
    const again = await b
      .appendToStream(stream, [{ id, type: 'Deposited', data: { amount: 1 } }])
      .catch((e: unknown) => e)
    expect(again).toBeInstanceOf(TenantConflictError)
    const aQueue = a.queue(`jobs_${suffix}`)
    const bQueue = b.queue(`jobs_${suffix}`)
    await aQueue.send({ n: 1 }, { dedupKey: 'nightly' })
    // A dedupKey is an event id: A's is refused to B (it names only the id), never dropped.
    await expect(bQueue.send({ n: 2 }, { dedupKey: 'nightly' })).rejects.toBeInstanceOf(
      DuplicateEventError,
    )
    // Without a dedupKey the queue of the same name is B's own.
    await bQueue.send({ n: 3 })
  })

  it('appends inside a caller’s transaction are stamped with the store’s tenant', async () => {
    const client = await b.pool.connect()
    const id = `${category}-b-tx-${randomUUID()}`
    try {
      await client.query('BEGIN')
      await b.appendToStream(id, [{ type: 'Deposited', data: { amount: 3 } }], {
        transaction: client,
      })
      await client.query('COMMIT')
    } finally {
      client.release()
    }
    expect((await b.readStream(id)).length).toBe(1)
    expect(await a.readStream(id)).toEqual([])
    const { rows } = await db.pool.query<{ tenant_id: string }>(
      'SELECT tenant_id FROM strata.events WHERE stream_id = $1',
      [id],
    )
    expect(rows).toEqual([{ tenant_id: 'tenant-b' }])
  })
})

describe('raw SQL as the runtime role', () => {
  it('with strata.tenant set to A sees only A’s rows', async () => {
    const client = await connectAs(role)
    await client.query('BEGIN')
    await client.query(`SELECT set_config('strata.tenant', 'tenant-a', true)`)
    const tables = [
      'events',
      'streams',
      'snapshots',
      'checkpoints',
      'consumer_groups',
      'projections',
    ]
    for (const table of tables) {
      const { rows } = await client.query<{ tenant_id: string }>(
        `SELECT DISTINCT tenant_id FROM strata.${table}`,
      )
      expect(
        rows.every((r) => r.tenant_id === 'tenant-a'),
        table,
      ).toBe(true)
    }
    const { rows } = await client.query<{ stream_id: string }>(
      `SELECT DISTINCT stream_id FROM strata.events WHERE stream_id LIKE $1`,
      [`${category}-%`],
    )
    expect(rows.map((r) => r.stream_id)).toContain(aStream)
    expect(rows.filter((r) => r.stream_id.startsWith(`${category}-b`))).toEqual([])
    await client.query('COMMIT')
  })

  it('without strata.tenant is refused (SX011), and cannot append', async () => {
    const client = await connectAs(role)
    await expect(client.query('SELECT * FROM strata.events')).rejects.toMatchObject({
      code: 'SX011',
    })
    await expect(
      client.query(
        `SELECT * FROM strata.append_events(ARRAY['${category}-raw'], ARRAY['any'], ARRAY[0::bigint], ARRAY[1],
           ARRAY[false], ARRAY[gen_random_uuid()], ARRAY['T'], ARRAY['{}'::jsonb], ARRAY['{}'::jsonb], ARRAY[1], true)`,
      ),
    ).rejects.toMatchObject({ code: 'SX011' })
  })
})

describe('a store and its schema must agree about tenants', () => {
  it('a store without a tenant on a tenant schema is refused with TenantRequiredError', async () => {
    const store = tenantStore(undefined)
    const error = await store.readAll().catch((e: unknown) => e)
    expect(error).toBeInstanceOf(TenantRequiredError)
    expect(error).toMatchObject({ schema: 'strata', tenant: undefined })
  })

  it('the owner’s own store needs no tenant: it sees every tenant, and the rows from before', async () => {
    const admin = createEventStore({ connectionString: db.url }, {})
    opened.push(admin)
    const ids = new Set<string>()
    for (let after = 0n; ;) {
      const page = await admin.readAll({ after })
      for (const e of page.events) ids.add(e.id)
      after = page.lastPosition
      if (page.isEnd) break
    }
    for (const id of [...aIds, ...bIds]) expect(ids.has(id)).toBe(true)
    // The event appended before enable_tenants() stays tenant '': the owner's only.
    expect((await admin.readStream(`${category}-before`)).length).toBe(1)
    expect(await a.readStream(`${category}-before`)).toEqual([])
  })

  it('enable_tenants(tenant) gives the rows written so far to that tenant', async () => {
    const old = await db.store({ schema: 'legacy_store' })
    await old.appendToStream(`${category}-old`, [{ type: 'Opened', data: { owner: 'o' } }])
    await old.checkpoints.save(`cp_old_${suffix}`, 1n)
    await db.query(`SELECT legacy_store.enable_tenants('legacy')`)
    await db.query(runtimeGrantsSql('legacy_store', role))
    const legacy = tenantStore('legacy', 'legacy_store')
    expect((await legacy.readStream(`${category}-old`)).length).toBe(1)
    expect(await legacy.checkpoints.load(`cp_old_${suffix}`)).toBe(1n)
    expect(await tenantStore('other', 'legacy_store').readStream(`${category}-old`)).toEqual([])
    // The immutability trigger is back on after the stamping.
    await expect(db.query(`UPDATE legacy_store.events SET data = '{}'`)).rejects.toMatchObject({
      code: 'SX004',
    })
  })

  it('a store with a tenant on a schema without tenants is refused too', async () => {
    const plain = await db.store({ schema: 'plain_store' })
    await db.query(runtimeGrantsSql('plain_store', role))
    const store = tenantStore('tenant-a', 'plain_store')
    await expect(
      store.appendToStream(`${category}-x`, [{ type: 'Opened', data: { owner: 'x' } }]),
    ).rejects.toBeInstanceOf(TenantRequiredError)
    // The tenant-less store on it works as ever.
    await plain.appendToStream(`${category}-x`, [{ type: 'Opened', data: { owner: 'x' } }])
    expect((await plain.readStream(`${category}-x`)).length).toBe(1)
  })

  it('refuses a tenant id that is not a plain name', () => {
    expect(() => tenantStore("a'; DROP TABLE x; --")).toThrow(/tenant/)
    expect(() => tenantStore('')).toThrow(/tenant/)
  })
})

describe('through PgBouncer in transaction mode, on one server connection', () => {
  let bouncer: PgBouncerServer | undefined
  afterAll(async () => {
    await bouncer?.stop()
  })

  it('two tenants taking turns on the same server connection never see each other', async () => {
    // One server connection for the role: every transaction of A and B runs on it in turn, so a
    // setting that outlived its transaction would show B's rows to A.
    bouncer = await startPgBouncer(inject('serverUrl'), {
      users: [role],
      poolSize: 1,
    })
    const url = new URL(databaseUrl(bouncer.url, db.name))
    url.username = role
    const viaA = tenantStore('tenant-a', 'strata', url.toString())
    const viaB = tenantStore('tenant-b', 'strata', url.toString())
    const rounds = 20
    await Promise.all(
      [viaA, viaB].map(async (store, i) => {
        for (let n = 0; n < rounds; n++) {
          await store.appendToStream(`${category}-pgb-${i}`, [
            { type: 'Deposited', data: { amount: n } },
          ])
          const page = await store.readAll({ after: 0n, limit: 1000 })
          expect(page.events.every((e) => e.streamId !== `${category}-pgb-${1 - i}`)).toBe(true)
        }
      }),
    )
    expect((await viaA.readStream(`${category}-pgb-0`)).length).toBe(rounds)
    expect(await viaA.readStream(`${category}-pgb-1`)).toEqual([])
    expect(await viaB.readStream(`${category}-pgb-0`)).toEqual([])
    const ids = await allIds(viaB)
    expect([...ids].filter((id) => aIds.includes(id))).toEqual([])
    await expect(
      viaB.appendToStream(`${category}-pgb-0`, [{ type: 'Deposited', data: { amount: 1 } }]),
    ).rejects.toBeInstanceOf(TenantConflictError)
  })
})
