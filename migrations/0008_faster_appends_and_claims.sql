-- Faster appends and consumer groups (docs/performance.md has the measurements behind each
-- change). Same signatures; the same results, except that the claim now returns one row per
-- message with its event (below). No table changes.
-- Runs with search_path set to the store's schema; nothing here names the schema.
--
-- append_events (0001):
-- * a single append returns its row with RETURN NEXT instead of RETURN QUERY, which opened a
--   cursor for a one-row SELECT on every call;
-- * the arrays only batches use are filled on the batch path, not before the single-append path;
-- * a batch to distinct streams (what group commit sends) skips the search for an earlier append
--   to the same stream, which was quadratic in the batch size;
-- * a batch reads each stream's row of streams once (it was probed three times).
--
-- consumer_group_admit (0003) commits asynchronously (synchronous_commit off for its own
-- transaction): it does not wait for its WAL flush. Nothing depends on an admission alone: a
-- claim of an admitted message commits synchronously after it, and flushing the claim's commit
-- flushes all WAL before it, the admission included. An admission lost in a server crash loses
-- its rows and its cursor move together (one transaction), so the events are admitted again.
-- Claims, acks, nacks, parks and lease renewals stay synchronous: a consumer acts on each of them
-- (a lease it holds, a message it will not see again).
--
-- consumer_group_claim (0003) leases and returns its messages in one statement (below).
--
-- read_stream (0006) calls stream_visibility only for a stream that has a row in streams.

CREATE OR REPLACE FUNCTION append_events(
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
  -- One append of new events (the common case): the same steps with scalars, a third cheaper.
  IF v_appends = 1 AND NOT p_check_ids[1] THEN
    IF p_atomic THEN
      PERFORM pg_advisory_xact_lock(1398035027, hashtext(p_stream_ids[1]));
    ELSIF NOT pg_try_advisory_xact_lock(1398035027, hashtext(p_stream_ids[1])) THEN
      status := 'busy';
      RETURN NEXT;
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
    IF v_busy IS NOT NULL AND hashtext(p_stream_ids[v_i]) = ANY (v_busy) THEN
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

CREATE OR REPLACE FUNCTION consumer_group_admit(p_group_id int, p_window int, p_scan int, p_max_wait_ms int)
RETURNS TABLE (status text, admitted int, cursor_position bigint)
LANGUAGE plpgsql VOLATILE
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

-- consumer_group_claim (0003), same arguments, rules and races: the rows are locked with FOR
-- UPDATE SKIP LOCKED as before, then leased in the same statement, found again by row id (a
-- row locked until commit cannot move) rather than by a key probe each, and returned with their
-- events in one row per message, in position order: position, attempts, last_error and the
-- event's columns (NULL when scavenge removed the event since). Before, it returned a row per
-- lease and another per event. The events are read by key per message (LATERAL), so the cached
-- plan stays an index probe however the table grew.
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
    -- 'STRC': consumer-group claims.
    PERFORM pg_advisory_xact_lock(1398035011, p_group_id);
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

CREATE OR REPLACE FUNCTION read_stream(p_stream_id text, p_from bigint, p_limit bigint, p_backward boolean)
RETURNS TABLE ("position" bigint, stream_id text, version bigint, id uuid, type text,
               data jsonb, metadata jsonb, data_version int, created_at timestamptz)
LANGUAGE plpgsql STABLE
SET enable_seqscan = off
SET search_path FROM CURRENT AS $$
#variable_conflict use_column
DECLARE
  v_min_version    bigint;
  v_min_created_at timestamptz;
BEGIN
  -- Most streams have no row in streams (no retention, never deleted) and show everything: one
  -- probe of its key answers that, cheaper than calling stream_visibility to find out.
  IF EXISTS (SELECT 1 FROM streams st WHERE st.stream_id = p_stream_id) THEN
    SELECT v.min_version, v.min_created_at INTO v_min_version, v_min_created_at
      FROM stream_visibility(p_stream_id) v;
  ELSE
    v_min_version := 0;
  END IF;
  IF p_backward THEN
    RETURN QUERY
      SELECT e.position, e.stream_id, e.version, e.id, e.type, e.data, e.metadata, e.data_version, e.created_at
        FROM events e
       WHERE e.stream_id = p_stream_id AND e.version <= p_from AND e.version >= v_min_version
         AND (v_min_created_at IS NULL OR e.created_at >= v_min_created_at)
       ORDER BY e.version DESC LIMIT p_limit;
  ELSE
    RETURN QUERY
      SELECT e.position, e.stream_id, e.version, e.id, e.type, e.data, e.metadata, e.data_version, e.created_at
        FROM events e
       WHERE e.stream_id = p_stream_id AND e.version >= GREATEST(p_from, v_min_version)
         AND (v_min_created_at IS NULL OR e.created_at >= v_min_created_at)
       ORDER BY e.version LIMIT p_limit;
  END IF;
END
$$;
