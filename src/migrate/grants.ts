import { ConfigError } from '../errors.js'
import { checkSchemaName, quoteIdent } from '../db/index.js'

const ROLE = /^[A-Za-z_][A-Za-z0-9_$]{0,62}$/

/**
 * The privileges of a runtime role: it can append, read, subscribe, checkpoint, run consumer
 * groups, projection runners and relays, and write snapshots, but every write goes through the
 * store's SECURITY DEFINER functions (migrations/0011): it gets SELECT on the tables readers need
 * and EXECUTE on the functions, and no INSERT, UPDATE, DELETE or TRUNCATE on any table. So it
 * cannot forge, back-date, reorder or delete events, undo a delete or a tombstone, or move a
 * version floor; it cannot run DDL (no CREATE on the schema), scavenge or migrate, and it holds
 * nothing on another schema's store, and cannot turn tenants on (enable_tenants) or partition
 * and archive events; it reads events only through the events table, never a partition or an
 * archived one. The immutability trigger refuses updates and deletes of events anyway; the
 * grants make it two locks.
 *
 * Run it as the schema owner after `migrate`, and again after later migrations add tables or
 * functions. It starts by revoking what earlier versions granted (table writes, sequences).
 * @throws ConfigError for a role name that is not a plain identifier.
 */
export function runtimeGrantsSql(schema: string, role: string): string {
  if (!ROLE.test(role))
    throw new ConfigError('role', role, 'must be a plain identifier (letters, digits, _ and $)')
  const s = quoteIdent(checkSchemaName(schema))
  const r = quoteIdent(role)
  return `-- strata runtime role ${role} on schema ${schema}
GRANT USAGE ON SCHEMA ${s} TO ${r};
REVOKE ALL ON ALL TABLES IN SCHEMA ${s} FROM ${r};
REVOKE ALL ON ALL SEQUENCES IN SCHEMA ${s} FROM ${r};
GRANT SELECT ON ALL TABLES IN SCHEMA ${s} TO ${r};
REVOKE SELECT ON ${s}.stream_locks, ${s}.scavenge_permits,
  ${s}.consumer_group_claim_locks FROM ${r};
GRANT SELECT ON ${s}.events_position_seq TO ${r};
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA ${s} TO ${r};
REVOKE EXECUTE ON FUNCTION ${s}.scavenge_batch(int) FROM ${r};
REVOKE EXECUTE ON FUNCTION ${s}.enable_tenants(text) FROM ${r};
REVOKE SELECT ON ${s}.event_ids FROM ${r};
REVOKE EXECUTE ON FUNCTION ${s}.enable_event_partitioning(bigint, int), ${s}.create_event_partitions(int, int),
  ${s}.create_event_partition(text, bigint, bigint), ${s}.archive_event_partition(text, boolean),
  ${s}.archive_event_partition_done(text, boolean) FROM ${r};
-- Partitions of events, attached or archived, are read through events only (row-level security
-- of a tenant store is the parent's).
DO $$
DECLARE
  v_table regclass;
BEGIN
  FOR v_table IN SELECT i.inhrelid::regclass FROM pg_inherits i
                  WHERE i.inhparent = to_regclass('${s}.events')
                 UNION ALL
                 SELECT to_regclass(format('%I.%I', '${schema}', a.partition_name)) FROM ${s}.event_archive a
                  WHERE a.state = 'detached'
  LOOP
    IF v_table IS NOT NULL THEN
      EXECUTE format('REVOKE ALL ON %s FROM %I', v_table, '${role}');
    END IF;
  END LOOP;
END
$$;
`
}
