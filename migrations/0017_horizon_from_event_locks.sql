-- The safe horizon lists the holders of the events table's own ROW EXCLUSIVE lock (issue 19;
-- docs/guarantees.md, "Why $all never skips"). Runs with search_path set to the store's schema;
-- nothing here names the schema.
--
-- Since 0011 every appender announced itself with `LOCK TABLE append_gate IN ROW EXCLUSIVE MODE`
-- before taking a position. The INSERT into events already does that: a statement that inserts
-- into a table holds ROW EXCLUSIVE on it from before it runs (the parser, or the plan cache when
-- it checks a cached plan, takes the lock; the position's nextval runs later, in the executor)
-- until its transaction ends, and on a partitioned events table on the parent too. So the gate
-- was a second lock of the same kind, one more statement in every append (2% to 10% of the
-- single append's throughput in pgbench, docs/performance.md).
--
-- What a stranger can do is unchanged: taking ROW EXCLUSIVE on events needs INSERT, UPDATE,
-- DELETE or TRUNCATE on it (LOCK TABLE checks first) or naming it in a statement that locks before
-- it checks (PREPARE … INSERT INTO), which needs USAGE on the schema; a stranger has neither, as
-- it had neither for append_gate. The runtime role has USAGE and could lock either table that way;
-- it may append, and so hold the horizon, anyway. Who else takes that mode: scavenge_batch's
-- DELETE (the owner's, short), and appends of every earlier version of the functions (they all
-- insert into events), so an upgrade needs no transition: this covers old appenders too, including
-- those of 0008's advisory lock.
--
-- append_event also stops setting lock_timeout on every call (its SET lock_timeout = 0 clause,
-- then set_config for the store's appendLockTimeoutMs): it takes the stream's lock row with SKIP
-- LOCKED first and sets the timeout only when it must wait. So a session's own lock_timeout now
-- applies to the rest of the append's waits (none in normal operation: the INSERT waits only for
-- DDL on events, such as the partitioning commands).

CREATE OR REPLACE FUNCTION safe_horizon(p_max_wait_ms int) RETURNS bigint
LANGUAGE plpgsql VOLATILE SET search_path FROM CURRENT AS $$
DECLARE
  v_last     bigint;
  v_writers  text[];
  v_db       oid := (SELECT oid FROM pg_database WHERE datname = current_database());
  v_events   oid := to_regclass(format('%I.events', current_schema()));
  v_deadline timestamptz := clock_timestamp() + make_interval(secs => GREATEST(p_max_wait_ms, 0) / 1000.0);
BEGIN
  -- First the sequence, then the holders: every position at or below v_last was handed out after
  -- its appender took the lock, so that appender has ended or is listed.
  SELECT CASE WHEN is_called THEN last_value ELSE 0 END INTO v_last FROM events_position_seq;
  SELECT array_agg(l.virtualtransaction) INTO v_writers
    FROM pg_locks l
   WHERE l.locktype = 'relation' AND l.database = v_db AND l.relation = v_events
     AND l.mode = 'RowExclusiveLock' AND l.pid IS DISTINCT FROM pg_backend_pid();
  IF v_writers IS NULL THEN
    RETURN v_last;
  END IF;
  LOOP
    IF clock_timestamp() >= v_deadline THEN
      RETURN NULL;
    END IF;
    PERFORM pg_sleep(0.001);
    PERFORM 1 FROM pg_locks l
     WHERE l.virtualtransaction = ANY (v_writers) AND l.locktype = 'relation'
       AND l.database = v_db AND l.relation = v_events AND l.mode = 'RowExclusiveLock';
    IF NOT FOUND THEN
      RETURN v_last;
    END IF;
  END LOOP;
END
$$;

-- append_event (0016) without the gate, and without its SET lock_timeout clause.
CREATE OR REPLACE FUNCTION append_event(p_stream_id text, p_expected text, p_expected_version bigint,
                             p_id uuid, p_type text, p_data jsonb, p_metadata jsonb,
                             p_data_version integer, p_atomic boolean, p_lock_timeout_ms integer,
                             OUT status text, OUT next_version bigint, OUT last_position bigint,
                             OUT detail text)
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
  v_version bigint;
  v_del     boolean;
  v_tomb    boolean;
  v_ok      boolean;
  v_timeout text;
BEGIN
  IF p_stream_id IS NULL OR p_id IS NULL OR p_type IS NULL OR p_data IS NULL OR p_metadata IS NULL
     OR p_data_version IS NULL OR p_atomic IS NULL OR p_expected IS NULL THEN
    RAISE EXCEPTION 'append_event: an argument is missing' USING ERRCODE = '22023';
  END IF;
  -- The stream's lock row, without a wait when it is free (nearly always): no lock_timeout to
  -- set then, which cost 10% of an append as a SET clause (pgbench, 8 clients, fsync on: 8,350
  -- appends/s against 7,560). Held elsewhere: busy in a batch, else wait at most
  -- p_lock_timeout_ms (0 or NULL: no limit), the session's setting restored after.
  PERFORM 1 FROM stream_locks l WHERE l.slot = hashtext(p_stream_id) & 65535 FOR UPDATE SKIP LOCKED;
  IF NOT FOUND THEN
    IF NOT p_atomic THEN
      status := 'busy';
      RETURN;
    END IF;
    v_timeout := current_setting('lock_timeout');
    PERFORM set_config('lock_timeout', GREATEST(COALESCE(p_lock_timeout_ms, 0), 0)::text || 'ms', true);
    PERFORM 1 FROM stream_locks l WHERE l.slot = hashtext(p_stream_id) & 65535 FOR UPDATE;
    PERFORM set_config('lock_timeout', v_timeout, true);
  END IF;
  -- Its INSERT into events announces it to safe_horizon (see above).
  SELECT GREATEST(COALESCE((SELECT max(e.version) FROM events e WHERE e.stream_id = p_stream_id), 0),
                  COALESCE(st.version, 0)),
         COALESCE(st.deleted_at IS NOT NULL, false), st.tombstoned_at IS NOT NULL
    INTO v_version, v_del, v_tomb
    FROM (SELECT 1) AS one LEFT JOIN streams st ON st.stream_id = p_stream_id;
  IF v_tomb THEN
    IF p_atomic THEN
      RAISE EXCEPTION 'append 1 to stream % failed: tombstoned', p_stream_id USING ERRCODE = 'SX003', HINT = '1';
    END IF;
    status := 'tombstoned';
    RETURN;
  END IF;
  -- expected_version_ok (migrations/0001), inline.
  v_ok := CASE p_expected
            WHEN 'any' THEN true
            WHEN 'no_stream' THEN v_version = 0 OR v_del
            WHEN 'stream_exists' THEN v_version > 0 AND NOT v_del
            WHEN 'exact' THEN CASE WHEN p_expected_version = 0 THEN v_version = 0 OR v_del
                                   ELSE v_version = p_expected_version END
          END;
  IF v_ok IS NULL THEN
    RAISE EXCEPTION 'unknown expected version kind %', p_expected USING ERRCODE = '22023';
  END IF;
  IF NOT v_ok THEN
    IF p_atomic THEN
      RAISE EXCEPTION 'append 1 to stream % failed: wrong_expected_version', p_stream_id USING
        ERRCODE = 'SX001', DETAIL = v_version::text, HINT = '1';
    END IF;
    status := 'wrong_expected_version';
    detail := v_version::text;
    RETURN;
  END IF;
  INSERT INTO events (stream_id, version, id, type, data, metadata, data_version, created_at)
  VALUES (p_stream_id, v_version + 1, p_id, p_type, p_data, p_metadata, p_data_version, clock_timestamp())
  RETURNING position INTO last_position;
  IF v_del THEN
    UPDATE streams SET deleted_at = NULL, updated_at = clock_timestamp() WHERE stream_id = p_stream_id;
  END IF;
  status := 'ok';
  next_version := v_version + 1;
END
$$;

-- append_events (0011) without the gate: rewritten from its own definition, so that nothing else
-- of it changes (ownership, SECURITY DEFINER, search_path and grants stay: CREATE OR REPLACE
-- keeps them, and its definition carries the rest).
DO $$
DECLARE
  v_fn   regprocedure := 'append_events(text[], text[], bigint[], int[], boolean[], uuid[], text[], jsonb[], jsonb[], int[], boolean, int)'::regprocedure;
  v_def  text := pg_get_functiondef('append_events(text[], text[], bigint[], int[], boolean[], uuid[], text[], jsonb[], jsonb[], int[], boolean, int)'::regprocedure);
  v_gate constant text := 'LOCK TABLE append_gate IN ROW EXCLUSIVE MODE;';
BEGIN
  IF position(v_gate IN v_def) = 0 THEN
    RAISE EXCEPTION '% does not take the append gate: not the definition this migration expects', v_fn;
  END IF;
  v_def := regexp_replace(v_def, '\n *-- Announce this appender before any position[^\n]*', '', 'g');
  v_def := replace(v_def, v_gate, '-- Its INSERT into events announces it to safe_horizon (migrations/0017).');
  EXECUTE v_def;
END
$$;

-- Like every function since 0011 that fixes its search_path: this schema, then pg_temp; and
-- append_event, replaced above, runs as the owner again (CREATE OR REPLACE keeps its grants).
DO $$
BEGIN
  EXECUTE format('ALTER FUNCTION safe_horizon(int) SET search_path = %I, pg_temp', current_schema());
  EXECUTE format('ALTER FUNCTION append_event(text, text, bigint, uuid, text, jsonb, jsonb, integer, boolean, integer) '
                 'SECURITY DEFINER SET search_path = %I, pg_temp', current_schema());
END
$$;

DROP TABLE append_gate;

-- The key of 0008's shared advisory lock, which nothing takes or lists any more.
DROP FUNCTION append_lock_key();
