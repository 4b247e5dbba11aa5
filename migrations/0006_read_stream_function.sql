-- readStream through a function: the statement a stream read sent (a CTE that applies the
-- stream's retention and deletion, then the page) was parsed and planned on every call, which
-- cost more than reading 100 events. PL/pgSQL caches the plans of the statements inside it per
-- session, and unlike a named prepared statement that works through transaction-mode poolers.
-- Visibility is the same as before (truncateBefore, which a delete raises and never lowers,
-- maxCount, maxAge, tombstone); a stream without a row in streams shows everything.
CREATE FUNCTION read_stream(p_stream_id text, p_from bigint, p_limit bigint, p_backward boolean)
RETURNS TABLE ("position" bigint, stream_id text, version bigint, id uuid, type text,
               data jsonb, metadata jsonb, data_version int, created_at timestamptz)
LANGUAGE plpgsql STABLE
-- Cached plans outlive the statistics they were made with: index lookups only.
SET enable_seqscan = off
SET search_path FROM CURRENT AS $$
#variable_conflict use_column
DECLARE
  v_min_version    bigint := 0;
  -- NULL without maxAge, so the filters below never become index conditions on created_at.
  v_min_created_at timestamptz;
  v_stream         record;
BEGIN
  SELECT st.tombstoned_at, st.truncate_before, st.max_count, st.max_age_seconds INTO v_stream
    FROM streams st WHERE st.stream_id = p_stream_id;
  IF FOUND THEN
    IF v_stream.tombstoned_at IS NOT NULL THEN
      RETURN;
    END IF;
    v_min_version := COALESCE(v_stream.truncate_before, 0);
    IF v_stream.max_count IS NOT NULL THEN
      v_min_version := GREATEST(v_min_version,
        (SELECT max(m.version) FROM events m WHERE m.stream_id = p_stream_id) - v_stream.max_count + 1);
    END IF;
    IF v_stream.max_age_seconds IS NOT NULL THEN
      v_min_created_at := now() - make_interval(secs => v_stream.max_age_seconds);
    END IF;
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
