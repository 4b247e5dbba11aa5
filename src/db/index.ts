/** Postgres access shared by every layer: executors, identifiers, int8, errors, kysely. */
export { DedicatedConnection } from './dedicated-connection.js'
export {
  checkOut,
  clientExecutor,
  executorFor,
  inTransaction,
  type ExternalTransaction,
  type KyselyExecutorLike,
  type PgClientLike,
  type SqlExecutor,
} from './executor.js'
export { MAX_SCHEMA_NAME_LENGTH, checkSchemaName, perSchema, quoteIdent } from './identifiers.js'
export { int8ArrayLiteral, toBigInt, toBigIntOrNull, uuidArrayLiteral } from './int8.js'
export { preparedExecutor } from './prepared.js'
export { kyselyOn, kyselyOnPool, type UntypedDatabase } from './kysely.js'
export {
  STRATA_SQLSTATE,
  isDatabaseError,
  isTransientError,
  isUniqueViolation,
  mayHaveCommitted,
} from './pg-errors.js'
export {
  TENANT_OPTION,
  TENANT_SQLSTATE,
  checkTenant,
  inTenantTransaction,
  tenantOf,
  tenantOfConfig,
  tenantPool,
  tenantQuery,
} from './tenant-pool.js'
