import pg from 'pg'
import { checkOptions, optionKeys } from '../config/index.js'
import { ConfigError } from '../errors.js'
import type { EventStoreOptions, StoreConnection } from './options.js'

/** Every key of createEventStore's options (unknown ones are refused). */
export const STORE_OPTIONS = optionKeys<EventStoreOptions>({
  schema: true,
  events: true,
  allowUnregisteredTypes: true,
  maxEventsPerAppend: true,
  maxAppendBytes: true,
  appendConcurrency: true,
  appendLockTimeoutMs: true,
  preparedStatements: true,
  notify: true,
  listen: true,
  onError: true,
  logger: true,
  telemetry: true,
  migrate: true,
  replicas: true,
  tenant: true,
})

/**
 * The store's pool: the caller's (`{ pool }`, which the caller ends) or one it opens from
 * `{ connectionString, max? }` (ended by close()).
 * @throws ConfigError for anything else.
 */
export function openPool(connection: StoreConnection): { pool: pg.Pool; owned: boolean } {
  if (typeof connection !== 'object' || connection === null) {
    throw new ConfigError('connection', connection, 'pass { connectionString } or { pool }')
  }
  checkOptions(
    connection as { connectionString?: string; max?: number; pool?: pg.Pool },
    ['connectionString', 'max', 'pool'],
    'a connection option (give { connectionString, max? } or { pool })',
    { errorClass: ConfigError, argument: 'connection' },
  )
  if ('pool' in connection && connection.pool !== undefined) {
    if (typeof (connection.pool as { connect?: unknown }).connect !== 'function') {
      throw new ConfigError('pool', connection.pool, 'must be a pg.Pool')
    }
    return { pool: connection.pool, owned: false }
  }
  if ('connectionString' in connection && typeof connection.connectionString === 'string') {
    const max = connection.max ?? 20
    if (!Number.isInteger(max) || max < 1)
      throw new ConfigError('max', max, 'must be a positive integer')
    const pool = new pg.Pool({ connectionString: connection.connectionString, max })
    // Idle clients that lose their server (restart, pg_terminate_backend) emit 'error' on the
    // pool; the pool drops them, and an unhandled 'error' would crash the process.
    pool.on('error', () => undefined)
    return { pool, owned: true }
  }
  throw new ConfigError('connection', connection, 'pass { connectionString } or { pool }')
}
