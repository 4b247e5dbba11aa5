-- A consumer group that starts at a time (startFrom: Date) or is reset to one starts just before
-- the first event *of its source* created at or after that time, not the first event of the
-- whole log. Both give the same events when created_at follows position, but it does not
-- exactly: an event of the source committed after an event of another stream can carry an
-- earlier created_at, and the group would then deliver an event created before the time asked.
-- With no event of the source at or after the time, the group starts after the last event.

CREATE FUNCTION consumer_group_start_cursor(
  p_kind text, p_position bigint, p_time timestamptz,
  p_category text, p_event_types text[], p_stream_ids text[], p_stream_prefix text)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SET search_path FROM CURRENT AS $$
DECLARE
  v_first bigint;
BEGIN
  IF p_kind <> 'time' THEN
    RETURN consumer_group_start_cursor(p_kind, p_position, p_time);
  END IF;
  SELECT min(e.position) INTO v_first
    FROM events e
   WHERE e.created_at >= p_time
     AND consumer_group_source_matches(p_category, p_event_types, p_stream_ids, p_stream_prefix,
                                       e.stream_id, e.type);
  IF v_first IS NULL THEN
    RETURN (SELECT COALESCE(max(e.position), 0) FROM events e);
  END IF;
  RETURN v_first - 1;
END
$$;

CREATE OR REPLACE FUNCTION consumer_group_ensure(
  p_name text, p_category text, p_event_types text[], p_stream_ids text[], p_stream_prefix text,
  p_strategy text, p_hold boolean, p_start text, p_start_position bigint, p_start_time timestamptz)
RETURNS SETOF consumer_groups
LANGUAGE plpgsql VOLATILE SET search_path FROM CURRENT AS $$
BEGIN
  RETURN QUERY SELECT * FROM consumer_groups g WHERE g.name = p_name;
  IF FOUND THEN
    RETURN;
  END IF;
  INSERT INTO consumer_groups (name, source_category, source_event_types, source_stream_ids,
                               source_stream_prefix, strategy, hold_parked_streams, cursor_position)
  VALUES (p_name, p_category, p_event_types, p_stream_ids, p_stream_prefix, p_strategy, p_hold,
          consumer_group_start_cursor(p_start, p_start_position, p_start_time, p_category,
                                      p_event_types, p_stream_ids, p_stream_prefix))
  ON CONFLICT (name) DO NOTHING;
  RETURN QUERY SELECT * FROM consumer_groups g WHERE g.name = p_name;
END
$$;

CREATE OR REPLACE FUNCTION consumer_group_reset(p_group_id int, p_kind text, p_position bigint, p_time timestamptz)
RETURNS TABLE (cursor_position bigint, removed int)
LANGUAGE plpgsql VOLATILE SET search_path FROM CURRENT AS $$
#variable_conflict use_column
DECLARE
  v_group   consumer_groups%ROWTYPE;
  v_cursor  bigint;
  v_removed int;
BEGIN
  SELECT * INTO v_group FROM consumer_groups g WHERE g.id = p_group_id FOR UPDATE;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  v_cursor := consumer_group_start_cursor(p_kind, p_position, p_time, v_group.source_category,
                                          v_group.source_event_types, v_group.source_stream_ids,
                                          v_group.source_stream_prefix);
  DELETE FROM consumer_group_messages m WHERE m.group_id = p_group_id AND m.parked_at IS NULL;
  GET DIAGNOSTICS v_removed = ROW_COUNT;
  UPDATE consumer_groups g SET cursor_position = v_cursor WHERE g.id = p_group_id;
  RETURN QUERY SELECT v_cursor, v_removed;
END
$$;
