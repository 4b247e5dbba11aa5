-- Tenants (issue 13; docs/tenants.md, docs/guarantees.md "Tenants").
-- Runs with search_path set to the store's schema; nothing here names the schema.
--
-- Opt-in, in two steps, so a store that never uses tenants pays nothing:
-- * This file adds a tenant_id column (text, '' for every existing and tenant-less row; no table
--   rewrite: a constant default) to the tables that hold a tenant's data or names, puts it in
--   the keys of group and checkpoint names (small tables), and adds the functions below. On a
--   tenant-less store the column is read only by the functions replaced at the end (consumer
--   group admission, creation and lookups by name, checkpoints), one comparison each.
-- * enable_tenants(), run once by the schema owner, turns the schema into a tenant store: new
--   rows take their tenant from the transaction's setting strata.tenant (a column default),
--   row-level security limits every read of the runtime role to its tenant, statement triggers
--   check every write (all writes run as the owner inside SECURITY DEFINER functions since 0011,
--   where row-level security does not apply) and (tenant_id, position) indexes $all per tenant.
--
-- Consumer-group and checkpoint names are per tenant (their keys include tenant_id). Stream ids,
-- projection and relay names are global across the tenants of a schema in this version: one
-- another tenant uses is refused (SX010), never shared or overwritten.

ALTER TABLE events ADD COLUMN tenant_id text NOT NULL DEFAULT '';
ALTER TABLE streams ADD COLUMN tenant_id text NOT NULL DEFAULT '';
ALTER TABLE snapshots ADD COLUMN tenant_id text NOT NULL DEFAULT '';
ALTER TABLE checkpoints ADD COLUMN tenant_id text NOT NULL DEFAULT '';
ALTER TABLE consumer_groups ADD COLUMN tenant_id text NOT NULL DEFAULT '';
ALTER TABLE projections ADD COLUMN tenant_id text NOT NULL DEFAULT '';
ALTER TABLE relays ADD COLUMN tenant_id text NOT NULL DEFAULT '';

-- Names per tenant: '' for every row of a tenant-less store, so its keys keep meaning the same.
ALTER TABLE consumer_groups DROP CONSTRAINT consumer_groups_name_key,
  ADD CONSTRAINT consumer_groups_name_key UNIQUE (name, tenant_id);
ALTER TABLE checkpoints DROP CONSTRAINT checkpoints_pkey,
  ADD CONSTRAINT checkpoints_pkey PRIMARY KEY (name, tenant_id);

-- The tenant of the caller's transaction, for row-level security: raises when none is set, so a
-- runtime connection that forgot its tenant is told so instead of reading an empty store.
-- Policies call it only when the setting is missing, as (SELECT tenant_required()): once per
-- query, not per row.
CREATE FUNCTION tenant_required() RETURNS text
LANGUAGE plpgsql STABLE SET search_path FROM CURRENT AS $$
DECLARE
  v text := current_setting('strata.tenant', true);
BEGIN
  IF v IS NULL OR v = '' THEN
    RAISE EXCEPTION 'strata.tenant is not set: schema % keeps tenants apart', current_schema()
      USING ERRCODE = 'SX011',
            HINT = 'give the store a tenant, or run set_config(''strata.tenant'', <tenant>, true) in the transaction';
  END IF;
  RETURN v;
END
$$;

-- Whether the session may act without a tenant on a tenant store: the schema owner (or a
-- superuser) connected as itself, for scavenge, migrations and administration. session_user,
-- not current_user: inside the owner's SECURITY DEFINER functions current_user is the owner.
CREATE FUNCTION tenant_admin() RETURNS boolean
LANGUAGE sql STABLE SET search_path FROM CURRENT AS $$
  SELECT COALESCE(current_setting('strata.tenant', true), '') = ''
     AND EXISTS (SELECT 1 FROM pg_roles r, pg_namespace n
                  WHERE r.rolname = session_user AND n.nspname = current_schema()
                    AND (r.rolsuper OR pg_has_role(r.oid, n.nspowner, 'MEMBER')))
$$;

-- The check of every write on a tenant store (statement triggers made by enable_tenants): every
-- row written, updated or deleted is the caller's tenant's, a stream keeps the tenant of its
-- first event or streams row, and the rows of a group or a projection are its tenant's.
CREATE FUNCTION tenant_guard() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
  v_tenant text := COALESCE(current_setting('strata.tenant', true), '');
  v_name   text;
BEGIN
  IF v_tenant = '' THEN
    IF tenant_admin() THEN
      RETURN NULL;
    END IF;
    PERFORM tenant_required();
  END IF;
  IF TG_TABLE_NAME IN ('consumer_group_messages', 'consumer_group_consumers', 'consumer_group_throttles') THEN
    IF TG_OP = 'INSERT' THEN
      SELECT g.name INTO v_name FROM (SELECT DISTINCT n.group_id FROM new_rows n) x
        JOIN consumer_groups g ON g.id = x.group_id WHERE g.tenant_id <> v_tenant LIMIT 1;
    ELSE
      SELECT g.name INTO v_name FROM (SELECT DISTINCT o.group_id FROM old_rows o) x
        JOIN consumer_groups g ON g.id = x.group_id WHERE g.tenant_id <> v_tenant LIMIT 1;
    END IF;
    IF v_name IS NOT NULL THEN
      RAISE EXCEPTION 'consumer group % belongs to another tenant', v_name
        USING ERRCODE = 'SX010', DETAIL = 'consumer group', HINT = v_name;
    END IF;
    RETURN NULL;
  END IF;
  IF TG_TABLE_NAME = 'projection_failures' THEN
    SELECT p.name INTO v_name FROM (SELECT DISTINCT n.name, n.version FROM new_rows n) x
      JOIN projections p ON p.name = x.name AND p.version = x.version
     WHERE p.tenant_id <> v_tenant LIMIT 1;
    IF v_name IS NOT NULL THEN
      RAISE EXCEPTION 'projection % belongs to another tenant', v_name
        USING ERRCODE = 'SX010', DETAIL = 'projection', HINT = v_name;
    END IF;
    RETURN NULL;
  END IF;
  -- Tables with their own tenant_id: the rows before (update, delete) and after (insert,
  -- update) must be the caller's.
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    SELECT o.tenant_id INTO v_name FROM old_rows o WHERE o.tenant_id <> v_tenant LIMIT 1;
  END IF;
  IF v_name IS NULL AND TG_OP IN ('INSERT', 'UPDATE') THEN
    SELECT n.tenant_id INTO v_name FROM new_rows n WHERE n.tenant_id <> v_tenant LIMIT 1;
  END IF;
  IF v_name IS NOT NULL THEN
    RAISE EXCEPTION '% row of another tenant', TG_TABLE_NAME
      USING ERRCODE = 'SX010', DETAIL = CASE TG_TABLE_NAME
              WHEN 'events' THEN 'stream' WHEN 'streams' THEN 'stream' WHEN 'snapshots' THEN 'stream'
              WHEN 'checkpoints' THEN 'checkpoint' WHEN 'consumer_groups' THEN 'consumer group'
              WHEN 'projections' THEN 'projection' ELSE 'relay' END;
  END IF;
  -- A stream id is global: new events, streams rows or snapshots must not join another tenant's
  -- stream. Every event of a stream has the tenant of its first (by induction on this check), so
  -- one event per stream is read, by the (stream_id, version) key.
  IF TG_OP = 'INSERT' AND TG_TABLE_NAME IN ('events', 'streams', 'snapshots') THEN
    SELECT x.stream_id INTO v_name FROM (SELECT DISTINCT n.stream_id FROM new_rows n) x
     WHERE (SELECT s.tenant_id FROM streams s WHERE s.stream_id = x.stream_id) <> v_tenant
        OR (SELECT e.tenant_id FROM events e WHERE e.stream_id = x.stream_id
             ORDER BY e.version LIMIT 1) <> v_tenant
     LIMIT 1;
    IF v_name IS NOT NULL THEN
      RAISE EXCEPTION 'stream % belongs to another tenant', v_name
        USING ERRCODE = 'SX010', DETAIL = 'stream', HINT = v_name;
    END IF;
  END IF;
  RETURN NULL;
END
$$;

-- Turns this schema into a tenant store (see the file header); run it as the schema owner, once
-- (running it again changes nothing). p_existing_tenant: the tenant the rows written so far
-- (tenant '') are given; without it they stay tenant '', which only the owner sees.
-- It takes the tables' locks and builds an index on events: run it in a quiet moment.
CREATE FUNCTION enable_tenants(p_existing_tenant text DEFAULT NULL) RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path FROM CURRENT AS $$
DECLARE
  v_table text;
  v_own   text[] := ARRAY['events', 'streams', 'snapshots', 'checkpoints', 'consumer_groups',
                          'projections', 'relays'];
BEGIN
  IF p_existing_tenant = '' THEN
    RAISE EXCEPTION 'enable_tenants: the tenant of existing rows must not be empty' USING ERRCODE = '22023';
  END IF;
  IF p_existing_tenant IS NOT NULL THEN
    -- Events are immutable; stamping their tenant is the one update the owner makes here.
    ALTER TABLE events DISABLE TRIGGER events_refuse_update;
    FOREACH v_table IN ARRAY v_own LOOP
      EXECUTE format('UPDATE %I SET tenant_id = $1 WHERE tenant_id = ''''', v_table) USING p_existing_tenant;
    END LOOP;
    ALTER TABLE events ENABLE TRIGGER events_refuse_update;
  END IF;
  FOREACH v_table IN ARRAY v_own LOOP
    EXECUTE format('ALTER TABLE %I ALTER COLUMN tenant_id SET DEFAULT COALESCE(current_setting(''strata.tenant'', true), '''')', v_table);
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', v_table);
    EXECUTE format('DROP POLICY IF EXISTS tenant_rows ON %I', v_table);
    -- The setting itself first: the planner folds it to the tenant's value when it estimates
    -- (a small tenant's $all reads the (tenant_id, position) index, not the whole log), and it
    -- is read once per scan as an index condition; tenant_required() runs only when it is unset.
    EXECUTE format('CREATE POLICY tenant_rows ON %I USING (tenant_id = COALESCE(NULLIF(current_setting(''strata.tenant'', true), ''''), (SELECT tenant_required())))', v_table);
  END LOOP;
  FOREACH v_table IN ARRAY ARRAY['consumer_group_messages', 'consumer_group_consumers',
                                 'consumer_group_throttles'] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', v_table);
    EXECUTE format('DROP POLICY IF EXISTS tenant_rows ON %I', v_table);
    -- The group's row is under its own policy: only the caller's tenant's groups match.
    EXECUTE format('CREATE POLICY tenant_rows ON %I USING (EXISTS (SELECT 1 FROM consumer_groups g WHERE g.id = group_id))', v_table);
  END LOOP;
  ALTER TABLE projection_failures ENABLE ROW LEVEL SECURITY;
  DROP POLICY IF EXISTS tenant_rows ON projection_failures;
  CREATE POLICY tenant_rows ON projection_failures USING (EXISTS (
    SELECT 1 FROM projections p WHERE p.name = projection_failures.name AND p.version = projection_failures.version));

  FOREACH v_table IN ARRAY v_own || ARRAY['consumer_group_messages', 'consumer_group_consumers',
                                          'consumer_group_throttles', 'projection_failures'] LOOP
    EXECUTE format('CREATE OR REPLACE TRIGGER tenant_guard_insert AFTER INSERT ON %I REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION tenant_guard()', v_table);
    IF v_table NOT IN ('events', 'projection_failures') THEN
      -- Events are never updated and deleted only by scavenge (the owner); projection failures
      -- are only inserted by runtime roles.
      EXECUTE format('CREATE OR REPLACE TRIGGER tenant_guard_update AFTER UPDATE ON %I REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION tenant_guard()', v_table);
      EXECUTE format('CREATE OR REPLACE TRIGGER tenant_guard_delete AFTER DELETE ON %I REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION tenant_guard()', v_table);
    END IF;
  END LOOP;
  -- A tenant's $all: its positions in order without reading the other tenants'.
  CREATE INDEX IF NOT EXISTS events_tenant_position_idx ON events (tenant_id, position);
END
$$;
REVOKE ALL ON FUNCTION enable_tenants(text) FROM PUBLIC;

-- Admission (0008, 0011) reads the group's tenant's events only.
CREATE OR REPLACE FUNCTION consumer_group_admit(p_group_id int, p_window int, p_scan int, p_max_wait_ms int)
RETURNS TABLE (status text, admitted int, cursor_position bigint)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET plan_cache_mode = force_custom_plan
SET jit = off
SET enable_seqscan = off
SET search_path FROM CURRENT AS $$
#variable_conflict use_column
DECLARE
  g           consumer_groups%ROWTYPE;
  v_head      bigint;
  v_room      int;
  v_horizon   bigint;
  v_upto      bigint;
  v_read      int;
  v_last      bigint;
  v_admitted  int;
  v_cursor    bigint;
  v_hold      boolean;
  v_per_stream boolean;
BEGIN
  -- Admission commits without waiting for its WAL flush (see the file header): nothing a
  -- consumer relies on depends on it alone.
  PERFORM set_config('synchronous_commit', 'off', true);
  SELECT * INTO g FROM consumer_groups WHERE id = p_group_id;
  IF NOT FOUND THEN
    RETURN QUERY SELECT 'missing'::text, 0, NULL::bigint;
    RETURN;
  END IF;
  -- Another tenant's group: refused even when there is nothing to admit (no write to guard).
  IF g.tenant_id <> COALESCE(current_setting('strata.tenant', true), '') AND NOT tenant_admin() THEN
    RAISE EXCEPTION 'consumer group % belongs to another tenant', g.name
      USING ERRCODE = 'SX010', DETAIL = 'consumer group', HINT = g.name;
  END IF;
  SELECT CASE WHEN is_called THEN last_value ELSE 0 END INTO v_head FROM events_position_seq;
  IF v_head <= g.cursor_position THEN
    RETURN QUERY SELECT 'idle'::text, 0, g.cursor_position;
    RETURN;
  END IF;
  SELECT p_window - count(*) INTO v_room
    FROM (SELECT 1 FROM consumer_group_messages m
           WHERE m.group_id = p_group_id AND m.parked_at IS NULL AND m.available_at <= now()
           LIMIT p_window) w;
  IF v_room <= 0 THEN
    RETURN QUERY SELECT 'full'::text, 0, g.cursor_position;
    RETURN;
  END IF;

  -- Before the lock: waiting for appends in flight must not hold the group.
  v_horizon := safe_horizon(p_max_wait_ms);

  SELECT * INTO g FROM consumer_groups WHERE id = p_group_id FOR UPDATE SKIP LOCKED;
  IF NOT FOUND THEN
    RETURN QUERY SELECT 'busy'::text, 0, NULL::bigint;
    RETURN;
  END IF;
  v_upto := v_horizon;
  IF v_upto IS NULL OR v_upto <= g.cursor_position THEN
    -- The longest run of positions directly after the cursor: final without the horizon.
    SELECT max(c.position) INTO v_upto
      FROM (SELECT e.position, e.position - row_number() OVER (ORDER BY e.position) AS base
              FROM (SELECT e2.position FROM events e2 WHERE e2.position > g.cursor_position
                     ORDER BY e2.position LIMIT p_scan) e) c
     WHERE c.base = g.cursor_position;
    IF v_upto IS NULL THEN
      RETURN QUERY SELECT CASE WHEN v_horizon IS NULL THEN 'waiting' ELSE 'idle' END, 0,
                          g.cursor_position;
      RETURN;
    END IF;
    v_horizon := NULL; -- still held back beyond this run
  END IF;
  v_upto := LEAST(v_upto, g.cursor_position + p_scan);
  v_per_stream := g.strategy = 'per-stream';
  v_hold := v_per_stream AND g.hold_parked_streams;

  WITH batch AS (
    SELECT e.position, e.stream_id, e.created_at, e.metadata
      FROM events e
     WHERE e.position > g.cursor_position AND e.position <= v_upto
       -- The group's tenant only ('' for all rows of a tenant-less store). The run and the
       -- horizon above are over the global log: other tenants' positions are not gaps.
       AND e.tenant_id = g.tenant_id
       AND consumer_group_source_matches(g.source_category, g.source_event_types,
             g.source_stream_ids, g.source_stream_prefix, e.stream_id, e.type)
     ORDER BY e.position
     LIMIT v_room
  ), inserted AS (
    INSERT INTO consumer_group_messages (group_id, position, stream_id, per_stream, available_at)
    SELECT p_group_id, b.position, b.stream_id, v_per_stream,
           consumer_group_available_at(b.created_at, b.metadata)
      FROM batch b
     -- A stream held by a parked message admits nothing after it until the message is replayed
     -- or discarded (which admits what was held back, see consumer_group_unpark).
     WHERE NOT (v_hold AND EXISTS (
             SELECT 1 FROM consumer_group_messages p
              WHERE p.per_stream AND p.group_id = p_group_id AND p.stream_id = b.stream_id
                AND p.position < b.position AND p.parked_at IS NOT NULL))
     ORDER BY b.position
    ON CONFLICT ON CONSTRAINT consumer_group_messages_pkey DO NOTHING
    RETURNING 1
  )
  SELECT (SELECT count(*) FROM batch), (SELECT max(b.position) FROM batch b),
         (SELECT count(*) FROM inserted)
    INTO v_read, v_last, v_admitted;

  v_cursor := CASE WHEN v_read >= v_room THEN v_last ELSE v_upto END;
  UPDATE consumer_groups SET cursor_position = v_cursor WHERE id = p_group_id;
  RETURN QUERY SELECT CASE WHEN v_horizon IS NULL OR v_cursor < v_horizon THEN 'more'
                           ELSE 'admitted' END,
                      v_admitted, v_cursor;
END
$$;

-- A group (0003, 0011) is created for, and returned to, its own tenant only.
CREATE OR REPLACE FUNCTION consumer_group_ensure(
  p_name text, p_category text, p_event_types text[], p_stream_ids text[], p_stream_prefix text,
  p_strategy text, p_hold boolean, p_start text, p_start_position bigint, p_start_time timestamptz)
RETURNS SETOF consumer_groups
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
  v_tenant text := COALESCE(current_setting('strata.tenant', true), '');
BEGIN
  -- Group names are per tenant: the caller's tenant's group of that name ('' without tenants).
  RETURN QUERY SELECT * FROM consumer_groups g WHERE g.name = p_name AND g.tenant_id = v_tenant;
  IF FOUND THEN
    RETURN;
  END IF;
  INSERT INTO consumer_groups (name, source_category, source_event_types, source_stream_ids,
                               source_stream_prefix, strategy, hold_parked_streams, cursor_position)
  VALUES (p_name, p_category, p_event_types, p_stream_ids, p_stream_prefix, p_strategy, p_hold,
          consumer_group_start_cursor(p_start, p_start_position, p_start_time, p_category,
                                      p_event_types, p_stream_ids, p_stream_prefix))
  ON CONFLICT (name, tenant_id) DO NOTHING;
  RETURN QUERY SELECT * FROM consumer_groups g WHERE g.name = p_name AND g.tenant_id = v_tenant;
END
$$;

-- Row-level security calls it as the reader: every role may (it reveals nothing).
GRANT EXECUTE ON FUNCTION tenant_required() TO PUBLIC;

-- Checkpoints (0011) and groups by name (0011, 0012): the caller's tenant's of that name.
CREATE OR REPLACE FUNCTION checkpoint_save(p_name text, p_position bigint, p_force boolean) RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path FROM CURRENT AS $$
  INSERT INTO checkpoints AS c (name, position) VALUES (p_name, p_position)
  ON CONFLICT (name, tenant_id) DO UPDATE SET position = EXCLUDED.position, updated_at = clock_timestamp()
  WHERE p_force OR c.position < EXCLUDED.position
$$;

CREATE OR REPLACE FUNCTION checkpoint_delete(p_name text) RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path FROM CURRENT AS $$
  DELETE FROM checkpoints WHERE name = p_name AND tenant_id = COALESCE(current_setting('strata.tenant', true), '')
$$;

CREATE OR REPLACE FUNCTION consumer_group_delete(p_name text) RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
  v_id int;
BEGIN
  DELETE FROM consumer_groups g WHERE g.name = p_name
     AND g.tenant_id = COALESCE(current_setting('strata.tenant', true), '') RETURNING g.id INTO v_id;
  IF NOT FOUND THEN
    RETURN false;
  END IF;
  DELETE FROM consumer_group_messages m WHERE m.group_id = v_id;
  DELETE FROM consumer_group_consumers c WHERE c.group_id = v_id;
  DELETE FROM consumer_group_throttles t WHERE t.group_id = v_id;
  RETURN true;
END
$$;

CREATE OR REPLACE FUNCTION consumer_group_change_source(
  p_name text, p_category text, p_event_types text[], p_stream_ids text[], p_stream_prefix text)
RETURNS TABLE (old_category text, old_event_types text[], old_stream_ids text[],
               old_stream_prefix text, cursor_position bigint)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path FROM CURRENT AS $$
#variable_conflict use_column
DECLARE
  v_group consumer_groups%ROWTYPE;
BEGIN
  SELECT * INTO v_group FROM consumer_groups g WHERE g.name = p_name
     AND g.tenant_id = COALESCE(current_setting('strata.tenant', true), '') FOR UPDATE;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  UPDATE consumer_groups
     SET source_category = p_category, source_event_types = p_event_types,
         source_stream_ids = p_stream_ids, source_stream_prefix = p_stream_prefix
   WHERE id = v_group.id;
  RETURN QUERY SELECT v_group.source_category, v_group.source_event_types,
                      v_group.source_stream_ids, v_group.source_stream_prefix,
                      v_group.cursor_position;
END
$$;
