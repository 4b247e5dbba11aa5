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
