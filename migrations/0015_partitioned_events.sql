-- Range partitioning of events by position, and archiving of old partitions (issue 14,
-- docs/partitioning.md). Opt-in: this migration only adds what a partitioned store needs; the
-- events table stays as it is until the schema owner runs enable_event_partitioning().
-- Runs with search_path set to the store's schema; nothing here names the schema.
--
-- Layout of a partitioned store: events is partitioned by RANGE (position); the rows that were
-- there become the first partition (events_p0, [0, first boundary)); then partitions of
-- partition_size positions each (events_p<from>); last a tail, [last boundary, MAXVALUE), so
-- an append never finds no partition. create_event_partitions() keeps partitions ahead of the
-- head and turns a tail that received rows into a regular partition. No DEFAULT partition:
-- DETACH PARTITION CONCURRENTLY refuses to run beside one.
--
-- What a partitioned table cannot have is a unique index without the partition key, so:
-- * event ids: event_ids holds every id with its position (a trigger fills it), its primary key
--   keeps ids unique across partitions and after archiving; each partition keeps a plain index
--   on id for the lookups of idempotent appends;
-- * stream versions: unique within each partition by an index; across partitions by the stream
--   lock every append takes (migrations/0011) and its reading of the stream's version under the
--   lock, as before. Archiving first raises each stream's version floor (streams.version) to
--   its highest archived version, so a stream's next version never repeats an archived one.
--
-- Archived ranges: event_archive lists them, written before the partition is detached. Every
-- read that would need an archived event raises SX020 ($all from a position inside an archived
-- range) or SX021 (a stream's archived versions) instead of skipping it.

CREATE TABLE event_partitioning (
  singleton      boolean     NOT NULL DEFAULT true,
  partition_size bigint      NOT NULL,
  enabled_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
  CONSTRAINT event_partitioning_pkey PRIMARY KEY (singleton),
  CONSTRAINT event_partitioning_singleton CHECK (singleton),
  CONSTRAINT event_partitioning_size CHECK (partition_size >= 1)
);

CREATE TABLE event_archive (
  partition_name text        NOT NULL,
  from_position  bigint      NOT NULL,
  -- Exclusive: positions below it are archived (ranges are archived oldest first).
  to_position    bigint      NOT NULL,
  events         bigint      NOT NULL,
  -- 'detaching' (floors raised, detach not finished), 'detached' (a plain table now), 'dropped'.
  state          text        NOT NULL DEFAULT 'detaching',
  archived_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
  CONSTRAINT event_archive_pkey PRIMARY KEY (partition_name),
  CONSTRAINT event_archive_range CHECK (to_position > from_position),
  CONSTRAINT event_archive_state CHECK (state IN ('detaching', 'detached', 'dropped'))
);

CREATE TABLE event_ids (
  id       uuid   NOT NULL,
  position bigint NOT NULL,
  CONSTRAINT event_ids_pkey PRIMARY KEY (id)
);

-- The highest version of the stream that lies in an archived partition (null: none).
ALTER TABLE streams ADD COLUMN archived_through bigint;

-- The first position that is not archived (0: nothing is).
CREATE FUNCTION archived_before() RETURNS bigint
LANGUAGE sql STABLE SET search_path FROM CURRENT AS $$
  SELECT COALESCE(max(a.to_position), 0) FROM event_archive a
$$;

-- Raises SX020 when reading $all after p_after would skip archived events; true otherwise.
-- Page statements call it as a one-time filter, in the page's own snapshot: a page that no
-- longer sees a detached partition sees the archive row written before the detach began.
CREATE FUNCTION assert_not_archived(p_after bigint) RETURNS boolean
LANGUAGE plpgsql STABLE SET search_path FROM CURRENT AS $$
DECLARE
  v_before bigint := archived_before();
BEGIN
  IF p_after IS NOT NULL AND v_before > 0 AND p_after < v_before - 1 THEN
    RAISE EXCEPTION 'events up to position % are archived: reading after position % would skip them',
      v_before - 1, p_after
      USING ERRCODE = 'SX020', DETAIL = (v_before - 1)::text, HINT = p_after::text;
  END IF;
  RETURN true;
END
$$;

-- Records the ids of inserted events (statement trigger on the partitioned events table).
CREATE FUNCTION event_ids_record() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
  INSERT INTO event_ids (id, position) SELECT n.id, n.position FROM new_rows n;
  RETURN NULL;
END
$$;

-- A stream read that would need archived versions raises SX021 (DETAIL: the last archived
-- version). Otherwise as in migrations/0006.
CREATE OR REPLACE FUNCTION read_stream(p_stream_id text, p_from bigint, p_limit bigint, p_backward boolean)
RETURNS TABLE("position" bigint, stream_id text, version bigint, id uuid, type text, data jsonb,
              metadata jsonb, data_version integer, created_at timestamptz)
LANGUAGE plpgsql STABLE SET enable_seqscan = off SET search_path FROM CURRENT AS $$
#variable_conflict use_column
DECLARE
  v_min_version    bigint := 0;
  v_min_created_at timestamptz;
  v_archived       bigint;
  v_rows           bigint;
BEGIN
  -- Most streams have no row in streams (no retention, never deleted, nothing archived) and
  -- show everything: one probe of its key answers that.
  SELECT st.archived_through INTO v_archived FROM streams st WHERE st.stream_id = p_stream_id;
  IF FOUND THEN
    SELECT v.min_version, v.min_created_at INTO v_min_version, v_min_created_at
      FROM stream_visibility(p_stream_id) v;
  END IF;
  IF v_archived IS NOT NULL AND v_archived < v_min_version THEN
    v_archived := NULL; -- hidden by retention anyway
  END IF;
  IF p_backward THEN
    IF v_archived IS NOT NULL AND p_from <= v_archived THEN
      PERFORM stream_archived(p_stream_id, v_archived);
    END IF;
    RETURN QUERY
      SELECT e.position, e.stream_id, e.version, e.id, e.type, e.data, e.metadata, e.data_version, e.created_at
        FROM events e
       WHERE e.stream_id = p_stream_id AND e.version <= p_from AND e.version >= v_min_version
         AND (v_archived IS NULL OR e.version > v_archived)
         AND (v_min_created_at IS NULL OR e.created_at >= v_min_created_at)
       ORDER BY e.version DESC LIMIT p_limit;
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    -- The page ran out above the archived versions: they would have come next.
    IF v_archived IS NOT NULL AND v_rows < p_limit THEN
      PERFORM stream_archived(p_stream_id, v_archived);
    END IF;
  ELSE
    IF v_archived IS NOT NULL AND GREATEST(p_from, v_min_version) <= v_archived THEN
      PERFORM stream_archived(p_stream_id, v_archived);
    END IF;
    RETURN QUERY
      SELECT e.position, e.stream_id, e.version, e.id, e.type, e.data, e.metadata, e.data_version, e.created_at
        FROM events e
       WHERE e.stream_id = p_stream_id AND e.version >= GREATEST(p_from, v_min_version)
         AND (v_min_created_at IS NULL OR e.created_at >= v_min_created_at)
       ORDER BY e.version LIMIT p_limit;
  END IF;
END
$$;

CREATE FUNCTION stream_archived(p_stream_id text, p_archived_through bigint) RETURNS void
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
  RAISE EXCEPTION 'versions up to % of stream % are archived', p_archived_through, p_stream_id
    USING ERRCODE = 'SX021', DETAIL = p_archived_through::text, HINT = p_stream_id;
END
$$;

-- load_aggregate (migrations/0010) raising SX021 when the replay would need archived versions
-- (no usable snapshot at or after the archived ones).
CREATE OR REPLACE FUNCTION load_aggregate(p_stream_id text, p_aggregate text, p_snapshot_version integer,
                                          p_max_version bigint, p_max_position bigint, p_as_of timestamptz)
RETURNS TABLE(kind integer, "position" bigint, stream_id text, version bigint, id uuid, type text,
              data jsonb, metadata jsonb, data_version integer, created_at timestamptz)
LANGUAGE plpgsql STABLE SET enable_seqscan = off SET search_path FROM CURRENT AS $$
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
  v_archived       bigint;
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
  v_archived := (SELECT st.archived_through FROM streams st WHERE st.stream_id = p_stream_id);
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
  IF v_found THEN
    v_after := v_snap.stream_version;
  END IF;
  -- The replay starts after v_after: every version up to the archived ones must be behind it.
  IF v_archived IS NOT NULL AND GREATEST(v_after, v_min_version - 1) < v_archived THEN
    PERFORM stream_archived(p_stream_id, v_archived);
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

-- Whether the schema's events table is partitioned.
CREATE FUNCTION events_partitioned() RETURNS boolean
LANGUAGE sql STABLE SET search_path FROM CURRENT AS $$
  SELECT EXISTS (SELECT 1 FROM pg_partitioned_table p WHERE p.partrelid = to_regclass('events'))
$$;

-- The partitions of events with their bounds (to_position null: the tail, up to MAXVALUE), and
-- whether a detach of it is pending (an interrupted DETACH ... CONCURRENTLY).
CREATE FUNCTION event_partitions()
RETURNS TABLE(partition_name text, from_position bigint, to_position bigint, detach_pending boolean)
LANGUAGE sql STABLE SET search_path FROM CURRENT AS $$
  SELECT c.relname::text,
         substring(pg_get_expr(c.relpartbound, c.oid) FROM 'FROM \(''?(-?[0-9]+)''?\)')::bigint,
         substring(pg_get_expr(c.relpartbound, c.oid) FROM 'TO \(''?(-?[0-9]+)''?\)')::bigint,
         i.inhdetachpending
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
   WHERE i.inhparent = to_regclass('events')
   ORDER BY 2
$$;

-- One partition of events: what the partitioned table cannot give it (a unique key of stream
-- versions, the id index, the truncate guard, the tenant policy of a tenant store).
CREATE FUNCTION create_event_partition(p_name text, p_from bigint, p_to bigint) RETURNS void
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
  EXECUTE format('CREATE TABLE %I PARTITION OF events FOR VALUES FROM (%s) TO (%s)', p_name, p_from,
                 COALESCE(p_to::text, 'MAXVALUE'));
  EXECUTE format('CREATE UNIQUE INDEX ON %I (stream_id, version)', p_name);
  EXECUTE format('CREATE INDEX ON %I (id)', p_name);
  EXECUTE format('CREATE TRIGGER events_refuse_truncate BEFORE TRUNCATE ON %I FOR EACH STATEMENT EXECUTE FUNCTION refuse_event_mutation()', p_name);
  IF (SELECT c.relrowsecurity FROM pg_class c WHERE c.oid = to_regclass('events')) THEN
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', p_name);
    EXECUTE format('CREATE POLICY tenant_rows ON %I USING (tenant_id = COALESCE(NULLIF(current_setting(''strata.tenant'', true), ''''), (SELECT tenant_required())))', p_name);
  END IF;
END
$$;

-- Keeps regular partitions up to p_ahead partition sizes past the head, and a tail after them.
-- A tail that received rows becomes a regular partition covering them (its rows are checked
-- against the new bound under the lock: keep the tail empty by running this often). Holds an
-- ACCESS EXCLUSIVE lock on events only while it changes partitions (appends wait; they never
-- fail for want of a partition); waits at most p_lock_timeout_ms for that lock (then raises
-- 55P03, try again). Returns the partitions created.
CREATE FUNCTION create_event_partitions(p_ahead integer DEFAULT 4, p_lock_timeout_ms integer DEFAULT 5000)
RETURNS SETOF text
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
  v_size   bigint := (SELECT p.partition_size FROM event_partitioning p);
  v_head   bigint;
  v_target bigint;
  v_tail   record;
  v_max    bigint;
  v_cut    bigint;
  v_from   bigint;
  v_index  record;
BEGIN
  IF v_size IS NULL OR NOT events_partitioned() THEN
    RAISE EXCEPTION 'events of schema % are not partitioned', current_schema()
      USING ERRCODE = 'SX022', HINT = 'run enable_event_partitioning(partition_size) first';
  END IF;
  IF p_ahead IS NULL OR p_ahead < 1 OR p_ahead > 10000 THEN
    RAISE EXCEPTION 'create_event_partitions: ahead must be from 1 to 10000' USING ERRCODE = '22023';
  END IF;
  PERFORM set_config('lock_timeout', GREATEST(COALESCE(p_lock_timeout_ms, 0), 0) || 'ms', true);
  SELECT CASE WHEN is_called THEN last_value ELSE 0 END INTO v_head FROM events_position_seq;
  v_target := (v_head / v_size + 1 + p_ahead) * v_size;
  SELECT * INTO v_tail FROM event_partitions() p WHERE p.to_position IS NULL;
  IF v_tail.from_position >= v_target THEN
    RETURN;
  END IF;
  LOCK TABLE events IN ACCESS EXCLUSIVE MODE;
  EXECUTE format('SELECT max(position) FROM %I', v_tail.partition_name) INTO v_max;
  v_cut := GREATEST(v_tail.from_position + v_size, (COALESCE(v_max, 0) / v_size + 1) * v_size);
  EXECUTE format('ALTER TABLE events DETACH PARTITION %I', v_tail.partition_name);
  EXECUTE format('ALTER TABLE %I RENAME TO %I', v_tail.partition_name, 'events_p' || v_tail.from_position);
  -- Its indexes take its new name too, so the next tail's get the plain names again.
  FOR v_index IN SELECT i.indexrelid::regclass::text AS name FROM pg_index i
                  WHERE i.indrelid = to_regclass('events_p' || v_tail.from_position) LOOP
    EXECUTE format('ALTER INDEX %s RENAME TO %I', v_index.name,
                   'events_p' || v_tail.from_position || substr(v_index.name, length(v_tail.partition_name) + 1));
  END LOOP;
  EXECUTE format('ALTER TABLE events ATTACH PARTITION %I FOR VALUES FROM (%s) TO (%s)',
                 'events_p' || v_tail.from_position, v_tail.from_position, v_cut);
  RETURN NEXT 'events_p' || v_tail.from_position;
  v_from := v_cut;
  WHILE v_from < v_target LOOP
    PERFORM create_event_partition('events_p' || v_from, v_from, v_from + v_size);
    RETURN NEXT 'events_p' || v_from;
    v_from := v_from + v_size;
  END LOOP;
  PERFORM create_event_partition('events_tail', v_from, NULL);
END
$$;

-- Turns the events table of this schema into one partitioned by position (run once, by the
-- schema owner). The existing rows become the partition events_p0 covering them, as they are
-- (no rewrite; its unique keys stay); their ids are copied into event_ids. Holds an ACCESS
-- EXCLUSIVE lock on events for the whole call, mostly the copy of the ids (4 s for 1,000,000
-- events on a 2-core machine). Returns false when events is already partitioned with this size.
CREATE FUNCTION enable_event_partitioning(p_partition_size bigint, p_ahead integer DEFAULT 4)
RETURNS boolean
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
  v_head    bigint;
  v_upper   bigint;
  v_index   record;
  v_defs    text[] := '{}';
  v_def     text;
  v_trigger record;
  v_acl     record;
  v_tenants boolean;
BEGIN
  IF p_partition_size IS NULL OR p_partition_size < 1 THEN
    RAISE EXCEPTION 'enable_event_partitioning: partition size must be a positive number of positions'
      USING ERRCODE = '22023';
  END IF;
  IF events_partitioned() THEN
    IF (SELECT p.partition_size FROM event_partitioning p) = p_partition_size THEN
      RETURN false;
    END IF;
    RAISE EXCEPTION 'events of schema % are already partitioned, with partition size %', current_schema(),
      (SELECT p.partition_size FROM event_partitioning p) USING ERRCODE = '22023';
  END IF;
  LOCK TABLE events IN ACCESS EXCLUSIVE MODE;
  SELECT CASE WHEN is_called THEN last_value ELSE 0 END INTO v_head FROM events_position_seq;
  v_upper := (v_head / p_partition_size + 1) * p_partition_size;
  v_tenants := (SELECT c.relrowsecurity FROM pg_class c WHERE c.oid = to_regclass('events'));

  -- The plain indexes move to the partitioned table (the old ones attach to them, unbuilt).
  FOR v_index IN SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS def
                   FROM pg_index i WHERE i.indrelid = to_regclass('events')
                    AND NOT i.indisunique AND NOT i.indisprimary LOOP
    v_defs := v_defs || v_index.def;
    EXECUTE format('ALTER INDEX %s RENAME TO %I', v_index.name, 'events_p0_' || substr(v_index.name, 8));
  END LOOP;
  FOR v_trigger IN SELECT t.tgname FROM pg_trigger t
                    WHERE t.tgrelid = to_regclass('events') AND NOT t.tgisinternal LOOP
    EXECUTE format('DROP TRIGGER %I ON events', v_trigger.tgname);
  END LOOP;
  ALTER TABLE events RENAME TO events_p0;
  ALTER TABLE events_p0 RENAME CONSTRAINT events_pkey TO events_p0_pkey;
  ALTER TABLE events_p0 RENAME CONSTRAINT events_id_key TO events_p0_id_key;
  ALTER TABLE events_p0 RENAME CONSTRAINT events_stream_id_version_key TO events_p0_stream_id_version_key;

  CREATE TABLE events (LIKE events_p0 INCLUDING DEFAULTS INCLUDING CONSTRAINTS) PARTITION BY RANGE (position);
  ALTER SEQUENCE events_position_seq OWNED BY events.position;
  ALTER TABLE events ADD CONSTRAINT events_pkey PRIMARY KEY (position);
  FOREACH v_def IN ARRAY v_defs LOOP
    EXECUTE v_def;
  END LOOP;
  -- The runtime roles' privileges move with the table; partitions are read through it only.
  FOR v_acl IN SELECT a.grantee, a.privilege_type
                 FROM pg_class c, aclexplode(c.relacl) a
                WHERE c.oid = to_regclass('events_p0') AND a.grantee <> c.relowner LOOP
    EXECUTE format('GRANT %s ON events TO %s', v_acl.privilege_type,
                   CASE WHEN v_acl.grantee = 0 THEN 'PUBLIC' ELSE v_acl.grantee::regrole::text END);
    EXECUTE format('REVOKE %s ON events_p0 FROM %s', v_acl.privilege_type,
                   CASE WHEN v_acl.grantee = 0 THEN 'PUBLIC' ELSE v_acl.grantee::regrole::text END);
  END LOOP;
  CREATE TRIGGER events_refuse_update BEFORE UPDATE ON events
    FOR EACH ROW EXECUTE FUNCTION refuse_event_mutation();
  CREATE TRIGGER events_refuse_delete BEFORE DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION refuse_event_mutation();
  CREATE TRIGGER events_refuse_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_event_mutation();
  CREATE TRIGGER events_refuse_truncate BEFORE TRUNCATE ON events_p0
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_event_mutation();
  CREATE TRIGGER event_ids_record AFTER INSERT ON events REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION event_ids_record();

  EXECUTE format('ALTER TABLE events ATTACH PARTITION events_p0 FOR VALUES FROM (0) TO (%s)', v_upper);
  INSERT INTO event_ids (id, position) SELECT e.id, e.position FROM events_p0 e;
  INSERT INTO event_partitioning (partition_size) VALUES (p_partition_size);
  PERFORM create_event_partition('events_tail', v_upper, NULL);
  IF v_tenants THEN
    PERFORM enable_tenants(NULL);
  END IF;
  PERFORM create_event_partitions(p_ahead, NULL);
  RETURN true;
END
$$;

-- First step of archiving the oldest partition (the CLI's `strata partitions archive`): checks
-- that it may go, raises the version floors of its streams and records the range in
-- event_archive, so every read that would need it fails from now on. Then the caller runs
-- ALTER TABLE events DETACH PARTITION <name> CONCURRENTLY and archive_event_partition_done().
-- Refuses (SX023, DETAIL a JSON list) while a checkpoint, consumer group cursor, projection or
-- relay still needs the range, unless p_force; and, even with p_force, while a group's window
-- still holds messages of the range (their deliveries would find no event).
CREATE FUNCTION archive_event_partition(p_name text, p_force boolean DEFAULT false)
RETURNS TABLE(from_position bigint, to_position bigint, events bigint)
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
#variable_conflict use_column
DECLARE
  v_part    record;
  v_oldest  text;
  v_horizon bigint;
  v_behind  jsonb;
  v_window  jsonb;
  v_count   bigint;
BEGIN
  IF NOT events_partitioned() THEN
    RAISE EXCEPTION 'events of schema % are not partitioned', current_schema()
      USING ERRCODE = 'SX022', HINT = 'run enable_event_partitioning(partition_size) first';
  END IF;
  SELECT * INTO v_part FROM event_partitions() p WHERE p.partition_name = p_name;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'events has no partition %', p_name USING ERRCODE = '22023', HINT = p_name;
  END IF;
  IF (SELECT a.state FROM event_archive a WHERE a.partition_name = p_name) IS NOT NULL THEN
    -- Recorded by an earlier call whose detach did not finish: nothing more to check.
    RETURN QUERY SELECT a.from_position, a.to_position, a.events FROM event_archive a
                  WHERE a.partition_name = p_name;
    RETURN;
  END IF;
  IF v_part.to_position IS NULL THEN
    RAISE EXCEPTION 'partition % is the tail, where appends go', p_name USING ERRCODE = '22023', HINT = p_name;
  END IF;
  SELECT p.partition_name INTO v_oldest FROM event_partitions() p ORDER BY p.from_position LIMIT 1;
  IF v_oldest <> p_name THEN
    RAISE EXCEPTION 'archive the oldest partition first: % comes before %', v_oldest, p_name
      USING ERRCODE = '22023', HINT = v_oldest;
  END IF;
  -- Every position of the range must be final: handed out, and not held by an append in flight.
  v_horizon := safe_horizon(5000);
  IF v_horizon IS NULL OR v_horizon < v_part.to_position - 1 THEN
    RAISE EXCEPTION 'partition % may still receive appends (positions up to % are not all final)',
      p_name, v_part.to_position - 1 USING ERRCODE = '22023', HINT = p_name;
  END IF;
  SELECT jsonb_agg(x) INTO v_behind FROM (
    SELECT 'checkpoint' AS kind, c.name, c.position FROM checkpoints c WHERE c.position < v_part.to_position - 1
    UNION ALL
    SELECT 'projection', p.name, p.position FROM projections p
     WHERE p.status <> 'retired' AND p.position < v_part.to_position - 1
    UNION ALL
    SELECT 'consumer group', g.name, g.cursor_position FROM consumer_groups g
     WHERE g.cursor_position < v_part.to_position - 1
    UNION ALL
    SELECT 'relay', r.name, r.position FROM relays r WHERE r.position < v_part.to_position - 1
  ) x;
  -- Messages of the range still in a group's window (in flight, waiting for a retry, parked)
  -- would lose their event: refused even with p_force (ack, discard or reset them first).
  SELECT jsonb_agg(x) INTO v_window FROM (
    SELECT 'undelivered message' AS kind, g.name, min(m.position) AS position
      FROM consumer_group_messages m JOIN consumer_groups g ON g.id = m.group_id
     WHERE m.position < v_part.to_position GROUP BY g.name
  ) x;
  IF v_window IS NOT NULL THEN
    v_behind := COALESCE(v_behind, '[]'::jsonb) || v_window;
  END IF;
  IF v_behind IS NOT NULL AND (v_window IS NOT NULL OR NOT COALESCE(p_force, false)) THEN
    RAISE EXCEPTION 'partition % is still needed: % reader(s) have not passed position %', p_name,
      jsonb_array_length(v_behind), v_part.to_position - 1
      USING ERRCODE = 'SX023', DETAIL = v_behind::text, HINT = p_name;
  END IF;
  -- Version floors, so no version of the range is handed out again once it is gone.
  EXECUTE format($q$
    INSERT INTO streams AS s (stream_id, version, archived_through, tenant_id)
    SELECT e.stream_id, max(e.version), max(e.version), min(e.tenant_id) FROM %I e GROUP BY e.stream_id
    ON CONFLICT (stream_id) DO UPDATE
      SET version = GREATEST(s.version, EXCLUDED.version),
          archived_through = GREATEST(COALESCE(s.archived_through, 0), EXCLUDED.archived_through)$q$,
    p_name);
  EXECUTE format('SELECT count(*) FROM %I', p_name) INTO v_count;
  INSERT INTO event_archive (partition_name, from_position, to_position, events)
  VALUES (p_name, v_part.from_position, v_part.to_position, v_count);
  RETURN QUERY SELECT v_part.from_position, v_part.to_position, v_count;
END
$$;

-- Last step of archiving: after the detach, marks the range detached (or drops the table).
CREATE FUNCTION archive_event_partition_done(p_name text, p_drop boolean DEFAULT false) RETURNS text
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM event_partitions() p WHERE p.partition_name = p_name) THEN
    RAISE EXCEPTION 'partition % is still attached to events', p_name USING ERRCODE = '22023', HINT = p_name;
  END IF;
  IF p_drop THEN
    EXECUTE format('DROP TABLE IF EXISTS %I', p_name);
  END IF;
  UPDATE event_archive SET state = CASE WHEN p_drop THEN 'dropped' ELSE 'detached' END
   WHERE partition_name = p_name AND state <> 'dropped';
  IF NOT FOUND AND NOT EXISTS (SELECT 1 FROM event_archive a WHERE a.partition_name = p_name) THEN
    RAISE EXCEPTION 'partition % was not archived', p_name USING ERRCODE = '22023', HINT = p_name;
  END IF;
  RETURN (SELECT a.state FROM event_archive a WHERE a.partition_name = p_name);
END
$$;

-- Privileges: readers (the runtime roles, which may execute append_events) may read the
-- archive list and call the read guards; the partitioning functions are the owner's alone.
DO $$
DECLARE
  v_schema text := current_schema();
  v_fn     regprocedure;
  v_role   text;
BEGIN
  FOR v_fn IN SELECT p.oid::regprocedure FROM pg_proc p
               WHERE p.pronamespace = v_schema::regnamespace
                 AND p.proname IN ('archived_before', 'assert_not_archived', 'event_ids_record',
                                   'read_stream', 'load_aggregate', 'stream_archived',
                                   'events_partitioned', 'event_partitions', 'create_event_partition',
                                   'create_event_partitions', 'enable_event_partitioning',
                                   'archive_event_partition', 'archive_event_partition_done')
  LOOP
    EXECUTE format('ALTER FUNCTION %s SET search_path = %I, pg_temp', v_fn, v_schema);
    EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', v_fn);
  END LOOP;
  FOR v_role IN SELECT DISTINCT a.grantee::regrole::text
                  FROM pg_proc p, aclexplode(p.proacl) a
                 WHERE p.pronamespace = v_schema::regnamespace AND p.proname = 'append_events'
                   AND a.privilege_type = 'EXECUTE' AND a.grantee <> p.proowner AND a.grantee <> 0
  LOOP
    FOR v_fn IN SELECT p.oid::regprocedure FROM pg_proc p
                 WHERE p.pronamespace = v_schema::regnamespace
                   AND p.proname IN ('archived_before', 'assert_not_archived', 'read_stream',
                                     'load_aggregate', 'stream_archived', 'events_partitioned',
                                     'event_partitions')
    LOOP
      EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %s', v_fn, v_role);
    END LOOP;
    EXECUTE format('GRANT SELECT ON event_archive, event_partitioning TO %s', v_role);
  END LOOP;
END
$$;
