-- Strangers and the runtime role (issue 22; docs/guarantees.md, "Strangers and roles").
-- Runs with search_path set to the store's schema; nothing here names the schema.
--
-- * Every write to the store's tables goes through a SECURITY DEFINER function owned by the
--   migrating role (the schema owner), with search_path fixed to the schema then pg_temp (a
--   session's temporary tables can never stand in for the store's), and its arguments checked
--   inside. The runtime role (src/migrate/grants.ts) gets EXECUTE on those and SELECT where
--   readers need it, and no INSERT, UPDATE, DELETE or TRUNCATE on any table: it cannot forge a
--   version, back-date or squat a position, undo a tombstone or move a version floor.
-- * Nobody but the owner can EXECUTE anything here unless granted (PUBLIC loses EXECUTE).
-- * The horizon: appenders announce themselves with a ROW EXCLUSIVE lock on append_gate, a table
--   nobody but the owner has any privilege on, instead of a shared advisory lock anyone could take
--   (a stranger holding the advisory key froze filtered reads and consumer groups; holding it
--   exclusively blocked every append). safe_horizon lists the holders of that lock mode on that
--   table.
-- * Stream locks: a row lock on one of 65536 rows of stream_locks (this schema's table, so
--   tenants never queue on each other; only the owner's functions can lock its rows), instead of
--   an advisory key without the schema that anyone could hold. Appends take a lock timeout.
--   Consumer-group claims with limits queue on a row of consumer_group_claim_locks likewise.
-- * Scavenge's exception to the immutability trigger is a row in scavenge_permits for the
--   transaction, written only by scavenge_batch, instead of a session setting any role could set.
-- * Roles granted EXECUTE on the old append_events (runtime roles) are moved to the new grants
--   here, so an upgrade does not stop them; running runtimeGrantsSql again gives the same.

DO $$
BEGIN
  EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC',
                 current_schema());
END
$$;

-- Appenders hold ROW EXCLUSIVE on this table from before they take positions until they end;
-- safe_horizon lists the holders. It has no rows and no grants: taking any lock on it needs a
-- privilege on it (LOCK TABLE checks before it locks) or naming it (USAGE on the schema).
CREATE TABLE append_gate ();
REVOKE ALL ON append_gate FROM PUBLIC;

-- One row per stream-lock slot; a stream's slot is hashtext(stream id) & 65535. Appends, deletes,
-- metadata and truncations lock the slot's row FOR UPDATE: two streams of one slot queue behind
-- each other, like a hash collision of the advisory keys before.
CREATE TABLE stream_locks (
  slot int NOT NULL,
  CONSTRAINT stream_locks_pkey PRIMARY KEY (slot)
);
INSERT INTO stream_locks (slot) SELECT generate_series(0, 65535);
REVOKE ALL ON stream_locks FROM PUBLIC;

-- Transactions allowed to delete events: only scavenge_batch writes here, for its own transaction.
CREATE TABLE scavenge_permits (
  xid xid8 NOT NULL,
  CONSTRAINT scavenge_permits_pkey PRIMARY KEY (xid)
);
REVOKE ALL ON scavenge_permits FROM PUBLIC;

-- Events are never updated; they are deleted only inside scavenge_batch. As the owner, so it can
-- read the permits whoever deletes.
CREATE OR REPLACE FUNCTION refuse_event_mutation() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
  IF TG_OP = 'DELETE' AND EXISTS (SELECT 1 FROM scavenge_permits p WHERE p.xid = pg_current_xact_id()) THEN
    RETURN OLD;
  END IF;
  RAISE EXCEPTION 'events are immutable: % on %.% refused', TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME
    USING ERRCODE = 'SX004', HINT = 'only scavenge may delete events';
END
$$;

CREATE OR REPLACE FUNCTION scavenge_batch(p_limit int)
RETURNS TABLE (stream_id text, deleted bigint)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
  IF p_limit IS NULL OR p_limit < 1 THEN
    RAISE EXCEPTION 'scavenge_batch: limit must be positive' USING ERRCODE = '22023';
  END IF;
  INSERT INTO scavenge_permits (xid) VALUES (pg_current_xact_id()) ON CONFLICT DO NOTHING;
  RETURN QUERY
  WITH doomed AS (
    SELECT e.position, e.stream_id, e.version FROM streams st
      JOIN events e ON e.stream_id = st.stream_id
     WHERE st.tombstoned_at IS NOT NULL
        OR (st.truncate_before IS NOT NULL AND e.version < st.truncate_before)
        OR (st.max_count IS NOT NULL
            AND e.version <= (SELECT max(m.version) FROM events m WHERE m.stream_id = st.stream_id) - st.max_count)
        OR (st.max_age_seconds IS NOT NULL
            AND e.created_at < now() - make_interval(secs => st.max_age_seconds))
     LIMIT p_limit
  ), floors AS (
    UPDATE streams st SET version = GREATEST(st.version, f.top)
      FROM (SELECT d.stream_id, max(m.version) AS top FROM (SELECT DISTINCT doomed.stream_id FROM doomed) d
              JOIN events m ON m.stream_id = d.stream_id GROUP BY d.stream_id) f
     WHERE st.stream_id = f.stream_id
  ), gone AS (
    DELETE FROM events e USING doomed d WHERE e.position = d.position RETURNING e.stream_id
  )
  SELECT g.stream_id, count(*) FROM gone g GROUP BY g.stream_id;
  DELETE FROM scavenge_permits p WHERE p.xid = pg_current_xact_id();
END
$$;

-- Locks one stream (see stream_locks) for a delete, a metadata change or a truncation.
CREATE OR REPLACE FUNCTION lock_stream(p_stream_id text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
  PERFORM 1 FROM stream_locks l WHERE l.slot = hashtext(p_stream_id) & 65535 FOR UPDATE;
END
$$;

-- Locks several streams in one order (by slot), so multi-stream lockers cannot deadlock.
CREATE OR REPLACE FUNCTION lock_streams(p_stream_ids text[]) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
  PERFORM 1 FROM stream_locks l
    WHERE l.slot = ANY (ARRAY(SELECT hashtext(u.id) & 65535 FROM unnest(p_stream_ids) AS u(id)))
    ORDER BY l.slot FOR UPDATE;
END
$$;

-- The roles granted EXECUTE on the old append_events (runtime roles, by runtimeGrantsSql): the
-- end of this file moves their grants to the new scheme, so an upgrade neither stops them nor
-- leaves them their table writes until the grants are run again.
SELECT set_config('strata.runtime_roles',
  (SELECT COALESCE(array_agg(DISTINCT a.grantee), '{}')::text
     FROM pg_proc p CROSS JOIN LATERAL aclexplode(p.proacl) AS a
    WHERE p.oid = 'append_events(text[], text[], bigint[], int[], boolean[], uuid[], text[], jsonb[], jsonb[], int[], boolean)'::regprocedure
      AND a.privilege_type = 'EXECUTE' AND a.grantee <> 0 AND a.grantee <> p.proowner),
  true);

DROP FUNCTION append_events(text[], text[], bigint[], int[], boolean[], uuid[], text[], jsonb[], jsonb[], int[], boolean);

-- append_events (0008) with the locks above, the caller's arguments checked, and
-- p_lock_timeout_ms: how long it may wait for a stream's lock (NULL or 0: no limit); a wait
-- beyond it raises 55P03 (lock_not_available). Callers of 0008 (eleven arguments) get no limit.
CREATE FUNCTION append_events(
  p_stream_ids text[],
  p_expected text[],
  p_expected_versions bigint[],
  p_counts int[],
  p_check_ids boolean[],
  p_ids uuid[],
  p_types text[],
  p_data jsonb[],
  p_metadata jsonb[],
  p_data_versions int[],
  p_atomic boolean,
  p_lock_timeout_ms int DEFAULT NULL
) RETURNS TABLE (status text, next_version bigint, last_position bigint, detail text)
LANGUAGE plpgsql VOLATILE
-- As the schema owner: the caller holds no write privilege on the tables (see the file header).
SECURITY DEFINER
-- Generic plans: custom plans look cheaper for small arrays, so without this every call would
-- plan every statement again.
SET plan_cache_mode = force_generic_plan
SET jit = off
-- The generic plan is made once per session, from the statistics of that moment: made while
-- events is empty it would scan the table on every later call. Lookups here are by key only.
SET enable_seqscan = off
SET enable_bitmapscan = off
-- Restored when the function returns, also after the set_config below: the caller's own
-- transaction keeps its lock_timeout.
SET lock_timeout = 0
SET search_path FROM CURRENT AS $$
DECLARE
  v_appends    int := cardinality(p_stream_ids);
  v_versions   bigint[];   -- each append's stream version before it (then after it, if ok)
  v_deleted    boolean[];
  v_tombstoned boolean[];
  v_status text[];
  v_detail text[];
  v_result_pos bigint[];
  v_result_ver bigint[];
  v_event_version bigint[];
  v_event_stream text[];
  v_positions  bigint[];
  v_i          int;
  v_j          int;
  v_from       int := 1;
  v_count      int;
  v_ok         boolean;
  v_known      int;
  v_matching   int;
  v_lo         bigint;
  v_hi         bigint;
  v_other      text;
  v_any_insert boolean := false;
  v_distinct   boolean;
  v_restarted text[];
  v_busy       int[];
  v_version    bigint;
  v_del        boolean;
  v_tomb       boolean;
  v_position   bigint;
BEGIN
  -- The caller is not trusted: arguments that do not describe whole appends are refused here
  -- rather than left to the table's constraints.
  -- (Two checks: the first is a simple expression, which PL/pgSQL evaluates without the
  -- executor; the second, with subqueries, runs for batches only.)
  IF v_appends IS NULL OR v_appends = 0 OR p_atomic IS NULL
     OR cardinality(p_expected) IS DISTINCT FROM v_appends
     OR cardinality(p_expected_versions) IS DISTINCT FROM v_appends
     OR cardinality(p_counts) IS DISTINCT FROM v_appends
     OR cardinality(p_check_ids) IS DISTINCT FROM v_appends
     OR cardinality(p_types) IS DISTINCT FROM cardinality(p_ids)
     OR cardinality(p_data) IS DISTINCT FROM cardinality(p_ids)
     OR cardinality(p_metadata) IS DISTINCT FROM cardinality(p_ids)
     OR cardinality(p_data_versions) IS DISTINCT FROM cardinality(p_ids)
     OR (v_appends = 1 AND (p_counts[1] IS DISTINCT FROM cardinality(p_ids)
                            OR p_check_ids[1] IS NULL OR p_stream_ids[1] IS NULL)) THEN
    RAISE EXCEPTION 'append_events: the arrays do not describe whole appends' USING ERRCODE = '22023';
  END IF;
  IF v_appends > 1 AND ((SELECT sum(c) FROM unnest(p_counts) AS u(c)) IS DISTINCT FROM cardinality(p_ids)
                        OR EXISTS (SELECT 1 FROM unnest(p_counts) AS u(c) WHERE c IS NULL OR c < 1)
                        OR array_position(p_check_ids, NULL) IS NOT NULL
                        OR array_position(p_stream_ids, NULL) IS NOT NULL) THEN
    RAISE EXCEPTION 'append_events: the arrays do not describe whole appends' USING ERRCODE = '22023';
  END IF;
  IF p_lock_timeout_ms IS NOT NULL AND p_lock_timeout_ms > 0 THEN
    PERFORM set_config('lock_timeout', p_lock_timeout_ms::text || 'ms', true);
  END IF;

  -- One append of new events (the common case): the same steps with scalars, a third cheaper.
  IF v_appends = 1 AND NOT p_check_ids[1] THEN
    IF p_atomic THEN
      PERFORM 1 FROM stream_locks l WHERE l.slot = hashtext(p_stream_ids[1]) & 65535 FOR UPDATE;
    ELSE
      PERFORM 1 FROM stream_locks l WHERE l.slot = hashtext(p_stream_ids[1]) & 65535
          FOR UPDATE SKIP LOCKED;
      IF NOT FOUND THEN
        status := 'busy';
        RETURN NEXT;
        RETURN;
      END IF;
    END IF;
    LOCK TABLE append_gate IN ROW EXCLUSIVE MODE;
    SELECT GREATEST(COALESCE((SELECT max(e.version) FROM events e WHERE e.stream_id = p_stream_ids[1]), 0),
                    COALESCE(st.version, 0)),
           st.deleted_at IS NOT NULL, st.tombstoned_at IS NOT NULL
      INTO v_version, v_del, v_tomb
      FROM (SELECT 1) AS one LEFT JOIN streams st ON st.stream_id = p_stream_ids[1];
    v_del := COALESCE(v_del, false);
    IF v_tomb THEN
      IF p_atomic THEN
        RAISE EXCEPTION 'append 1 to stream % failed: tombstoned', p_stream_ids[1] USING ERRCODE = 'SX003', HINT = '1';
      END IF;
      status := 'tombstoned';
      RETURN NEXT;
      RETURN;
    END IF;
    v_ok := expected_version_ok(p_expected[1], p_expected_versions[1], v_version, v_del);
    IF v_ok IS NULL THEN
      RAISE EXCEPTION 'unknown expected version kind %', p_expected[1] USING ERRCODE = '22023';
    END IF;
    IF NOT v_ok THEN
      IF p_atomic THEN
        RAISE EXCEPTION 'append 1 to stream % failed: wrong_expected_version', p_stream_ids[1] USING
          ERRCODE = 'SX001', DETAIL = v_version::text, HINT = '1';
      END IF;
      status := 'wrong_expected_version';
      detail := v_version::text;
      RETURN NEXT;
      RETURN;
    END IF;
    IF p_counts[1] = 1 THEN
      INSERT INTO events (stream_id, version, id, type, data, metadata, data_version, created_at)
      VALUES (p_stream_ids[1], v_version + 1, p_ids[1], p_types[1], p_data[1], p_metadata[1],
              p_data_versions[1], clock_timestamp())
      RETURNING position INTO v_position;
    ELSE
      INSERT INTO events (stream_id, version, id, type, data, metadata, data_version, created_at)
      SELECT p_stream_ids[1], v_version + ev.ord, p_ids[ev.ord], p_types[ev.ord], p_data[ev.ord],
             p_metadata[ev.ord], p_data_versions[ev.ord], clock_timestamp()
        FROM generate_series(1, p_counts[1]) AS ev(ord)
       ORDER BY ev.ord;
      v_position := currval('events_position_seq');
    END IF;
    IF v_del THEN
      UPDATE streams SET deleted_at = NULL, updated_at = clock_timestamp() WHERE stream_id = p_stream_ids[1];
    END IF;
    status := 'ok';
    next_version := v_version + p_counts[1];
    last_position := v_position;
    RETURN NEXT;
    RETURN;
  END IF;

  v_status := array_fill('ok'::text, ARRAY[v_appends]);
  v_detail := array_fill(NULL::text, ARRAY[v_appends]);
  v_result_pos := array_fill(NULL::bigint, ARRAY[v_appends]);
  v_result_ver := array_fill(NULL::bigint, ARRAY[v_appends]);
  v_event_version := array_fill(NULL::bigint, ARRAY[cardinality(p_ids)]);
  v_event_stream := array_fill(NULL::text, ARRAY[cardinality(p_ids)]);
  v_restarted := '{}';
  -- Batches of appends to distinct streams (the usual group commit) skip the search for an
  -- earlier append to the same stream, which is quadratic in the batch size.
  v_distinct := (SELECT count(DISTINCT u.id) FROM unnest(p_stream_ids) AS u(id)) = v_appends;

  IF p_atomic THEN
    -- Lock the streams in one order (by key): two such appends cannot deadlock.
    PERFORM 1 FROM stream_locks l
      WHERE l.slot = ANY (ARRAY(SELECT hashtext(u.id) & 65535 FROM unnest(p_stream_ids) AS u(id)))
      ORDER BY l.slot FOR UPDATE;
  ELSE
    -- A batch never waits for a stream: one locked elsewhere (a long transaction appending to
    -- it, say) is answered 'busy' and its appends are retried on their own, so it cannot hold
    -- back the other streams of the batch.
    WITH wanted AS (
      SELECT DISTINCT hashtext(u.id) & 65535 AS slot FROM unnest(p_stream_ids) AS u(id)
    ), locked AS (
      SELECT l.slot FROM stream_locks l WHERE l.slot = ANY (ARRAY(SELECT w.slot FROM wanted w))
         FOR UPDATE SKIP LOCKED
    )
    SELECT array_agg(w.slot) INTO v_busy
      FROM wanted w WHERE w.slot NOT IN (SELECT k.slot FROM locked k);
  END IF;
  -- Announce this appender before any position is handed out (see safe_horizon).
  LOCK TABLE append_gate IN ROW EXCLUSIVE MODE;

  -- State of every stream, read after the locks (a new statement, a new snapshot): it sees
  -- every earlier append to these streams.
  -- Correlated subqueries keep this an index probe per stream in any plan.
  -- (LATERAL: one probe of streams per stream, a nested loop in any plan.)
  SELECT array_agg(GREATEST(COALESCE((SELECT max(e.version) FROM events e WHERE e.stream_id = u.id), 0),
                            COALESCE(s.version, 0))
                   ORDER BY u.ord),
         array_agg(COALESCE(s.deleted, false) ORDER BY u.ord),
         array_agg(COALESCE(s.tombstoned, false) ORDER BY u.ord)
    INTO v_versions, v_deleted, v_tombstoned
    FROM unnest(p_stream_ids) WITH ORDINALITY AS u(id, ord)
    LEFT JOIN LATERAL (SELECT st.version, st.deleted_at IS NOT NULL AS deleted,
                              st.tombstoned_at IS NOT NULL AS tombstoned
                         FROM streams st WHERE st.stream_id = u.id) AS s ON true;

  FOR v_i IN 1 .. v_appends LOOP
    v_count := p_counts[v_i];
    IF v_busy IS NOT NULL AND hashtext(p_stream_ids[v_i]) & 65535 = ANY (v_busy) THEN
      v_status[v_i] := 'busy';
      v_from := v_from + v_count;
      CONTINUE;
    END IF;
    -- An earlier append of this batch to the same stream moves its state.
    FOR v_j IN REVERSE CASE WHEN v_distinct THEN 0 ELSE v_i - 1 END .. 1 LOOP
      IF p_stream_ids[v_j] = p_stream_ids[v_i] THEN
        v_versions[v_i] := v_versions[v_j] + CASE WHEN v_status[v_j] = 'ok' THEN p_counts[v_j] ELSE 0 END;
        v_deleted[v_i] := v_deleted[v_j] AND v_status[v_j] <> 'ok';
        EXIT;
      END IF;
    END LOOP;

    IF p_check_ids[v_i] THEN
      -- A retry of an append already stored: same ids, same stream, same order, same content.
      SELECT count(*),
             count(*) FILTER (WHERE e.stream_id = p_stream_ids[v_i] AND e.type = p_types[u.ord]
                                AND e.data = p_data[u.ord] AND e.metadata = p_metadata[u.ord]),
             min(e.version - u.ord), max(e.version - u.ord),
             min(e.stream_id) FILTER (WHERE e.stream_id <> p_stream_ids[v_i])
        INTO v_known, v_matching, v_lo, v_hi, v_other
        FROM generate_series(v_from, v_from + v_count - 1) AS u(ord)
        -- LIMIT 1 keeps this an index probe per id (events_id_key) in any plan, never a scan.
        CROSS JOIN LATERAL (SELECT * FROM events x WHERE x.id = p_ids[u.ord] LIMIT 1) AS e;
      IF v_known > 0 THEN
        IF v_known = v_count AND v_matching = v_count AND v_lo = v_hi THEN
          v_status[v_i] := 'retried';
          SELECT e.version, e.position INTO v_lo, v_hi
            FROM events e WHERE e.id = p_ids[v_from + v_count - 1];
          v_result_ver[v_i] := v_lo;
          v_result_pos[v_i] := v_hi;
        ELSE
          v_status[v_i] := 'duplicate';
          v_detail[v_i] := json_build_object(
            'eventId', (SELECT e.id FROM generate_series(v_from, v_from + v_count - 1) AS u(ord)
                          CROSS JOIN LATERAL (SELECT x.id FROM events x WHERE x.id = p_ids[u.ord] LIMIT 1) AS e
                          ORDER BY u.ord LIMIT 1),
            'existingStreamId', v_other,
            'reason', CASE
              WHEN v_other IS NOT NULL THEN 'the id belongs to an event of another stream'
              WHEN v_known <> v_count THEN 'only some of the appended ids are stored'
              WHEN v_matching <> v_count THEN 'the stored event has other content'
              ELSE 'the stored events are in another order' END)::text;
        END IF;
      END IF;
    END IF;

    IF v_status[v_i] = 'ok' AND v_tombstoned[v_i] THEN
      v_status[v_i] := 'tombstoned';
    END IF;
    IF v_status[v_i] = 'ok' THEN
      v_ok := expected_version_ok(p_expected[v_i], p_expected_versions[v_i], v_versions[v_i], v_deleted[v_i]);
      IF v_ok IS NULL THEN
        RAISE EXCEPTION 'unknown expected version kind %', p_expected[v_i] USING ERRCODE = '22023';
      END IF;
      IF NOT v_ok THEN
        v_status[v_i] := 'wrong_expected_version';
        v_detail[v_i] := v_versions[v_i]::text;
      END IF;
    END IF;

    IF v_status[v_i] = 'ok' THEN
      FOR v_j IN 1 .. v_count LOOP
        v_event_version[v_from + v_j - 1] := v_versions[v_i] + v_j;
        v_event_stream[v_from + v_j - 1] := p_stream_ids[v_i];
      END LOOP;
      v_result_ver[v_i] := v_versions[v_i] + v_count;
      v_any_insert := true;
      IF v_deleted[v_i] THEN
        v_restarted := v_restarted || p_stream_ids[v_i];
      END IF;
    ELSIF v_status[v_i] <> 'retried' AND p_atomic THEN
      RAISE EXCEPTION 'append % to stream % failed: %', v_i, p_stream_ids[v_i], v_status[v_i] USING
        ERRCODE = CASE v_status[v_i] WHEN 'wrong_expected_version' THEN 'SX001'
                                     WHEN 'duplicate' THEN 'SX002' ELSE 'SX003' END,
        DETAIL = COALESCE(v_detail[v_i], ''), HINT = v_i::text;
    END IF;
    v_from := v_from + v_count;
  END LOOP;

  IF v_any_insert THEN
    -- One insert for the whole batch, in event order, so positions follow it.
    WITH inserted AS (
      INSERT INTO events (stream_id, version, id, type, data, metadata, data_version, created_at)
      SELECT v_event_stream[ev.ord], v_event_version[ev.ord], p_ids[ev.ord], p_types[ev.ord],
             p_data[ev.ord], p_metadata[ev.ord], p_data_versions[ev.ord], clock_timestamp()
        FROM generate_series(1, cardinality(p_ids)) AS ev(ord)
       WHERE v_event_version[ev.ord] IS NOT NULL
       ORDER BY ev.ord
      RETURNING id, position
    )
    SELECT array_agg(i.position ORDER BY i.position) INTO v_positions FROM inserted i;
    -- Positions were taken in event order: the k-th inserted event has the k-th position.
    v_j := 0;
    FOR v_i IN 1 .. v_appends LOOP
      IF v_status[v_i] = 'ok' THEN
        v_j := v_j + p_counts[v_i];
        v_result_pos[v_i] := v_positions[v_j];
      END IF;
    END LOOP;
    IF cardinality(v_restarted) > 0 THEN
      UPDATE streams SET deleted_at = NULL, updated_at = clock_timestamp()
       WHERE stream_id = ANY (v_restarted);
    END IF;
  END IF;

  RETURN QUERY
    SELECT v_status[a.i], v_result_ver[a.i], v_result_pos[a.i], v_detail[a.i]
      FROM generate_series(1, v_appends) AS a(i);
END
$$;

-- The safe read horizon, as in 0001: the sequence is read first, then the appenders holding
-- ROW EXCLUSIVE on append_gate are listed (every appender takes it before its first nextval),
-- and H is final once every listed one has ended. Only the owner's functions can hold that lock
-- (see append_gate), so no other role can hold the horizon back.
-- Appenders that entered the append_events of 0008 before this migration committed announce
-- themselves with the old shared advisory lock; those are waited for too, but only when the
-- session's role may execute append_events, so a stranger holding that key is ignored.
CREATE OR REPLACE FUNCTION safe_horizon(p_max_wait_ms int) RETURNS bigint
LANGUAGE plpgsql VOLATILE SET search_path FROM CURRENT AS $$
DECLARE
  v_last     bigint;
  v_writers  text[];
  v_db       oid := (SELECT oid FROM pg_database WHERE datname = current_database());
  v_gate     oid := to_regclass(format('%I.append_gate', current_schema()));
  v_key      oid := append_lock_key()::oid;
  v_deadline timestamptz := clock_timestamp() + make_interval(secs => GREATEST(p_max_wait_ms, 0) / 1000.0);
BEGIN
  SELECT CASE WHEN is_called THEN last_value ELSE 0 END INTO v_last FROM events_position_seq;
  SELECT array_agg(l.virtualtransaction) INTO v_writers
    FROM pg_locks l
   WHERE l.pid IS DISTINCT FROM pg_backend_pid()
     AND ((l.locktype = 'relation' AND l.database = v_db AND l.relation = v_gate
           AND l.mode = 'RowExclusiveLock')
          OR (l.locktype = 'advisory' AND l.database = v_db AND l.classid = 1398034497::oid
              AND l.objid = v_key AND l.objsubid = 2
              AND EXISTS (SELECT 1 FROM pg_stat_activity a
                           WHERE a.pid = l.pid
                             AND has_function_privilege(a.usesysid,
                                   'append_events(text[], text[], bigint[], int[], boolean[], uuid[], text[], jsonb[], jsonb[], int[], boolean, int)'::regprocedure,
                                   'EXECUTE'))));
  IF v_writers IS NULL THEN
    RETURN v_last;
  END IF;
  LOOP
    IF clock_timestamp() >= v_deadline THEN
      RETURN NULL;
    END IF;
    PERFORM pg_sleep(0.001);
    PERFORM 1 FROM pg_locks l
     WHERE l.virtualtransaction = ANY (v_writers) AND l.database = v_db
       AND ((l.locktype = 'relation' AND l.relation = v_gate AND l.mode = 'RowExclusiveLock')
            OR (l.locktype = 'advisory' AND l.classid = 1398034497::oid AND l.objid = v_key
                AND l.objsubid = 2));
    IF NOT FOUND THEN
      RETURN v_last;
    END IF;
  END LOOP;
END
$$;


-- delete_stream (0005), run as the owner: its arguments are checked first (an unknown mode or
-- expected-version kind used to fall through to a soft delete without a version check).
CREATE OR REPLACE FUNCTION delete_stream(p_stream_id text, p_mode text, p_expected text, p_expected_version bigint)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SET search_path FROM CURRENT AS $$
DECLARE
  v_state record;
BEGIN
  IF p_stream_id IS NULL OR p_mode IS NULL OR p_mode NOT IN ('soft', 'tombstone')
     OR p_expected IS NULL OR p_expected NOT IN ('any', 'no_stream', 'stream_exists', 'exact')
     OR (p_expected = 'exact' AND (p_expected_version IS NULL OR p_expected_version < 0)) THEN
    RAISE EXCEPTION 'delete_stream: invalid arguments' USING ERRCODE = '22023';
  END IF;
  PERFORM lock_stream(p_stream_id);
  v_state := stream_state(p_stream_id);
  IF v_state.tombstoned THEN
    RAISE EXCEPTION 'stream % is tombstoned', p_stream_id USING ERRCODE = 'SX003';
  END IF;
  IF NOT expected_version_ok(p_expected, p_expected_version, v_state.version, v_state.deleted) THEN
    RAISE EXCEPTION 'wrong expected version for stream %', p_stream_id USING
      ERRCODE = 'SX001', DETAIL = v_state.version::text;
  END IF;
  IF p_mode = 'soft' AND v_state.version = 0 THEN
    RETURN 0; -- nothing to delete
  END IF;
  INSERT INTO streams AS s (stream_id, version, deleted_at, tombstoned_at, truncate_before, deleted_before)
  VALUES (p_stream_id, v_state.version, clock_timestamp(),
          CASE WHEN p_mode = 'tombstone' THEN clock_timestamp() END, v_state.version + 1,
          v_state.version + 1)
  ON CONFLICT (stream_id) DO UPDATE
    SET version = EXCLUDED.version, deleted_at = EXCLUDED.deleted_at,
        tombstoned_at = EXCLUDED.tombstoned_at,
        truncate_before = EXCLUDED.truncate_before,
        deleted_before = EXCLUDED.deleted_before,
        updated_at = clock_timestamp();
  RETURN v_state.version;
END
$$;

-- truncate_behind_snapshot (0004) writes streams under lock_stream too: as the owner (made
-- SECURITY DEFINER at the end of this file, with the other entry points).

-- Retention and custom metadata of a stream (the statement src/store/sql.ts sent before): under
-- the stream's lock, never below what a delete hid, nothing for a tombstoned stream (no row).
CREATE FUNCTION set_stream_metadata(p_stream_id text, p_max_count bigint, p_max_age_seconds bigint,
                                    p_truncate_before bigint, p_metadata jsonb)
RETURNS TABLE (stream_id text)
LANGUAGE sql VOLATILE SET search_path FROM CURRENT AS $$
  INSERT INTO streams AS t (stream_id, max_count, max_age_seconds, truncate_before, metadata)
  SELECT p_stream_id, p_max_count, p_max_age_seconds, p_truncate_before, p_metadata
    FROM (SELECT lock_stream(p_stream_id)) AS locked
  ON CONFLICT (stream_id) DO UPDATE
    SET max_count = EXCLUDED.max_count, max_age_seconds = EXCLUDED.max_age_seconds,
        truncate_before = NULLIF(GREATEST(COALESCE(EXCLUDED.truncate_before, 0),
                                          COALESCE(t.deleted_before, 0)), 0),
        metadata = EXCLUDED.metadata,
        updated_at = clock_timestamp()
  WHERE t.tombstoned_at IS NULL
  RETURNING t.stream_id
$$;

-- Checkpoints (src/subscriptions/sql.ts): never backwards unless forced.
CREATE FUNCTION checkpoint_save(p_name text, p_position bigint, p_force boolean) RETURNS void
LANGUAGE sql VOLATILE SET search_path FROM CURRENT AS $$
  INSERT INTO checkpoints AS c (name, position) VALUES (p_name, p_position)
  ON CONFLICT (name) DO UPDATE SET position = EXCLUDED.position, updated_at = clock_timestamp()
  WHERE p_force OR c.position < EXCLUDED.position
$$;

CREATE FUNCTION checkpoint_delete(p_name text) RETURNS void
LANGUAGE sql VOLATILE SET search_path FROM CURRENT AS $$
  DELETE FROM checkpoints WHERE name = p_name
$$;

-- A consumer leaving its group (src/consumers/sql.ts).
CREATE FUNCTION consumer_group_unregister(p_group_id int, p_consumer_id uuid) RETURNS void
LANGUAGE sql VOLATILE SET search_path FROM CURRENT AS $$
  DELETE FROM consumer_group_consumers WHERE group_id = p_group_id AND consumer_id = p_consumer_id
$$;

-- A snapshot and the pruning of the stream's older ones (src/snapshots/sql.ts explains the
-- rules). Never pins: only truncate_behind_snapshot does.
CREATE FUNCTION snapshot_write(p_stream_id text, p_aggregate text, p_stream_version bigint,
                               p_snapshot_version int, p_state jsonb, p_keep int, p_replace boolean)
RETURNS TABLE (written int, pruned int)
LANGUAGE sql VOLATILE SET search_path FROM CURRENT AS $$
  WITH written AS (
    INSERT INTO snapshots AS t (stream_id, aggregate, stream_version, snapshot_version, state)
    SELECT p_stream_id, p_aggregate, p_stream_version, p_snapshot_version, p_state
     WHERE p_replace OR NOT EXISTS (SELECT 1 FROM snapshots n
                        WHERE n.stream_id = p_stream_id AND n.aggregate = p_aggregate
                          AND n.snapshot_version = p_snapshot_version AND n.stream_version >= p_stream_version)
    ON CONFLICT ON CONSTRAINT snapshots_pkey DO UPDATE
      SET snapshot_version = EXCLUDED.snapshot_version, state = EXCLUDED.state,
          created_at = clock_timestamp()
    RETURNING t.stream_version
  ), kept AS (
    SELECT k.stream_version FROM snapshots k
     WHERE k.stream_id = p_stream_id AND k.aggregate = p_aggregate AND k.snapshot_version = p_snapshot_version
       AND k.stream_version < p_stream_version
     ORDER BY k.stream_version DESC LIMIT GREATEST(p_keep, 1) - 1
  ), pruned AS (
    DELETE FROM snapshots d
     WHERE d.stream_id = p_stream_id AND d.aggregate = p_aggregate AND NOT d.pinned
       AND d.stream_version <> p_stream_version
       AND EXISTS (SELECT 1 FROM written)
       AND (d.snapshot_version <> p_snapshot_version
            OR (d.stream_version < p_stream_version
                AND d.stream_version NOT IN (SELECT kept.stream_version FROM kept)))
    RETURNING 1
  )
  SELECT (SELECT count(*) FROM written)::int, (SELECT count(*) FROM pruned)::int
$$;

-- Projections' bookkeeping (src/projections/sql.ts has what each statement is for).
CREATE FUNCTION projection_register(p_name text, p_version int, p_inline boolean) RETURNS void
LANGUAGE sql VOLATILE SET search_path FROM CURRENT AS $$
  INSERT INTO projections AS p (name, version, inline) VALUES (p_name, p_version, p_inline)
  ON CONFLICT (name, version) DO UPDATE SET inline = true, updated_at = clock_timestamp()
  WHERE p_inline
$$;

CREATE FUNCTION projection_acquire_lease(p_name text, p_version int, p_owner text, p_lease_ms double precision)
RETURNS TABLE ("position" bigint, status text, paused boolean, started_from bigint)
LANGUAGE sql VOLATILE SET search_path FROM CURRENT AS $$
  UPDATE projections
     SET lease_owner = p_owner, lease_until = clock_timestamp() + p_lease_ms * interval '1 millisecond',
         inline = false, updated_at = clock_timestamp()
   WHERE name = p_name AND version = p_version AND status <> 'retired'
     AND (lease_owner IS NULL OR lease_owner = p_owner OR lease_until < clock_timestamp())
  RETURNING position, status, paused, started_from
$$;

CREATE FUNCTION projection_renew_lease(p_name text, p_version int, p_owner text, p_lease_ms double precision)
RETURNS TABLE ("position" bigint, status text, paused boolean)
LANGUAGE sql VOLATILE SET search_path FROM CURRENT AS $$
  UPDATE projections SET lease_until = clock_timestamp() + p_lease_ms * interval '1 millisecond'
   WHERE name = p_name AND version = p_version AND lease_owner = p_owner
  RETURNING position, status, paused
$$;

CREATE FUNCTION projection_release_lease(p_name text, p_version int, p_owner text) RETURNS void
LANGUAGE sql VOLATILE SET search_path FROM CURRENT AS $$
  UPDATE projections SET lease_owner = NULL, lease_until = NULL
   WHERE name = p_name AND version = p_version AND lease_owner = p_owner
$$;

-- Row locks for the caller's transaction (fencing; activation and reset).
CREATE FUNCTION projection_fence(p_name text, p_version int, p_owner text)
RETURNS TABLE ("position" bigint, status text, paused boolean)
LANGUAGE sql VOLATILE SET search_path FROM CURRENT AS $$
  SELECT position, status, paused FROM projections
   WHERE name = p_name AND version = p_version AND lease_owner = p_owner FOR UPDATE
$$;

CREATE FUNCTION projection_lock(p_name text) RETURNS TABLE (version int, status text)
LANGUAGE sql VOLATILE SET search_path FROM CURRENT AS $$
  SELECT version, status FROM projections WHERE name = p_name ORDER BY version FOR UPDATE
$$;

CREATE FUNCTION projection_advance(p_name text, p_version int, p_owner text, p_position bigint,
                                   p_lease_ms double precision) RETURNS void
LANGUAGE sql VOLATILE SET search_path FROM CURRENT AS $$
  UPDATE projections
     SET position = p_position, lease_until = clock_timestamp() + p_lease_ms * interval '1 millisecond',
         failed_position = NULL, failed_event_id = NULL, failed_error = NULL, failed_at = NULL,
         updated_at = clock_timestamp()
   WHERE name = p_name AND version = p_version AND lease_owner = p_owner
$$;

CREATE FUNCTION projection_record_failure(p_name text, p_version int, p_position bigint, p_event_id uuid,
                                          p_event_type text, p_error text, p_attempts int, p_skipped boolean)
RETURNS void
LANGUAGE sql VOLATILE SET search_path FROM CURRENT AS $$
  INSERT INTO projection_failures (name, version, position, event_id, event_type, error, attempts, skipped)
  VALUES (p_name, p_version, p_position, p_event_id, p_event_type, p_error, p_attempts, p_skipped)
  ON CONFLICT (name, version, position) DO UPDATE
    SET error = EXCLUDED.error, attempts = EXCLUDED.attempts, skipped = EXCLUDED.skipped,
        recorded_at = clock_timestamp()
$$;

CREATE FUNCTION projection_mark_stopped(p_name text, p_version int, p_position bigint, p_event_id uuid,
                                        p_error text) RETURNS void
LANGUAGE sql VOLATILE SET search_path FROM CURRENT AS $$
  UPDATE projections
     SET failed_position = p_position, failed_event_id = p_event_id, failed_error = p_error,
         failed_at = clock_timestamp(), updated_at = clock_timestamp()
   WHERE name = p_name AND version = p_version
$$;

-- 'active' (retiring the other active version), 'retired' or 'retire_others'.
CREATE FUNCTION projection_set_status(p_name text, p_version int, p_status text) RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path FROM CURRENT AS $$
BEGIN
  IF p_status = 'retire_others' THEN
    UPDATE projections SET status = 'retired', updated_at = clock_timestamp()
     WHERE name = p_name AND version <> p_version AND status = 'active';
  ELSIF p_status = 'retired' THEN
    UPDATE projections
       SET status = 'retired', lease_owner = NULL, lease_until = NULL, updated_at = clock_timestamp()
     WHERE name = p_name AND version = p_version;
  ELSIF p_status = 'active' THEN
    UPDATE projections
       SET status = 'active', activated_at = clock_timestamp(), updated_at = clock_timestamp()
     WHERE name = p_name AND version = p_version;
  ELSE
    RAISE EXCEPTION 'projection_set_status: unknown status %', p_status USING ERRCODE = '22023';
  END IF;
END
$$;

CREATE FUNCTION projection_set_paused(p_name text, p_version int, p_paused boolean)
RETURNS TABLE (version int)
LANGUAGE sql VOLATILE SET search_path FROM CURRENT AS $$
  UPDATE projections SET paused = p_paused, updated_at = clock_timestamp()
   WHERE name = p_name AND (p_version IS NULL OR version = p_version) AND status <> 'retired'
  RETURNING version
$$;

-- Restarts a version after p_position and forgets its failures.
CREATE FUNCTION projection_reset(p_name text, p_version int, p_position bigint)
RETURNS TABLE (status text)
LANGUAGE sql VOLATILE SET search_path FROM CURRENT AS $$
  DELETE FROM projection_failures WHERE name = p_name AND version = p_version;
  UPDATE projections
     SET position = p_position, started_from = p_position, failed_position = NULL,
         failed_event_id = NULL, failed_error = NULL, failed_at = NULL, updated_at = clock_timestamp()
   WHERE name = p_name AND version = p_version
  RETURNING status
$$;

-- Relays' leases and checkpoints (src/relay/sql.ts has what each statement is for).
CREATE FUNCTION relay_register(p_name text, p_target text, p_filter jsonb, p_position bigint) RETURNS void
LANGUAGE sql VOLATILE SET search_path FROM CURRENT AS $$
  INSERT INTO relays (name, target, filter, position) VALUES (p_name, p_target, p_filter, p_position)
  ON CONFLICT (name) DO NOTHING
$$;

CREATE FUNCTION relay_acquire_lease(p_name text, p_owner text, p_lease_ms double precision, p_filter jsonb)
RETURNS TABLE ("position" bigint, stream_sequence bigint)
LANGUAGE sql VOLATILE SET search_path FROM CURRENT AS $$
  UPDATE relays
     SET lease_owner = p_owner, lease_until = clock_timestamp() + p_lease_ms * interval '1 millisecond',
         filter = p_filter, updated_at = clock_timestamp()
   WHERE name = p_name AND (lease_owner IS NULL OR lease_owner = p_owner OR lease_until < clock_timestamp())
  RETURNING position, stream_sequence
$$;

CREATE FUNCTION relay_renew(p_name text, p_owner text, p_lease_ms double precision, p_position bigint,
                            p_sequence bigint)
RETURNS TABLE ("position" bigint)
LANGUAGE sql VOLATILE SET search_path FROM CURRENT AS $$
  UPDATE relays
     SET lease_until = clock_timestamp() + p_lease_ms * interval '1 millisecond',
         stream_sequence = CASE WHEN p_position > position THEN p_sequence ELSE stream_sequence END,
         published_at = CASE WHEN p_position > position THEN clock_timestamp() ELSE published_at END,
         position = GREATEST(position, p_position),
         updated_at = clock_timestamp()
   WHERE name = p_name AND lease_owner = p_owner
  RETURNING position
$$;

CREATE FUNCTION relay_reset_checkpoint(p_name text, p_owner text, p_position bigint, p_sequence bigint)
RETURNS TABLE ("position" bigint)
LANGUAGE sql VOLATILE SET search_path FROM CURRENT AS $$
  UPDATE relays SET position = p_position, stream_sequence = p_sequence, updated_at = clock_timestamp()
   WHERE name = p_name AND lease_owner = p_owner
  RETURNING position
$$;

CREATE FUNCTION relay_release_lease(p_name text, p_owner text) RETURNS void
LANGUAGE sql VOLATILE SET search_path FROM CURRENT AS $$
  UPDATE relays SET lease_owner = NULL, lease_until = NULL WHERE name = p_name AND lease_owner = p_owner
$$;

-- consumer_group_claim (0008) with its limits (maxInFlight, maxPerSecond) counted under a row
-- lock of this table instead of an advisory key: only the owner's functions can lock these rows,
-- and each schema has its own. A row per group that ever claimed with limits.
CREATE TABLE consumer_group_claim_locks (
  group_id int NOT NULL,
  CONSTRAINT consumer_group_claim_locks_pkey PRIMARY KEY (group_id)
);
REVOKE ALL ON consumer_group_claim_locks FROM PUBLIC;

CREATE OR REPLACE FUNCTION consumer_group_claim(
  p_group_id int, p_consumer_id uuid, p_token uuid, p_limit int, p_lease_ms int,
  p_per_stream boolean, p_hold boolean, p_max_in_flight int, p_per_second double precision)
RETURNS TABLE ("position" bigint, attempts int, last_error jsonb, stream_id text, version bigint,
               id uuid, type text, data jsonb, metadata jsonb, data_version int,
               created_at timestamptz, wait_ms double precision)
LANGUAGE plpgsql VOLATILE
SET plan_cache_mode = force_generic_plan
SET jit = off
SET enable_seqscan = off
SET enable_bitmapscan = off
SET enable_sort = off
SET search_path FROM CURRENT AS $$
#variable_conflict use_column
DECLARE
  v_limit     int := p_limit;
  v_claimed   int := 0;
  v_tokens    double precision;
  v_next      timestamptz;
  v_wait      double precision;
BEGIN
  IF p_max_in_flight IS NOT NULL OR p_per_second IS NOT NULL THEN
    -- The group's claims queue on its row of consumer_group_claim_locks (was an advisory key
    -- without the schema that any role could hold).
    INSERT INTO consumer_group_claim_locks (group_id) VALUES (p_group_id) ON CONFLICT DO NOTHING;
    PERFORM 1 FROM consumer_group_claim_locks c WHERE c.group_id = p_group_id FOR UPDATE;
    IF p_max_in_flight IS NOT NULL THEN
      v_limit := LEAST(v_limit, p_max_in_flight - (
        SELECT count(*) FROM consumer_group_messages m
         WHERE m.group_id = p_group_id AND m.parked_at IS NULL AND m.available_at <= now()
           AND m.lease_expires_at > now())::int);
    END IF;
    IF p_per_second IS NOT NULL THEN
      -- Refill at p_per_second, burst of one second's worth (at least one).
      INSERT INTO consumer_group_throttles AS t (group_id, tokens, refilled_at)
      VALUES (p_group_id, GREATEST(p_per_second, 1), clock_timestamp())
      ON CONFLICT ON CONSTRAINT consumer_group_throttles_pkey DO UPDATE
        SET tokens = LEAST(GREATEST(p_per_second, 1),
                           t.tokens + extract(epoch FROM clock_timestamp() - t.refilled_at) * p_per_second),
            refilled_at = clock_timestamp()
      RETURNING t.tokens INTO v_tokens;
      v_limit := LEAST(v_limit, floor(v_tokens)::int);
    END IF;
  END IF;

  IF v_limit > 0 THEN
    -- One statement: lock the deliverable rows (SKIP LOCKED), lease them, found again by their
    -- row ids (a locked row cannot move), and return each with its event, one row per message.
    RETURN QUERY
    WITH picked AS (
      SELECT m.ctid AS row_id
        FROM consumer_group_messages m
       WHERE m.group_id = p_group_id AND m.parked_at IS NULL AND m.available_at <= now()
         AND (m.lease_expires_at IS NULL OR m.lease_expires_at <= now())
         AND (NOT p_per_stream OR NOT EXISTS (
               SELECT 1 FROM consumer_group_messages o
                WHERE o.per_stream AND o.group_id = p_group_id AND o.stream_id = m.stream_id
                  AND o.position < m.position AND (p_hold OR o.parked_at IS NULL)))
       ORDER BY m.available_at
       LIMIT v_limit
         FOR UPDATE SKIP LOCKED
    ), leased AS (
      UPDATE consumer_group_messages m
         SET lease_token = p_token,
             lease_expires_at = now() + make_interval(secs => p_lease_ms / 1000.0),
             consumer_id = p_consumer_id,
             attempts = m.attempts + 1,
             delivered_at = now()
        FROM picked p
       WHERE m.ctid = p.row_id
      RETURNING m.position, m.attempts, m.last_error
    )
    SELECT l.position, l.attempts, l.last_error, e.stream_id, e.version, e.id, e.type, e.data,
           e.metadata, e.data_version, e.created_at, NULL::double precision
      FROM leased l
      -- LATERAL: one probe of the events' key per message, whatever the cached plan thought.
      LEFT JOIN LATERAL (SELECT x.stream_id, x.version, x.id, x.type, x.data, x.metadata,
                                x.data_version, x.created_at
                           FROM events x WHERE x.position = l.position) AS e ON true
     ORDER BY l.position;
    GET DIAGNOSTICS v_claimed = ROW_COUNT;
  END IF;

  IF p_per_second IS NOT NULL THEN
    UPDATE consumer_group_throttles t SET tokens = GREATEST(t.tokens - v_claimed, 0)
     WHERE t.group_id = p_group_id
    RETURNING t.tokens INTO v_tokens;
  END IF;

  IF v_claimed < p_limit THEN
    SELECT m.available_at INTO v_next
      FROM consumer_group_messages m
     WHERE m.group_id = p_group_id AND m.parked_at IS NULL AND m.available_at > now()
     ORDER BY m.available_at LIMIT 1;
    v_wait := extract(epoch FROM v_next - clock_timestamp()) * 1000;
    IF p_per_second IS NOT NULL AND v_tokens < 1 THEN
      v_wait := LEAST(COALESCE(v_wait, 'Infinity'), (1 - v_tokens) / p_per_second * 1000);
    END IF;
    RETURN QUERY SELECT NULL::bigint, NULL::int, NULL::jsonb, NULL::text, NULL::bigint, NULL::uuid,
                        NULL::text, NULL::jsonb, NULL::jsonb, NULL::int, NULL::timestamptz,
                        CASE WHEN v_wait IS NULL THEN NULL ELSE GREATEST(v_wait, 0) END;
  END IF;
END
$$;

-- Every function here that fixes its search_path fixes it to this schema then pg_temp (named
-- last, so a session's temporary table never shadows a store table); the entry points that
-- write run as the owner; and only roles granted EXECUTE may call anything.
DO $$
DECLARE
  v_schema text := current_schema();
  v_fn     regprocedure;
  v_role   name;
BEGIN
  FOR v_fn IN SELECT p.oid::regprocedure FROM pg_proc p
               WHERE p.pronamespace = v_schema::regnamespace
                 AND EXISTS (SELECT 1 FROM unnest(p.proconfig) AS c(setting) WHERE c.setting LIKE 'search_path=%')
  LOOP
    EXECUTE format('ALTER FUNCTION %s SET search_path = %I, pg_temp', v_fn, v_schema);
  END LOOP;
  FOR v_fn IN SELECT p.oid::regprocedure FROM pg_proc p
               WHERE p.pronamespace = v_schema::regnamespace
                 AND (p.proname IN ('append_events', 'delete_stream', 'truncate_behind_snapshot',
                                    'set_stream_metadata', 'lock_stream', 'lock_streams',
                                    'scavenge_batch', 'checkpoint_save', 'checkpoint_delete',
                                    'snapshot_write', 'refuse_event_mutation')
                      OR p.proname LIKE 'consumer\_group\_%' OR p.proname LIKE 'projection\_%'
                      OR p.proname LIKE 'relay\_%')
                 AND p.prokind = 'f' AND p.proconfig IS NOT NULL
  LOOP
    EXECUTE format('ALTER FUNCTION %s SECURITY DEFINER', v_fn);
  END LOOP;
  FOR v_fn IN SELECT p.oid::regprocedure FROM pg_proc p WHERE p.pronamespace = v_schema::regnamespace
  LOOP
    EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', v_fn);
  END LOOP;
  -- Runtime roles (see the DROP of append_events above): what src/migrate/grants.ts now grants.
  FOR v_role IN SELECT r.rolname FROM pg_roles r
                 WHERE r.oid = ANY (current_setting('strata.runtime_roles')::oid[])
  LOOP
    EXECUTE format('REVOKE INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON ALL TABLES IN SCHEMA %I FROM %I',
                   v_schema, v_role);
    EXECUTE format('REVOKE ALL ON ALL SEQUENCES IN SCHEMA %I FROM %I', v_schema, v_role);
    EXECUTE format('GRANT SELECT ON %I.events_position_seq TO %I', v_schema, v_role);
    EXECUTE format('GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA %I TO %I', v_schema, v_role);
    EXECUTE format('REVOKE EXECUTE ON FUNCTION %I.scavenge_batch(int) FROM %I', v_schema, v_role);
  END LOOP;
END
$$;
