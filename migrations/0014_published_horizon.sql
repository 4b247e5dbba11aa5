-- Reading $all from streaming replicas (issue 14, docs/guarantees.md "Reading from replicas").
-- Runs with search_path set to the store's schema; nothing here names the schema.
--
-- A hot standby cannot compute the safe horizon: the appenders it would wait for run on the
-- primary and their locks are not replicated. So the primary publishes it. The one row of
-- published_horizon holds a position that safe_horizon() returned (whatever computes it) and
-- the time it was written. It replicates like any row, in WAL order: its commit record comes
-- after the commit (or abort) records of every append holding a position at or below it,
-- because safe_horizon() returned only once those appends had ended. A standby replays commit
-- records in WAL order, so a standby snapshot that shows the row shows all of those appends.

CREATE TABLE published_horizon (
  -- One row: the key can only be true.
  singleton    boolean     NOT NULL DEFAULT true,
  -- Every append holding a position at or below this one had ended when the row was written.
  position     bigint      NOT NULL DEFAULT 0,
  -- When it was written (the primary's clock). Everything that committed on the primary before
  -- this time is visible wherever this row version is: a reader's staleness is at most
  -- now() - published_at.
  published_at timestamptz NOT NULL DEFAULT '-infinity',
  CONSTRAINT published_horizon_pkey PRIMARY KEY (singleton),
  CONSTRAINT published_horizon_singleton CHECK (singleton)
);

INSERT INTO published_horizon DEFAULT VALUES;

-- Computes the safe horizon on the primary (waiting up to p_max_wait_ms for the appends in
-- flight) and publishes it. Several publishers may run at once (one per store process with
-- replicas): the row only moves forward, so their writes commute. The row is written when the
-- horizon moved or the last write is older than p_heartbeat_ms (readers measure staleness by
-- published_at, so an idle store must still write now and then; a busy one writes every call).
-- Returns the published position.
CREATE FUNCTION publish_horizon(p_max_wait_ms int, p_heartbeat_ms int) RETURNS bigint
LANGUAGE plpgsql VOLATILE SET search_path FROM CURRENT AS $$
DECLARE
  v_horizon bigint := safe_horizon(p_max_wait_ms);
  v_now     timestamptz := clock_timestamp();
  v_result  bigint;
BEGIN
  -- No wait for the flush: a publication lost in a crash only leaves an older (still true)
  -- horizon, and WAL order, which the argument rests on, holds either way.
  PERFORM set_config('synchronous_commit', 'off', true);
  UPDATE published_horizon
     SET position = GREATEST(position, COALESCE(v_horizon, 0)),
         published_at = GREATEST(published_at, v_now)
   WHERE position < COALESCE(v_horizon, 0)
      OR published_at < v_now - make_interval(secs => p_heartbeat_ms / 1000.0)
  RETURNING position INTO v_result;
  IF v_result IS NULL THEN
    SELECT position INTO v_result FROM published_horizon;
  END IF;
  RETURN v_result;
END
$$;

-- Consumer-group admission with the log read on a replica (a group's `readFrom: 'replica'`):
-- the replica reader found, after the cursor p_from and up to p_upto, the events of the
-- group's source in a view final up to p_upto (the published horizon there, or a contiguous
-- run after the cursor); this admits them on the primary, as consumer_group_admit (0008) does
-- with events it read itself: the same window room, hold of parked streams, cursor and
-- statuses. p_horizon: the horizon p_upto came from (NULL: a contiguous run, more may follow).
-- The cursor is a compare-and-set: an admission that moved it meanwhile answers 'busy' and
-- nothing is written (the caller reads again).
CREATE FUNCTION consumer_group_admit_rows(
  p_group_id int, p_window int, p_from bigint, p_upto bigint, p_horizon bigint,
  p_positions bigint[], p_stream_ids text[], p_created_at timestamptz[], p_metadata jsonb[])
RETURNS TABLE (status text, admitted int, cursor_position bigint)
LANGUAGE plpgsql VOLATILE
SET jit = off
SET search_path FROM CURRENT AS $$
#variable_conflict use_column
DECLARE
  g            consumer_groups%ROWTYPE;
  v_room       int;
  v_read       int;
  v_last       bigint;
  v_admitted   int;
  v_cursor     bigint;
  v_hold       boolean;
  v_per_stream boolean;
BEGIN
  -- As consumer_group_admit: admission commits without waiting for its WAL flush.
  PERFORM set_config('synchronous_commit', 'off', true);
  SELECT * INTO g FROM consumer_groups WHERE id = p_group_id FOR UPDATE SKIP LOCKED;
  IF NOT FOUND THEN
    RETURN QUERY SELECT CASE WHEN EXISTS (SELECT 1 FROM consumer_groups WHERE id = p_group_id)
                             THEN 'busy' ELSE 'missing' END, 0, NULL::bigint;
    RETURN;
  END IF;
  -- Another tenant's group (0013): refused, as consumer_group_admit refuses it.
  IF g.tenant_id <> COALESCE(current_setting('strata.tenant', true), '') AND NOT tenant_admin() THEN
    RAISE EXCEPTION 'consumer group % belongs to another tenant', g.name
      USING ERRCODE = 'SX010', DETAIL = 'consumer group', HINT = g.name;
  END IF;
  IF g.cursor_position <> p_from THEN
    RETURN QUERY SELECT 'busy'::text, 0, g.cursor_position;
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
  v_per_stream := g.strategy = 'per-stream';
  v_hold := v_per_stream AND g.hold_parked_streams;

  WITH batch AS (
    SELECT u.position, u.stream_id, u.created_at, u.metadata
      FROM unnest(p_positions, p_stream_ids, p_created_at, p_metadata)
           AS u(position, stream_id, created_at, metadata)
     WHERE u.position > p_from AND u.position <= p_upto
       -- The positions come from the caller: admit only events of the group's tenant, so a
       -- group can never be handed another tenant's events (claims read them as the owner).
       AND EXISTS (SELECT 1 FROM events e
                    WHERE e.position = u.position AND e.stream_id = u.stream_id
                      AND e.tenant_id = g.tenant_id)
     ORDER BY u.position
     LIMIT v_room
  ), inserted AS (
    INSERT INTO consumer_group_messages (group_id, position, stream_id, per_stream, available_at)
    SELECT p_group_id, b.position, b.stream_id, v_per_stream,
           consumer_group_available_at(b.created_at, b.metadata)
      FROM batch b
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

  v_cursor := CASE WHEN v_read >= v_room THEN v_last ELSE p_upto END;
  UPDATE consumer_groups SET cursor_position = v_cursor WHERE id = p_group_id;
  RETURN QUERY SELECT CASE WHEN p_horizon IS NULL OR v_cursor < p_horizon THEN 'more'
                           ELSE 'admitted' END,
                      v_admitted, v_cursor;
END
$$;

-- Like every writing entry point since 0011: run as the owner, search_path fixed to the schema
-- then pg_temp, executable only by the roles that may append (the runtime roles), which may
-- also read the published horizon (replica readers connect as them).
DO $$
DECLARE
  v_schema text := current_schema();
  v_fn     regprocedure;
  v_role   text;
BEGIN
  FOR v_fn IN SELECT p.oid::regprocedure FROM pg_proc p
               WHERE p.pronamespace = v_schema::regnamespace
                 AND p.proname IN ('publish_horizon', 'consumer_group_admit_rows')
  LOOP
    EXECUTE format('ALTER FUNCTION %s SECURITY DEFINER SET search_path = %I, pg_temp', v_fn, v_schema);
    EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', v_fn);
    FOR v_role IN SELECT DISTINCT a.grantee::regrole::text
                    FROM pg_proc p, aclexplode(p.proacl) a
                   WHERE p.pronamespace = v_schema::regnamespace AND p.proname = 'append_events'
                     AND a.privilege_type = 'EXECUTE' AND a.grantee <> p.proowner AND a.grantee <> 0
    LOOP
      EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %s', v_fn, v_role);
      EXECUTE format('GRANT SELECT ON published_horizon TO %s', v_role);
    END LOOP;
  END LOOP;
END
$$;
