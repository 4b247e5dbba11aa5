-- One event appended to one stream with a generated id: the common append (issue 19). The same
-- steps, checks and locks as the single-append path of append_events (migrations/0008, 0011):
-- the stream's lock row, the append gate before the position is handed out (the safe horizon),
-- the stream's state read under the lock, the expected version, the insert. What it saves is the
-- function's generality: no arrays to build and unpack (eleven array parameters, twelve checks of
-- their lengths), no separate expected_version_ok call, and a composite result instead of a set
-- (no tuplestore). In pgbench on 2 cores, 8 clients, distinct streams: 6,330 appends/s against
-- 5,080 for append_events (raw one-row INSERT: 7,900); without fsync 11,400 against 7,700.
-- Ids the caller supplies (idempotent retries) still go through append_events, which looks them up.
-- Runs with search_path set to the store's schema; nothing here names the schema.

CREATE FUNCTION append_event(p_stream_id text, p_expected text, p_expected_version bigint,
                             p_id uuid, p_type text, p_data jsonb, p_metadata jsonb,
                             p_data_version integer, p_atomic boolean, p_lock_timeout_ms integer,
                             OUT status text, OUT next_version bigint, OUT last_position bigint,
                             OUT detail text)
LANGUAGE plpgsql SET lock_timeout = 0 SET search_path FROM CURRENT AS $$
DECLARE
  v_version bigint;
  v_del     boolean;
  v_tomb    boolean;
  v_ok      boolean;
BEGIN
  IF p_stream_id IS NULL OR p_id IS NULL OR p_type IS NULL OR p_data IS NULL OR p_metadata IS NULL
     OR p_data_version IS NULL OR p_atomic IS NULL OR p_expected IS NULL THEN
    RAISE EXCEPTION 'append_event: an argument is missing' USING ERRCODE = '22023';
  END IF;
  IF p_lock_timeout_ms > 0 THEN
    PERFORM set_config('lock_timeout', p_lock_timeout_ms::text || 'ms', true);
  END IF;
  IF p_atomic THEN
    PERFORM 1 FROM stream_locks l WHERE l.slot = hashtext(p_stream_id) & 65535 FOR UPDATE;
  ELSE
    PERFORM 1 FROM stream_locks l WHERE l.slot = hashtext(p_stream_id) & 65535 FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
      status := 'busy';
      RETURN;
    END IF;
  END IF;
  -- Announce this appender before any position is handed out (see safe_horizon).
  LOCK TABLE append_gate IN ROW EXCLUSIVE MODE;
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

-- Like every writing entry point since 0011: run as the owner, search_path fixed to the schema
-- then pg_temp, executable only by the roles that may call append_events.
DO $$
DECLARE
  v_schema text := current_schema();
  v_fn     regprocedure := 'append_event(text, text, bigint, uuid, text, jsonb, jsonb, integer, boolean, integer)'::regprocedure;
  v_role   text;
BEGIN
  EXECUTE format('ALTER FUNCTION %s SECURITY DEFINER SET search_path = %I, pg_temp', v_fn, v_schema);
  EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', v_fn);
  FOR v_role IN SELECT DISTINCT a.grantee::regrole::text
                  FROM pg_proc p, aclexplode(p.proacl) a
                 WHERE p.pronamespace = v_schema::regnamespace AND p.proname = 'append_events'
                   AND a.privilege_type = 'EXECUTE' AND a.grantee <> p.proowner AND a.grantee <> 0
  LOOP
    EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %s', v_fn, v_role);
  END LOOP;
END
$$;
