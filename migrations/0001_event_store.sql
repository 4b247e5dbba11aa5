-- The event store: streams, events, the append function and the safe read horizon.
-- Runs with search_path set to the store's schema; nothing here names the schema.

-- Global positions. CACHE 1 keeps nextval strictly increasing in time across sessions, which the
-- read horizon below relies on.
CREATE SEQUENCE events_position_seq AS bigint MINVALUE 1 CACHE 1;

-- Per-stream state that is not in the events themselves: deletion, retention and custom metadata.
-- A stream gets a row only when it needs one (metadata set, deleted, scavenged); appends never
-- write here on their hot path, and a stream's version is the highest version among its events.
CREATE TABLE streams (
  stream_id       text        NOT NULL,
  -- Floor for the stream's version: its version when last deleted or scavenged, so versions
  -- continue after the events that carried them are gone.
  version         bigint      NOT NULL DEFAULT 0,
  created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
  updated_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
  -- Soft delete: reads return nothing; the next append starts the stream again.
  deleted_at      timestamptz,
  -- Tombstone: the stream can never be written again.
  tombstoned_at   timestamptz,
  -- Retention (EventStoreDB's $maxCount, $maxAge, $tb), honoured by reads and applied by scavenge.
  max_count       bigint,
  max_age_seconds bigint,
  truncate_before bigint,
  metadata        jsonb       NOT NULL DEFAULT '{}'::jsonb,
  CONSTRAINT streams_pkey PRIMARY KEY (stream_id),
  CONSTRAINT streams_version_check CHECK (version >= 0),
  CONSTRAINT streams_max_count_check CHECK (max_count IS NULL OR max_count > 0),
  CONSTRAINT streams_max_age_check CHECK (max_age_seconds IS NULL OR max_age_seconds > 0),
  CONSTRAINT streams_truncate_before_check CHECK (truncate_before IS NULL OR truncate_before >= 0)
);

CREATE TABLE events (
  position   bigint      NOT NULL DEFAULT nextval('events_position_seq'),
  stream_id  text        NOT NULL,
  version    bigint      NOT NULL,
  id         uuid        NOT NULL,
  type       text        NOT NULL,
  data       jsonb       NOT NULL,
  metadata   jsonb       NOT NULL DEFAULT '{}'::jsonb,
  -- Version of the event type's schema the payload was written with (upcasters lift old ones).
  data_version int       NOT NULL DEFAULT 1,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  CONSTRAINT events_pkey PRIMARY KEY (position),
  CONSTRAINT events_id_key UNIQUE (id),
  CONSTRAINT events_stream_id_version_key UNIQUE (stream_id, version),
  CONSTRAINT events_version_check CHECK (version > 0)
);
ALTER SEQUENCE events_position_seq OWNED BY events.position;

-- Filtered $all reads (by type, by category) walk these in position order.
CREATE INDEX events_type_position_idx ON events (type, position);
CREATE INDEX events_category_position_idx ON events ((split_part(stream_id, '-', 1)), position);
-- Point-in-time lookups ("replay from 09:00") and maxAge; BRIN because created_at follows position.
CREATE INDEX events_created_at_idx ON events USING brin (created_at);

-- Events are never updated; they are deleted only by scavenge, which sets
-- strata.allow_event_delete for its own transaction.
CREATE FUNCTION refuse_event_mutation() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' AND current_setting('strata.allow_event_delete', true) = 'on' THEN
    RETURN OLD;
  END IF;
  RAISE EXCEPTION 'events are immutable: % on %.% refused', TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME
    USING ERRCODE = 'SX004', HINT = 'only scavenge may delete events';
END
$$;

CREATE TRIGGER events_refuse_update BEFORE UPDATE ON events
  FOR EACH ROW EXECUTE FUNCTION refuse_event_mutation();
CREATE TRIGGER events_refuse_delete BEFORE DELETE ON events
  FOR EACH ROW EXECUTE FUNCTION refuse_event_mutation();
CREATE TRIGGER events_refuse_truncate BEFORE TRUNCATE ON events
  FOR EACH STATEMENT EXECUTE FUNCTION refuse_event_mutation();

REVOKE ALL ON events FROM PUBLIC;

-- Two transaction-level advisory locks order the appends (transaction-level: nothing is left on
-- a pooled session, so appends work through PgBouncer in transaction mode):
-- * the stream lock, exclusive, key ('STRS', hash of the stream id), queues the appends to one
--   stream like a row lock would, without writing a row (a hash collision only queues two
--   unrelated streams behind each other);
-- * the append lock, shared, key ('STRA', hash of the schema), held by every appender from
--   before it takes positions until it ends; readers list its holders in pg_locks to learn
--   which positions may still appear (safe_horizon).
CREATE FUNCTION append_lock_key() RETURNS int
LANGUAGE sql IMMUTABLE SET search_path FROM CURRENT AS $$ SELECT hashtext(current_schema()) $$;

-- Locks one stream for an append or a delete (see above).
CREATE FUNCTION lock_stream(p_stream_id text) RETURNS void
LANGUAGE sql VOLATILE AS $$ SELECT pg_advisory_xact_lock(1398035027, hashtext(p_stream_id)) $$;

-- Locks several streams in one order (by key), so multi-stream appends cannot deadlock.
CREATE FUNCTION lock_streams(p_stream_ids text[]) RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_key int;
BEGIN
  FOR v_key IN SELECT DISTINCT hashtext(id) FROM unnest(p_stream_ids) AS u(id) ORDER BY 1 LOOP
    PERFORM pg_advisory_xact_lock(1398035027, v_key);
  END LOOP;
END
$$;

-- A stream's state under its lock: version (highest event version, or the floor kept in
-- streams), deleted and tombstoned flags. Every statement in these VOLATILE functions takes a
-- new snapshot, so called after lock_stream it sees every earlier append to the stream.
CREATE FUNCTION stream_state(p_stream_id text, OUT version bigint, OUT deleted boolean, OUT tombstoned boolean)
LANGUAGE plpgsql STABLE
-- Cached plans outlive the statistics they were made with (see append_events): index lookups only.
SET enable_seqscan = off
SET search_path FROM CURRENT AS $$
BEGIN
  -- plpgsql rather than sql: its plan is cached per session instead of planned on every call.
  SELECT GREATEST(COALESCE((SELECT max(e.version) FROM events e WHERE e.stream_id = p_stream_id), 0),
                  COALESCE(s.version, 0)),
         s.deleted_at IS NOT NULL,
         s.tombstoned_at IS NOT NULL
    INTO version, deleted, tombstoned
    FROM (SELECT 1) AS one LEFT JOIN streams s ON s.stream_id = p_stream_id;
END
$$;

-- Whether a stream at p_actual (soft-deleted or not) satisfies an expected version.
-- A soft-deleted stream counts as absent: it may be started again (its versions continue).
CREATE FUNCTION expected_version_ok(p_kind text, p_expected bigint, p_actual bigint, p_deleted boolean)
RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE p_kind
    WHEN 'any' THEN true
    WHEN 'no_stream' THEN p_actual = 0 OR p_deleted
    WHEN 'stream_exists' THEN p_actual > 0 AND NOT p_deleted
    WHEN 'exact' THEN CASE WHEN p_expected = 0 THEN p_actual = 0 OR p_deleted ELSE p_actual = p_expected END
  END
$$;

-- Appends to one or more streams in one transaction. Append i writes p_counts[i] events, taken
-- in order from the event arrays; its stream is p_stream_ids[i] and its expected version
-- p_expected[i] ('any' | 'no_stream' | 'stream_exists' | 'exact') with p_expected_versions[i].
-- p_check_ids[i]: whether its ids may be a retry (supplied by the caller, or a retry after a
-- lost connection); generated ids skip the idempotency lookup.
--
-- p_atomic: all or nothing. The first failing append raises and nothing is written: SX001
-- (wrong expected version; DETAIL = actual version), SX002 (duplicate event id; DETAIL = JSON),
-- SX003 (tombstoned), each with HINT = the index of the failing append.
-- Otherwise every append succeeds or fails on its own (a failing one writes nothing) and its
-- outcome is a row (status 'ok', 'retried', 'wrong_expected_version', 'duplicate', 'tombstoned'
-- or 'busy'): the store batches concurrent single appends this way, so they share one
-- transaction and one commit.
--
-- Concurrency: every stream is locked first, in one order (no deadlocks between batches); then
-- the append lock is taken shared, before any position is handed out (see safe_horizon). The
-- work is set-based (one statement for the state of all streams, one insert for all events), so
-- a batch costs little more per append than a multi-row INSERT.
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
  p_atomic boolean
) RETURNS TABLE (status text, next_version bigint, last_position bigint, detail text)
LANGUAGE plpgsql VOLATILE
-- Generic plans: custom plans look cheaper for small arrays, so without this every call would
-- plan every statement again.
SET plan_cache_mode = force_generic_plan
SET jit = off
-- The generic plan is made once per session, from the statistics of that moment: made while
-- events is empty it would scan the table on every later call. Lookups here are by key only.
SET enable_seqscan = off
SET enable_bitmapscan = off
SET search_path FROM CURRENT AS $$
DECLARE
  v_appends    int := cardinality(p_stream_ids);
  v_versions   bigint[];   -- each append's stream version before it (then after it, if ok)
  v_deleted    boolean[];
  v_tombstoned boolean[];
  v_status     text[] := array_fill('ok'::text, ARRAY[v_appends]);
  v_detail     text[] := array_fill(NULL::text, ARRAY[v_appends]);
  v_result_pos bigint[] := array_fill(NULL::bigint, ARRAY[v_appends]);
  v_result_ver bigint[] := array_fill(NULL::bigint, ARRAY[v_appends]);
  v_event_version bigint[] := array_fill(NULL::bigint, ARRAY[cardinality(p_ids)]);
  v_event_stream text[] := array_fill(NULL::text, ARRAY[cardinality(p_ids)]);
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
  v_restarted  text[] := '{}';
  v_busy       int[];
  v_version    bigint;
  v_del        boolean;
  v_tomb       boolean;
  v_position   bigint;
BEGIN
  -- One append of new events (the common case): the same steps with scalars, a third cheaper.
  IF v_appends = 1 AND NOT p_check_ids[1] THEN
    IF p_atomic THEN
      PERFORM pg_advisory_xact_lock(1398035027, hashtext(p_stream_ids[1]));
    ELSIF NOT pg_try_advisory_xact_lock(1398035027, hashtext(p_stream_ids[1])) THEN
      RETURN QUERY SELECT 'busy'::text, NULL::bigint, NULL::bigint, NULL::text;
      RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock_shared(1398034497, append_lock_key());
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
      RETURN QUERY SELECT 'tombstoned'::text, NULL::bigint, NULL::bigint, NULL::text;
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
      RETURN QUERY SELECT 'wrong_expected_version'::text, NULL::bigint, NULL::bigint, v_version::text;
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
    RETURN QUERY SELECT 'ok'::text, v_version + p_counts[1], v_position, NULL::text;
    RETURN;
  END IF;

  IF p_atomic THEN
    -- Lock the streams in one order (by key): two such appends cannot deadlock.
    PERFORM pg_advisory_xact_lock(1398035027, k.key)
       FROM (SELECT DISTINCT hashtext(u.id) AS key FROM unnest(p_stream_ids) AS u(id) ORDER BY 1) AS k;
  ELSE
    -- A batch never waits for a stream: one locked elsewhere (a long transaction appending to
    -- it, say) is answered 'busy' and its appends are retried on their own, so it cannot hold
    -- back the other streams of the batch.
    SELECT array_agg(k.key) INTO v_busy
      FROM (SELECT DISTINCT hashtext(u.id) AS key FROM unnest(p_stream_ids) AS u(id)) AS k
     WHERE NOT pg_try_advisory_xact_lock(1398035027, k.key);
  END IF;
  -- Announce this appender before any position is handed out (see safe_horizon).
  PERFORM pg_advisory_xact_lock_shared(1398034497, append_lock_key());

  -- State of every stream, read after the locks (a new statement, a new snapshot): it sees
  -- every earlier append to these streams.
  -- Correlated subqueries keep this an index probe per stream in any plan.
  SELECT array_agg(GREATEST(COALESCE((SELECT max(e.version) FROM events e WHERE e.stream_id = u.id), 0),
                            COALESCE((SELECT s.version FROM streams s WHERE s.stream_id = u.id), 0))
                   ORDER BY u.ord),
         array_agg(COALESCE((SELECT s.deleted_at IS NOT NULL FROM streams s WHERE s.stream_id = u.id), false)
                   ORDER BY u.ord),
         array_agg(COALESCE((SELECT s.tombstoned_at IS NOT NULL FROM streams s WHERE s.stream_id = u.id), false)
                   ORDER BY u.ord)
    INTO v_versions, v_deleted, v_tombstoned
    FROM unnest(p_stream_ids) WITH ORDINALITY AS u(id, ord);

  FOR v_i IN 1 .. v_appends LOOP
    v_count := p_counts[v_i];
    IF v_busy IS NOT NULL AND hashtext(p_stream_ids[v_i]) = ANY (v_busy) THEN
      v_status[v_i] := 'busy';
      v_from := v_from + v_count;
      CONTINUE;
    END IF;
    -- An earlier append of this batch to the same stream moves its state.
    FOR v_j IN REVERSE v_i - 1 .. 1 LOOP
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

-- Soft delete ('soft': hidden from reads, the next append restarts the stream) or tombstone
-- ('tombstone': never writable again), under the stream lock so the expected version is exact.
-- Raises SX001 and SX003 like append_to_stream. Returns the stream's version.
CREATE FUNCTION delete_stream(p_stream_id text, p_mode text, p_expected text, p_expected_version bigint)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SET search_path FROM CURRENT AS $$
DECLARE
  v_state record;
  v_ok    boolean;
BEGIN
  PERFORM lock_stream(p_stream_id);
  v_state := stream_state(p_stream_id);
  IF v_state.tombstoned THEN
    RAISE EXCEPTION 'stream % is tombstoned', p_stream_id USING ERRCODE = 'SX003';
  END IF;
  v_ok := CASE p_expected
    WHEN 'any' THEN true
    WHEN 'no_stream' THEN v_state.version = 0 OR v_state.deleted
    WHEN 'stream_exists' THEN v_state.version > 0 AND NOT v_state.deleted
    WHEN 'exact' THEN v_state.version = p_expected_version END;
  IF NOT v_ok THEN
    RAISE EXCEPTION 'wrong expected version for stream %', p_stream_id USING
      ERRCODE = 'SX001', DETAIL = v_state.version::text;
  END IF;
  IF p_mode = 'soft' AND v_state.version = 0 THEN
    RETURN 0; -- nothing to delete
  END IF;
  INSERT INTO streams AS s (stream_id, version, deleted_at, tombstoned_at, truncate_before)
  VALUES (p_stream_id, v_state.version, clock_timestamp(),
          CASE WHEN p_mode = 'tombstone' THEN clock_timestamp() END, v_state.version + 1)
  ON CONFLICT (stream_id) DO UPDATE
    SET version = EXCLUDED.version, deleted_at = EXCLUDED.deleted_at,
        tombstoned_at = EXCLUDED.tombstoned_at, truncate_before = EXCLUDED.truncate_before,
        updated_at = clock_timestamp();
  RETURN v_state.version;
END
$$;

-- Scavenge: deletes up to p_limit events that retention or deletion hide, first raising each
-- affected stream's version floor so its versions continue. Returns the streams touched.
CREATE FUNCTION scavenge_batch(p_limit int)
RETURNS TABLE (stream_id text, deleted bigint)
LANGUAGE plpgsql VOLATILE SET search_path FROM CURRENT AS $$
BEGIN
  PERFORM set_config('strata.allow_event_delete', 'on', true);
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
END
$$;

-- The safe read horizon: a position H such that every event at or below H that will ever be
-- committed is committed now. A reader that takes its snapshot after this returns may read up to
-- H without ever skipping an event.
-- Argument: the sequence is read first, then the appenders holding the append lock. Any position
-- at or below that value was handed out after its appender took the lock, hence before we listed
-- the holders: that appender is either finished (committed or rolled back; locks are released
-- after commit is visible) or in the list. Once every listed appender has ended, H is final.
-- Unrelated transactions (even ones holding an xid for hours) are never waited for.
-- Returns NULL when the listed appenders did not all end within p_max_wait_ms.
CREATE FUNCTION safe_horizon(p_max_wait_ms int) RETURNS bigint
LANGUAGE plpgsql VOLATILE SET search_path FROM CURRENT AS $$
DECLARE
  v_last     bigint;
  v_writers  text[];
  v_db       oid := (SELECT oid FROM pg_database WHERE datname = current_database());
  v_key      oid := append_lock_key()::oid;
  v_deadline timestamptz := clock_timestamp() + make_interval(secs => p_max_wait_ms / 1000.0);
BEGIN
  SELECT CASE WHEN is_called THEN last_value ELSE 0 END INTO v_last FROM events_position_seq;
  SELECT array_agg(l.virtualtransaction) INTO v_writers
    FROM pg_locks l
   WHERE l.locktype = 'advisory' AND l.database = v_db AND l.classid = 1398034497::oid
     AND l.objid = v_key AND l.objsubid = 2 AND l.pid IS DISTINCT FROM pg_backend_pid();
  IF v_writers IS NULL THEN
    RETURN v_last;
  END IF;
  LOOP
    IF clock_timestamp() >= v_deadline THEN
      RETURN NULL;
    END IF;
    PERFORM pg_sleep(0.001);
    PERFORM 1 FROM pg_locks l
     WHERE l.locktype = 'advisory' AND l.database = v_db AND l.classid = 1398034497::oid
       AND l.objid = v_key AND l.objsubid = 2 AND l.virtualtransaction = ANY (v_writers);
    IF NOT FOUND THEN
      RETURN v_last;
    END IF;
  END LOOP;
END
$$;
