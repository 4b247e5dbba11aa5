-- Snapshots of aggregate state (docs/aggregates.md) and truncation of a stream behind one.
-- Runs with search_path set to the store's schema; nothing here names the schema.

-- A snapshot is a cache of a fold over a stream, never the source of truth. It is used only when
-- * it was made by the fold the aggregate runs now (snapshot_version, which the user bumps when
--   evolve or the state's shape changes), and
-- * the event it ends at (stream_id, stream_version) is still visible in the stream. A version
--   belongs to one event forever (versions continue after deletes and scavenges), so this also
--   throws away every snapshot of a soft-deleted or tombstoned stream: deletion hides that event.
-- Several aggregates may fold one stream; each keeps its own snapshots (aggregate = its name).
CREATE TABLE snapshots (
  stream_id        text        NOT NULL,
  aggregate        text        NOT NULL,
  -- Version of the last event the state covers.
  stream_version   bigint      NOT NULL,
  snapshot_version int         NOT NULL,
  state            jsonb       NOT NULL,
  -- The snapshot a truncation of the stream relies on: never pruned, and a load that cannot use
  -- it (its snapshot version is outdated) fails loudly instead of folding a partial history.
  pinned           boolean     NOT NULL DEFAULT false,
  created_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
  CONSTRAINT snapshots_pkey PRIMARY KEY (stream_id, aggregate, stream_version),
  CONSTRAINT snapshots_stream_version_check CHECK (stream_version > 0),
  CONSTRAINT snapshots_snapshot_version_check CHECK (snapshot_version > 0),
  CONSTRAINT snapshots_aggregate_check CHECK (aggregate <> '')
);

-- Truncates a stream before p_before (its events below it are hidden from reads, and scavenge
-- removes them), but only when a snapshot of p_aggregate at p_snapshot_version covers the hidden
-- prefix: its last event is at or after p_before and still visible. That snapshot is pinned.
-- truncate_before only moves forward here. Raises SX003 for a tombstoned stream and SX501
-- (DETAIL = the newest usable snapshot's version, or 0) when no snapshot covers the prefix.
-- Concurrency: under the stream lock, like appends and deletes, so the check and the update see
-- one state of the stream; a concurrent append only adds events after the snapshot.
CREATE FUNCTION truncate_behind_snapshot(
  p_stream_id text,
  p_aggregate text,
  p_snapshot_version int,
  p_before bigint
) RETURNS bigint
LANGUAGE plpgsql VOLATILE
-- Cached plans outlive the statistics they were made with: index lookups only.
SET enable_seqscan = off
SET search_path FROM CURRENT AS $$
DECLARE
  v_state  record;
  v_cover  bigint;
  v_newest bigint;
  v_result bigint;
BEGIN
  PERFORM lock_stream(p_stream_id);
  v_state := stream_state(p_stream_id);
  IF v_state.tombstoned THEN
    RAISE EXCEPTION 'stream % is tombstoned', p_stream_id USING ERRCODE = 'SX003';
  END IF;
  -- Usable snapshots: the current snapshot version, ending at a visible event.
  WITH usable AS (
    SELECT sn.stream_version
      FROM snapshots sn
      JOIN events e ON e.stream_id = sn.stream_id AND e.version = sn.stream_version
      LEFT JOIN streams st ON st.stream_id = sn.stream_id
     WHERE sn.stream_id = p_stream_id AND sn.aggregate = p_aggregate
       AND sn.snapshot_version = p_snapshot_version
       AND st.deleted_at IS NULL
       AND e.version >= COALESCE(st.truncate_before, 0)
       AND (st.max_count IS NULL OR e.version > v_state.version - st.max_count)
       AND (st.max_age_seconds IS NULL
            OR e.created_at >= now() - make_interval(secs => st.max_age_seconds))
  )
  SELECT min(u.stream_version) FILTER (WHERE u.stream_version >= p_before), max(u.stream_version)
    INTO v_cover, v_newest FROM usable u;
  IF v_cover IS NULL THEN
    RAISE EXCEPTION 'no snapshot of % covers stream % before %', p_aggregate, p_stream_id, p_before
      USING ERRCODE = 'SX501', DETAIL = COALESCE(v_newest, 0)::text;
  END IF;
  UPDATE snapshots SET pinned = true
   WHERE stream_id = p_stream_id AND aggregate = p_aggregate AND stream_version = v_cover;
  INSERT INTO streams AS s (stream_id, truncate_before)
  VALUES (p_stream_id, p_before)
  ON CONFLICT (stream_id) DO UPDATE
    SET truncate_before = GREATEST(COALESCE(s.truncate_before, 0), EXCLUDED.truncate_before),
        updated_at = clock_timestamp()
  RETURNING s.truncate_before INTO v_result;
  RETURN v_result;
END
$$;

-- Everything a load of an aggregate needs, in one round trip and one snapshot of the database
-- (STABLE: every statement sees the caller's snapshot, so the snapshot row, the header and the
-- events agree with each other). plpgsql, so each statement's plan is cached per session
-- instead of planned on every call. Rows, in this order:
-- * kind 0, one row: version = the first version of the stream still visible (NULL: none);
--   data = the stream version of the newest pinned snapshot of p_aggregate whose last event is
--   visible, of any snapshot version (a truncation relies on it), or NULL;
-- * kind 1, at most one row: the newest usable snapshot within the bounds (p_snapshot_version
--   NULL: none is looked for): version = the stream version it covers, data = the state,
--   data_version = its snapshot version, position and created_at = of its last event and of
--   the snapshot. Usable: made by p_snapshot_version, its last event visible now (so a
--   snapshot of a deleted life of the stream never is) and within the bounds (so a snapshot
--   newer than the requested point never is);
-- * kind 2: the visible events after that snapshot (or from the start) within the bounds, in
--   version order, with the columns of the events table.
-- Visibility follows the store's stream reads (truncateBefore, which a soft delete also sets,
-- maxCount, maxAge, tombstone). Bounds: p_max_version; p_max_position (a stream's positions grow
-- with its versions, so this is a prefix); p_as_of, turned into a prefix too (everything before
-- the first event written after it), so a clock that stepped back can never leave a hole in the
-- history a state is built from.
CREATE FUNCTION load_aggregate(
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
  v_min_version    bigint := 0;
  -- NULL without maxAge, so the filters below never become index conditions on created_at.
  v_min_created_at timestamptz;
  v_max_version    bigint := COALESCE(p_max_version, 9223372036854775807);
  v_after          bigint := 0;
  v_stream         record;
  v_snap           record;
BEGIN
  SELECT st.tombstoned_at, st.truncate_before, st.max_count, st.max_age_seconds INTO v_stream
    FROM streams st WHERE st.stream_id = p_stream_id;
  IF FOUND THEN
    IF v_stream.tombstoned_at IS NOT NULL THEN
      v_min_version := 9223372036854775807;
    ELSE
      v_min_version := COALESCE(v_stream.truncate_before, 0);
      IF v_stream.max_count IS NOT NULL THEN
        v_min_version := GREATEST(v_min_version,
          (SELECT max(m.version) FROM events m WHERE m.stream_id = p_stream_id) - v_stream.max_count + 1);
      END IF;
      IF v_stream.max_age_seconds IS NOT NULL THEN
        v_min_created_at := now() - make_interval(secs => v_stream.max_age_seconds);
      END IF;
    END IF;
  END IF;
  IF p_as_of IS NOT NULL THEN
    v_max_version := LEAST(v_max_version, COALESCE(
      (SELECT min(t.version) - 1 FROM events t
        WHERE t.stream_id = p_stream_id AND t.created_at > p_as_of), v_max_version));
  END IF;

  -- Header.
  kind := 0;
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
