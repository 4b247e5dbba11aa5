-- What an aggregate load promises (issue 17), load_aggregate (migrations/0006) corrected:
--
-- 1. A tombstoned stream is said so. Its events are hidden, so a load used to return the initial
--    state at version 0 and `handle` decided as if the stream were new; the header now carries
--    `tombstoned` and nothing else is returned, and the caller refuses the load
--    (StreamDeletedError) before decide runs.
-- 2. The header carries the point the bounds stand for (`point`: the highest version they keep),
--    so the caller can tell a point in a soft-deleted earlier life of the stream (or before its
--    first event), which loads as the initial state, from a point inside a hidden part of the
--    current life, which no snapshot stands in for (SnapshotRequiredError).
-- 3. asOf keeps covering its whole millisecond (migrations/0005): an event is at or before asOf
--    when its createdAt, which reads back in milliseconds, is; in microseconds, when created_at
--    < asOf + 1 ms. So a load as of an event's own createdAt includes that event.
--
-- Rows, in this order:
-- * kind 0, one row: version = the first version of the stream still visible (NULL: none);
--   "position" = the version a delete hid up to (0: none); data = {"tombstoned": bool,
--   "pinned": the stream version of the newest pinned snapshot of p_aggregate whose last event is
--   visible, of any snapshot version, as text, or null, "point": the highest version the bounds
--   keep, as text, or null (no bound; or not needed: a snapshot was found, or the history is
--   visible from version 1)}. For a tombstoned stream this is the only row.
-- * kind 1, at most one row: the newest usable snapshot within the bounds (as in 0004).
-- * kind 2: the visible events after that snapshot (or from the start) within the bounds.

-- CREATE OR REPLACE resets the security attributes a function was given; keep them (another
-- migration may run this function as its owner).
SELECT set_config('strata.load_aggregate_security_definer',
  (SELECT p.prosecdef::text FROM pg_proc p
    WHERE p.oid = 'load_aggregate(text, text, int, bigint, bigint, timestamptz)'::regprocedure),
  true);

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
  v_found          boolean := false;
  v_deleted_upto   bigint;
  v_first_visible  bigint;
  v_pinned         bigint;
  v_point          bigint;
BEGIN
  SELECT v.min_version, v.min_created_at, v.deleted_upto
    INTO v_min_version, v_min_created_at, v_deleted_upto
    FROM stream_visibility(p_stream_id) v;
  -- stream_visibility's mark of a tombstone (migrations/0006).
  IF v_min_version = 9223372036854775807 THEN
    kind := 0;
    "position" := v_deleted_upto;
    stream_id := p_stream_id;
    data := jsonb_build_object('tombstoned', true, 'pinned', NULL, 'point', NULL);
    RETURN NEXT;
    RETURN;
  END IF;
  IF p_as_of IS NOT NULL THEN
    -- A prefix: everything before the first event written after asOf's millisecond, visible or
    -- not, so a clock that stepped back never leaves a hole in the history folded.
    v_max_version := LEAST(v_max_version, COALESCE(
      (SELECT min(t.version) - 1 FROM events t
        WHERE t.stream_id = p_stream_id AND t.created_at >= p_as_of + interval '1 millisecond'),
      v_max_version));
  END IF;

  v_first_visible := (SELECT f.version FROM events f
                       WHERE f.stream_id = p_stream_id AND f.version >= v_min_version
                         AND (v_min_created_at IS NULL OR f.created_at >= v_min_created_at)
                       ORDER BY f.version LIMIT 1);
  v_pinned := (SELECT max(p.stream_version) FROM snapshots p
                 JOIN events pe ON pe.stream_id = p.stream_id AND pe.version = p.stream_version
                WHERE p.stream_id = p_stream_id AND p.aggregate = p_aggregate AND p.pinned
                  AND pe.version >= v_min_version
                  AND (v_min_created_at IS NULL OR pe.created_at >= v_min_created_at));

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
    v_found := FOUND;
  END IF;

  -- The point matters only to a bounded load that must replay a stream whose first events are
  -- hidden; only then is the position bound turned into a version (it costs a walk of the
  -- stream, as the asOf bound does). Positions grow with versions within a stream.
  IF NOT v_found AND v_first_visible > 1
     AND (p_max_version IS NOT NULL OR p_max_position IS NOT NULL OR p_as_of IS NOT NULL) THEN
    v_point := v_max_version;
    IF p_max_position IS NOT NULL THEN
      v_point := LEAST(v_point, COALESCE(
        (SELECT min(t.version) - 1 FROM events t
          WHERE t.stream_id = p_stream_id AND t."position" > p_max_position),
        v_point));
    END IF;
  END IF;

  -- Header.
  kind := 0;
  "position" := v_deleted_upto;
  version := v_first_visible;
  data := jsonb_build_object('tombstoned', false, 'pinned', v_pinned::text,
                             'point', v_point::text);
  stream_id := p_stream_id;
  RETURN NEXT;

  IF v_found THEN
    kind := 1;
    "position" := v_snap.pos;
    version := v_snap.stream_version;
    data := v_snap.state;
    data_version := v_snap.snapshot_version;
    created_at := v_snap.created_at;
    RETURN NEXT;
    v_after := v_snap.stream_version;
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

DO $$
BEGIN
  IF current_setting('strata.load_aggregate_security_definer', true) = 'true' THEN
    ALTER FUNCTION load_aggregate(text, text, int, bigint, bigint, timestamptz) SECURITY DEFINER;
  END IF;
END
$$;
