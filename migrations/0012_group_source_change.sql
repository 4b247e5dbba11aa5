-- A consumer group's source can change in place: its position, window and dead letters stay.
-- Like every writing entry point since 0011: run as the owner, search_path fixed to the schema
-- then pg_temp, executable only by the roles that may append (the runtime roles).
-- The row lock waits for an admission in progress (admission takes the row FOR UPDATE SKIP
-- LOCKED), so every event past the cursor is filtered by exactly one of the two sources.
CREATE FUNCTION consumer_group_change_source(
  p_name text, p_category text, p_event_types text[], p_stream_ids text[], p_stream_prefix text)
RETURNS TABLE (old_category text, old_event_types text[], old_stream_ids text[],
               old_stream_prefix text, cursor_position bigint)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path FROM CURRENT AS $$
#variable_conflict use_column
DECLARE
  v_group consumer_groups%ROWTYPE;
BEGIN
  SELECT * INTO v_group FROM consumer_groups g WHERE g.name = p_name FOR UPDATE;
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

DO $$
DECLARE
  v_schema text := current_schema();
  v_fn     regprocedure := 'consumer_group_change_source(text, text, text[], text[], text)'::regprocedure;
  v_role   text;
BEGIN
  EXECUTE format('ALTER FUNCTION %s SET search_path = %I, pg_temp', v_fn, v_schema);
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
