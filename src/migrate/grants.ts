import { ConfigError } from '../errors.js'
import { quoteIdent } from '../db/index.js'

const ROLE = /^[A-Za-z_][A-Za-z0-9_$]{0,62}$/

/**
 * The privileges of a runtime role: it can append, read, subscribe, checkpoint, run consumers
 * and projection runners' bookkeeping, but cannot run DDL (no CREATE on the schema; migrations
 * need the owner) and cannot UPDATE, DELETE or TRUNCATE events (scavenge needs the owner too).
 * The immutability trigger refuses those anyway; the grants make it two locks.
 *
 * Run it as the schema owner after `migrate`, and again after later migrations add tables.
 * @throws ConfigError for a role name that is not a plain identifier.
 */
export function runtimeGrantsSql(schema: string, role: string): string {
  if (!ROLE.test(role))
    throw new ConfigError('role', role, 'must be a plain identifier (letters, digits, _ and $)')
  const s = quoteIdent(schema)
  const r = quoteIdent(role)
  return `-- strata runtime role ${role} on schema ${schema}
GRANT USAGE ON SCHEMA ${s} TO ${r};
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA ${s} TO ${r};
REVOKE UPDATE, DELETE, TRUNCATE ON ${s}.events FROM ${r};
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON ${s}.schema_migrations FROM ${r};
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA ${s} TO ${r};
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA ${s} TO ${r};
`
}
