-- The safe horizon lists the holders of the events table's own ROW EXCLUSIVE lock (issue 19;
-- docs/guarantees.md, "Why $all never skips"). Runs with search_path set to the store's schema;
-- nothing here names the schema.
--
-- Since 0011 every appender announced itself with `LOCK TABLE append_gate IN ROW EXCLUSIVE MODE`
-- before taking a position. The INSERT into events already does that: a statement that inserts
-- into a table holds ROW EXCLUSIVE on it from before it runs (the parser, or the plan cache when
-- it checks a cached plan, takes the lock; the position's nextval runs later, in the executor)
-- until its transaction ends, and on a partitioned events table on the parent too. So the gate
-- was a second lock of the same kind, one more statement in every append (−10% of the single
-- append's throughput in pgbench, migrations/0016's comment).
--
-- What a stranger can do is unchanged: taking ROW EXCLUSIVE on events needs INSERT, UPDATE,
-- DELETE or TRUNCATE on it (LOCK TABLE checks first) or naming it in a statement that locks before
-- it checks (PREPARE … INSERT INTO), which needs USAGE on the schema; a stranger has neither, as
-- it had neither for append_gate. The runtime role has USAGE and could lock either table that way;
-- it may append, and so hold the horizon, anyway. Who else takes that mode: scavenge_batch's
-- DELETE (the owner's, short), and appends of every earlier version of the functions (they all
-- insert into events), so an upgrade needs no transition: this covers old appenders too, including
-- those of 0008's advisory lock.

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

-- append_event (0016) and append_events (0011) without the gate. Rewritten from their own
-- definitions, so that nothing else of them changes (ownership, SECURITY DEFINER, search_path,
-- grants stay: CREATE OR REPLACE keeps them).
DO $$
DECLARE
  v_fn   regprocedure;
  v_def  text;
  v_gate constant text := 'LOCK TABLE append_gate IN ROW EXCLUSIVE MODE;';
BEGIN
  FOREACH v_fn IN ARRAY ARRAY[
    'append_event(text, text, bigint, uuid, text, jsonb, jsonb, integer, boolean, integer)'::regprocedure,
    'append_events(text[], text[], bigint[], int[], boolean[], uuid[], text[], jsonb[], jsonb[], int[], boolean, int)'::regprocedure]
  LOOP
    v_def := pg_get_functiondef(v_fn);
    IF position(v_gate IN v_def) = 0 THEN
      RAISE EXCEPTION '% does not take the append gate: not the definition this migration expects', v_fn;
    END IF;
    v_def := regexp_replace(v_def, '\n *-- Announce this appender before any position[^\n]*', '', 'g');
    v_def := replace(v_def, v_gate, '-- Its INSERT into events announces it to safe_horizon (migrations/0017).');
    EXECUTE v_def;
  END LOOP;
END
$$;

-- Like every function since 0011 that fixes its search_path: this schema, then pg_temp.
DO $$
BEGIN
  EXECUTE format('ALTER FUNCTION safe_horizon(int) SET search_path = %I, pg_temp', current_schema());
END
$$;

DROP TABLE append_gate;

-- The key of 0008's shared advisory lock, which nothing takes or lists any more.
DROP FUNCTION append_lock_key();
