-- One definition of what a stream shows, for the stream reads and for aggregate loads alike.
--
-- 1. read_stream: the statement readStream sent (a CTE applying the stream's retention and
--    deletion, then the page) was parsed and planned on every call, which cost more than reading
--    100 events. PL/pgSQL caches the plans of the statements inside it per session and, unlike a
--    named prepared statement, works through transaction-mode poolers.
-- 2. stream_visibility: the visibility rules read_stream and load_aggregate (migrations/0005)
--    each computed on their own, now in one place; load_aggregate is otherwise unchanged.

-- What a stream shows: versions >= min_version (truncateBefore, which a delete raises and never
-- lowers, and maxCount; int8 max once tombstoned) created at or after min_created_at (maxAge; NULL
-- without it, so callers' filters never become index conditions on created_at). deleted_upto is
-- the version a delete hid up to (0: none). A stream without a row in streams shows everything.
CREATE FUNCTION stream_visibility(p_stream_id text, OUT min_version bigint,
                                  OUT min_created_at timestamptz, OUT deleted_upto bigint)
LANGUAGE plpgsql STABLE
-- Cached plans outlive the statistics they were made with: index lookups only.
SET enable_seqscan = off
SET search_path FROM CURRENT AS $$
DECLARE
  v_stream record;
BEGIN
  min_version := 0;
  deleted_upto := 0;
  SELECT st.deleted_before, st.tombstoned_at, st.truncate_before, st.max_count, st.max_age_seconds
    INTO v_stream
    FROM streams st WHERE st.stream_id = p_stream_id;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  deleted_upto := COALESCE(v_stream.deleted_before - 1, 0);
  IF v_stream.tombstoned_at IS NOT NULL THEN
    min_version := 9223372036854775807;
    RETURN;
  END IF;
  min_version := COALESCE(v_stream.truncate_before, 0);
  IF v_stream.max_count IS NOT NULL THEN
    min_version := GREATEST(min_version,
      (SELECT max(m.version) FROM events m WHERE m.stream_id = p_stream_id) - v_stream.max_count + 1);
  END IF;
  IF v_stream.max_age_seconds IS NOT NULL THEN
    min_created_at := now() - make_interval(secs => v_stream.max_age_seconds);
  END IF;
END
$$;

-- A page of a stream's visible events, forward from p_from or backward from it (inclusive).
CREATE FUNCTION read_stream(p_stream_id text, p_from bigint, p_limit bigint, p_backward boolean)
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
  SELECT v.min_version, v.min_created_at INTO v_min_version, v_min_created_at
    FROM stream_visibility(p_stream_id) v;
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

CREATE OR REPLACE FUNCTION load_aggregate(
  p_stream_id text,
  p_aggregate text,
  p_snapshot_version int,
  p_max_version bigint,
  p_max_position bigint,
  p_as_of timestamptz
) RETURNS TABLE (kind int, "position" bigint, stream_id text, version bigint, id uuid, type text,
                 data jsonb, metadata jsonb, data_version int, created_at timestamptz)
LANGUAGE plpgsql STABLE
-- Cached plans outlive the statistics they were made with: index lookups only.
SET enable_seqscan = off
SET search_path FROM CURRENT AS $$
#variable_conflict use_column
DECLARE
  v_min_version    bigint;
  v_min_created_at timestamptz;
  v_max_version    bigint := COALESCE(p_max_version, 9223372036854775807);
  v_after          bigint := 0;
  v_snap           record;
  v_deleted_upto   bigint;
BEGIN
  SELECT v.min_version, v.min_created_at, v.deleted_upto
    INTO v_min_version, v_min_created_at, v_deleted_upto
    FROM stream_visibility(p_stream_id) v;
  IF p_as_of IS NOT NULL THEN
    v_max_version := LEAST(v_max_version, COALESCE(
      (SELECT min(t.version) - 1 FROM events t
        WHERE t.stream_id = p_stream_id AND t.created_at >= p_as_of + interval '1 millisecond'),
      v_max_version));
  END IF;

  -- Header.
  kind := 0;
  "position" := v_deleted_upto;
  version := (SELECT f.version FROM events f
               WHERE f.stream_id = p_stream_id AND f.version >= v_min_version
                 AND (v_min_created_at IS NULL OR f.created_at >= v_min_created_at)
               ORDER BY f.version LIMIT 1);
  data := (SELECT to_jsonb(max(p.stream_version)) FROM snapshots p
             JOIN events pe ON pe.stream_id = p.stream_id AND pe.version = p.stream_version
            WHERE p.stream_id = p_stream_id AND p.aggregate = p_aggregate AND p.pinned
              AND pe.version >= v_min_version
              AND (v_min_created_at IS NULL OR pe.created_at >= v_min_created_at));
  stream_id := p_stream_id;
  RETURN NEXT;

  IF p_snapshot_version IS NOT NULL THEN
    SELECT sn.stream_version, sn.snapshot_version, sn.state, sn.created_at, e.position AS pos
      INTO v_snap
      FROM snapshots sn
      JOIN events e ON e.stream_id = sn.stream_id AND e.version = sn.stream_version
     WHERE sn.stream_id = p_stream_id AND sn.aggregate = p_aggregate
       AND sn.snapshot_version = p_snapshot_version
       AND sn.stream_version <= v_max_version AND sn.stream_version >= v_min_version
       AND (p_max_position IS NULL OR e.position <= p_max_position)
       AND (v_min_created_at IS NULL OR e.created_at >= v_min_created_at)
     ORDER BY sn.stream_version DESC
     LIMIT 1;
    IF FOUND THEN
      kind := 1;
      "position" := v_snap.pos;
      version := v_snap.stream_version;
      data := v_snap.state;
      data_version := v_snap.snapshot_version;
      created_at := v_snap.created_at;
      RETURN NEXT;
      v_after := v_snap.stream_version;
    END IF;
  END IF;

  RETURN QUERY
    SELECT 2, e.position, e.stream_id, e.version, e.id, e.type, e.data, e.metadata,
           e.data_version, e.created_at
      FROM events e
     WHERE e.stream_id = p_stream_id
       AND e.version > GREATEST(v_after, v_min_version - 1) AND e.version <= v_max_version
       AND (p_max_position IS NULL OR e.position <= p_max_position)
       AND (v_min_created_at IS NULL OR e.created_at >= v_min_created_at)
     ORDER BY e.version;
END
$$;
