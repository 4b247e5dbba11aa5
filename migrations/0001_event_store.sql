-- The event store: streams, events, the append function and the safe read horizon.
-- Runs with search_path set to the store's schema; nothing here names the schema.

-- Global positions. CACHE 1 keeps nextval strictly increasing in time across sessions, which the
-- read horizon below relies on.
CREATE SEQUENCE events_position_seq AS bigint MINVALUE 1 CACHE 1;

CREATE TABLE streams (
  stream_id       text        NOT NULL,
  -- Version of the last event appended (0 = none yet). Versions continue after a soft delete.
  version         bigint      NOT NULL DEFAULT 0,
  created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
  updated_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
  -- Soft delete: reads return nothing until the next append; the events stay in $all.
  deleted_at      timestamptz,
  -- Tombstone: the stream can never be written again.
  tombstoned_at   timestamptz,
  -- Retention (EventStoreDB's $maxCount, $maxAge, $tb), honoured by reads and applied by scavenge.
  max_count       bigint,
  max_age_seconds bigint,
  truncate_before bigint,
  metadata        jsonb       NOT NULL DEFAULT '{}'::jsonb,
  CONSTRAINT streams_pkey PRIMARY KEY (stream_id),
  CONSTRAINT streams_version_check CHECK (version >= 0),
  CONSTRAINT streams_max_count_check CHECK (max_count IS NULL OR max_count > 0),
  CONSTRAINT streams_max_age_check CHECK (max_age_seconds IS NULL OR max_age_seconds > 0),
  CONSTRAINT streams_truncate_before_check CHECK (truncate_before IS NULL OR truncate_before >= 0)
);

CREATE TABLE events (
  position   bigint      NOT NULL DEFAULT nextval('events_position_seq'),
  stream_id  text        NOT NULL,
  version    bigint      NOT NULL,
  id         uuid        NOT NULL,
  type       text        NOT NULL,
  data       jsonb       NOT NULL,
  metadata   jsonb       NOT NULL DEFAULT '{}'::jsonb,
  -- Version of the event type's schema the payload was written with (upcasters lift old ones).
  data_version int       NOT NULL DEFAULT 1,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  CONSTRAINT events_pkey PRIMARY KEY (position),
  CONSTRAINT events_id_key UNIQUE (id),
  CONSTRAINT events_stream_id_version_key UNIQUE (stream_id, version),
  CONSTRAINT events_version_check CHECK (version > 0)
);
ALTER SEQUENCE events_position_seq OWNED BY events.position;

-- Filtered $all reads (by type, by category) walk these in position order.
CREATE INDEX events_type_position_idx ON events (type, position);
CREATE INDEX events_category_position_idx ON events ((split_part(stream_id, '-', 1)), position);
-- Point-in-time lookups ("replay from 09:00") and maxAge; BRIN because created_at follows position.
CREATE INDEX events_created_at_idx ON events USING brin (created_at);

-- Events are never updated; they are deleted only by scavenge, which sets
-- strata.allow_event_delete for its own transaction.
CREATE FUNCTION refuse_event_mutation() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' AND current_setting('strata.allow_event_delete', true) = 'on' THEN
    RETURN OLD;
  END IF;
  RAISE EXCEPTION 'events are immutable: % on %.% refused', TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME
    USING ERRCODE = 'SX004', HINT = 'only scavenge may delete events';
END
$$;

CREATE TRIGGER events_refuse_update BEFORE UPDATE ON events
  FOR EACH ROW EXECUTE FUNCTION refuse_event_mutation();
CREATE TRIGGER events_refuse_delete BEFORE DELETE ON events
  FOR EACH ROW EXECUTE FUNCTION refuse_event_mutation();
CREATE TRIGGER events_refuse_truncate BEFORE TRUNCATE ON events
  FOR EACH STATEMENT EXECUTE FUNCTION refuse_event_mutation();

REVOKE ALL ON events FROM PUBLIC;

-- The advisory lock every appender holds, shared, from before it takes positions until it ends.
-- Readers list its holders in pg_locks to learn which positions may still appear (safe_horizon).
-- Key: (0x53545241 'STRA', hash of the schema), so two stores in one database do not mix.
CREATE FUNCTION append_lock_key() RETURNS int
LANGUAGE sql IMMUTABLE SET search_path FROM CURRENT AS $$ SELECT hashtext(current_schema()) $$;

-- Appends events to one stream.
--   p_stream_id  stream id (validated by the caller)
--   p_expected   'any' | 'no_stream' | 'stream_exists' | 'exact'
--   p_expected_version  the version for 'exact' (0 = no stream)
--   p_ids, p_types, p_data, p_metadata, p_data_versions  the events, in order
--   p_check_ids  whether the caller supplied ids (generated ids cannot be retries)
-- Returns the version and position of the last event, and whether this was a retry of an append
-- already stored (then nothing was written and the original result is returned).
-- Concurrency: the stream row is locked first, so appends to one stream run one at a time and the
-- idempotency check sees every earlier append to it. Raises SX001 (wrong expected version),
-- SX002 (duplicate event id), SX003 (tombstoned).
CREATE FUNCTION append_to_stream(
  p_stream_id text,
  p_expected text,
  p_expected_version bigint,
  p_ids uuid[],
  p_types text[],
  p_data jsonb[],
  p_metadata jsonb[],
  p_data_versions int[],
  p_check_ids boolean
) RETURNS TABLE (next_version bigint, last_position bigint, retried boolean)
LANGUAGE plpgsql VOLATILE SET search_path FROM CURRENT AS $$
DECLARE
  v_count     int := cardinality(p_ids);
  v_stream    streams%ROWTYPE;
  v_found     boolean;
  v_actual    bigint;
  v_ok        boolean;
  v_known     int;
  v_matching  int;
  v_first     bigint;
  v_other     text;
  v_position  bigint;
  v_now       timestamptz;
BEGIN
  LOOP
    SELECT * INTO v_stream FROM streams WHERE stream_id = p_stream_id FOR UPDATE;
    v_found := FOUND;

    IF p_check_ids THEN
      -- A retry of an append already stored: same ids, same stream, same order, same content.
      SELECT count(*),
             count(*) FILTER (WHERE e.stream_id = p_stream_id AND e.type = p_types[u.ord]
                                AND e.data = p_data[u.ord] AND e.metadata = p_metadata[u.ord]),
             min(e.version - u.ord),
             max(e.version - u.ord),
             min(e.stream_id) FILTER (WHERE e.stream_id <> p_stream_id)
        INTO v_known, v_matching, v_first, v_actual, v_other
        FROM unnest(p_ids) WITH ORDINALITY AS u(id, ord)
        JOIN events e ON e.id = u.id;
      IF v_known > 0 THEN
        IF v_known = v_count AND v_matching = v_count AND v_first = v_actual THEN
          RETURN QUERY
            SELECT e.version, e.position, true FROM events e WHERE e.id = p_ids[v_count];
          RETURN;
        END IF;
        RAISE EXCEPTION 'duplicate event id in stream %', p_stream_id USING
          ERRCODE = 'SX002',
          DETAIL = json_build_object(
            'eventId', (SELECT u.id FROM unnest(p_ids) AS u(id) JOIN events e ON e.id = u.id LIMIT 1),
            'existingStreamId', v_other,
            'reason', CASE
              WHEN v_other IS NOT NULL THEN 'the id belongs to an event of another stream'
              WHEN v_known <> v_count THEN 'only some of the appended ids are stored'
              WHEN v_matching <> v_count THEN 'the stored event has other content'
              ELSE 'the stored events are in another order' END)::text;
      END IF;
    END IF;

    IF v_found AND v_stream.tombstoned_at IS NOT NULL THEN
      RAISE EXCEPTION 'stream % is tombstoned', p_stream_id USING ERRCODE = 'SX003';
    END IF;

    v_actual := CASE WHEN v_found THEN v_stream.version ELSE 0 END;
    v_ok := CASE p_expected
      WHEN 'any' THEN true
      -- A soft-deleted stream counts as absent: it may be started again.
      WHEN 'no_stream' THEN v_actual = 0 OR v_stream.deleted_at IS NOT NULL
      WHEN 'stream_exists' THEN v_actual > 0 AND v_stream.deleted_at IS NULL
      WHEN 'exact' THEN
        CASE WHEN p_expected_version = 0 THEN v_actual = 0 OR v_stream.deleted_at IS NOT NULL
             ELSE v_actual = p_expected_version END
      ELSE NULL END;
    IF v_ok IS NULL THEN
      RAISE EXCEPTION 'unknown expected version kind %', p_expected USING ERRCODE = '22023';
    END IF;
    IF NOT v_ok THEN
      RAISE EXCEPTION 'wrong expected version for stream %', p_stream_id USING
        ERRCODE = 'SX001', DETAIL = v_actual::text;
    END IF;

    -- Announce this writer before taking positions (see safe_horizon).
    PERFORM pg_advisory_xact_lock_shared(1398034497, append_lock_key());
    v_now := clock_timestamp();

    IF v_found THEN
      UPDATE streams SET version = version + v_count, updated_at = v_now, deleted_at = NULL
       WHERE stream_id = p_stream_id;
      EXIT;
    END IF;
    INSERT INTO streams (stream_id, version, created_at, updated_at)
    VALUES (p_stream_id, v_count, v_now, v_now)
    ON CONFLICT (stream_id) DO NOTHING;
    EXIT WHEN FOUND;
    -- Another append created the stream after our read: start over and lock its row.
  END LOOP;

  INSERT INTO events (stream_id, version, id, type, data, metadata, data_version, created_at)
  SELECT p_stream_id, v_actual + u.ord, u.id, u.type, u.data, u.metadata, u.data_version, v_now
    FROM unnest(p_ids, p_types, p_data, p_metadata, p_data_versions)
         WITH ORDINALITY AS u(id, type, data, metadata, data_version, ord)
   ORDER BY u.ord;

  SELECT currval('events_position_seq') INTO v_position;
  RETURN QUERY SELECT v_actual + v_count, v_position, false;
END
$$;

-- The safe read horizon: a position H such that every event at or below H that will ever be
-- committed is committed now. A reader that takes its snapshot after this returns may read up to
-- H without ever skipping an event.
-- Argument: the sequence is read first, then the appenders holding the append lock. Any position
-- at or below that value was handed out after its appender took the lock, hence before we listed
-- the holders: that appender is either finished (committed or rolled back; locks are released
-- after commit is visible) or in the list. Once every listed appender has ended, H is final.
-- Unrelated transactions (even ones holding an xid for hours) are never waited for.
-- Returns NULL when the listed appenders did not all end within p_max_wait_ms.
CREATE FUNCTION safe_horizon(p_max_wait_ms int) RETURNS bigint
LANGUAGE plpgsql VOLATILE SET search_path FROM CURRENT AS $$
DECLARE
  v_last     bigint;
  v_writers  text[];
  v_db       oid := (SELECT oid FROM pg_database WHERE datname = current_database());
  v_key      oid := append_lock_key()::oid;
  v_deadline timestamptz := clock_timestamp() + make_interval(secs => p_max_wait_ms / 1000.0);
BEGIN
  SELECT CASE WHEN is_called THEN last_value ELSE 0 END INTO v_last FROM events_position_seq;
  SELECT array_agg(l.virtualtransaction) INTO v_writers
    FROM pg_locks l
   WHERE l.locktype = 'advisory' AND l.database = v_db AND l.classid = 1398034497::oid
     AND l.objid = v_key AND l.objsubid = 2 AND l.pid IS DISTINCT FROM pg_backend_pid();
  IF v_writers IS NULL THEN
    RETURN v_last;
  END IF;
  LOOP
    IF clock_timestamp() >= v_deadline THEN
      RETURN NULL;
    END IF;
    PERFORM pg_sleep(0.001);
    PERFORM 1 FROM pg_locks l
     WHERE l.locktype = 'advisory' AND l.database = v_db AND l.classid = 1398034497::oid
       AND l.objid = v_key AND l.objsubid = 2 AND l.virtualtransaction = ANY (v_writers);
    IF NOT FOUND THEN
      RETURN v_last;
    END IF;
  END LOOP;
END
$$;
