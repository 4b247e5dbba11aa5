-- Corrections to earlier migrations.
--
-- 1. A soft delete or tombstone hides a stream's events by raising truncate_before (as
--    EventStoreDB's $tb does), and setStreamMetadata replaced truncate_before with whatever the
--    caller gave: changing a deleted stream's metadata brought its deleted events back. The
--    version a delete hid up to now has a column of its own, and truncate_before never goes
--    below it. delete_stream also checks its expected version exactly like an append does (0n:
--    no stream, which a soft-deleted stream counts as).
--
-- 2. load_aggregate (migrations/0004):
--    * p_as_of is a JavaScript Date, which has milliseconds, while created_at has microseconds:
--      an event written at 12:00:00.123456 is "at or before" 12:00:00.123 (the time its own
--      createdAt reads as), so the first event after p_as_of is the first one at or after
--      p_as_of + 1 ms.
--    * The header row's "position" carries the version a delete hid up to (0: none). History
--      hidden above it was hidden by truncateBefore or retention, so a load without a snapshot
--      that covers it would fold a partial history; the caller refuses that
--      (SnapshotRequiredError).

-- 3. Inline projections are applied in each append's own transaction, so they have no position
--    to advance (a shared row updated by every append would serialise them); status reports them
--    as current instead of as far behind the head.
ALTER TABLE projections ADD COLUMN inline boolean NOT NULL DEFAULT false;

ALTER TABLE streams ADD COLUMN deleted_before bigint;
ALTER TABLE streams ADD CONSTRAINT streams_deleted_before_check
  CHECK (deleted_before IS NULL OR deleted_before > 0);
-- Streams deleted before this migration: a delete set truncate_before to the version floor + 1,
-- and a scavenge since may have raised the floor past it (to the stream's last version). A
-- truncation behind a pinned snapshot is not a delete. Rows this cannot tell apart (a plain
-- truncateBefore later scavenged) keep the old behaviour: loads fold what the stream shows.
UPDATE streams st SET deleted_before = st.truncate_before
 WHERE st.truncate_before IS NOT NULL AND st.truncate_before > 1
   AND st.truncate_before <= st.version + 1
   AND NOT EXISTS (SELECT 1 FROM snapshots p
                    WHERE p.stream_id = st.stream_id AND p.pinned
                      AND p.stream_version >= st.truncate_before);

CREATE OR REPLACE FUNCTION delete_stream(p_stream_id text, p_mode text, p_expected text, p_expected_version bigint)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SET search_path FROM CURRENT AS $$
DECLARE
  v_state record;
BEGIN
  PERFORM lock_stream(p_stream_id);
  v_state := stream_state(p_stream_id);
  IF v_state.tombstoned THEN
    RAISE EXCEPTION 'stream % is tombstoned', p_stream_id USING ERRCODE = 'SX003';
  END IF;
  IF NOT expected_version_ok(p_expected, p_expected_version, v_state.version, v_state.deleted) THEN
    RAISE EXCEPTION 'wrong expected version for stream %', p_stream_id USING
      ERRCODE = 'SX001', DETAIL = v_state.version::text;
  END IF;
  IF p_mode = 'soft' AND v_state.version = 0 THEN
    RETURN 0; -- nothing to delete
  END IF;
  INSERT INTO streams AS s (stream_id, version, deleted_at, tombstoned_at, truncate_before, deleted_before)
  VALUES (p_stream_id, v_state.version, clock_timestamp(),
          CASE WHEN p_mode = 'tombstone' THEN clock_timestamp() END, v_state.version + 1,
          v_state.version + 1)
  ON CONFLICT (stream_id) DO UPDATE
    SET version = EXCLUDED.version, deleted_at = EXCLUDED.deleted_at,
        tombstoned_at = EXCLUDED.tombstoned_at,
        truncate_before = EXCLUDED.truncate_before,
        deleted_before = EXCLUDED.deleted_before,
        updated_at = clock_timestamp();
  RETURN v_state.version;
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
  v_min_version    bigint := 0;
  -- NULL without maxAge, so the filters below never become index conditions on created_at.
  v_min_created_at timestamptz;
  v_max_version    bigint := COALESCE(p_max_version, 9223372036854775807);
  v_after          bigint := 0;
  v_stream         record;
  v_snap           record;
  v_deleted_upto   bigint := 0;
BEGIN
  SELECT st.deleted_before, st.tombstoned_at, st.truncate_before, st.max_count, st.max_age_seconds INTO v_stream
    FROM streams st WHERE st.stream_id = p_stream_id;
  IF FOUND THEN
    v_deleted_upto := COALESCE(v_stream.deleted_before - 1, 0);
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
