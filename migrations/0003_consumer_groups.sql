-- Consumer groups: competing consumers over the log, with leases, retries, dead letters,
-- per-stream ordering and replay (docs/consumers.md). Task queues are consumer groups over the
-- streams their send() appends to.
-- Runs with search_path set to the store's schema; nothing here names the schema.
--
-- The model: a group keeps a cursor (every event at or below it has been admitted, or did not
-- match the source) and a bounded window of admitted, unacked messages. Admission reads the log
-- from the cursor up to the safe horizon only (never past it, see safe_horizon in 0001) and
-- inserts into the window in the same transaction that moves the cursor, under the group row's
-- lock, so admitters in many processes never admit twice or skip. An ack deletes the message:
-- the window holds only admitted-but-unacked work and parked messages, whatever the number of
-- events processed.

CREATE TABLE consumer_groups (
  id                   int         GENERATED ALWAYS AS IDENTITY,
  name                 text        NOT NULL,
  -- The source. Every criterion given must hold; all NULL means every event.
  source_category      text,
  source_event_types   text[],
  source_stream_ids    text[],
  source_stream_prefix text,
  strategy             text        NOT NULL,
  -- per-stream only: a parked message holds back the rest of its stream (true) or lets it go on.
  hold_parked_streams  boolean     NOT NULL DEFAULT true,
  -- Every event at or below this position has been admitted into the window (or did not match).
  cursor_position      bigint      NOT NULL,
  created_at           timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT consumer_groups_pkey PRIMARY KEY (id),
  CONSTRAINT consumer_groups_name_key UNIQUE (name),
  CONSTRAINT consumer_groups_strategy_check CHECK (strategy IN ('round-robin', 'per-stream')),
  CONSTRAINT consumer_groups_cursor_position_check CHECK (cursor_position >= 0)
);

-- The window: admitted messages not yet acked, and parked ones (dead letters). A message is
-- deliverable when it is not parked, available_at has passed and it holds no live lease.
-- No foreign keys: an RI check per admitted row would cost more than the rest of admission, and
-- rows are only written by the functions below, which check the group themselves.
-- Claims, lease renewals and releases change only unindexed columns, so with free space on the
-- page they are HOT updates and add no index entries; acks delete. fillfactor 40 leaves room for
-- a claim to update every row of a page in one statement (the old versions can be pruned only
-- after it commits). Autovacuum is told to visit often because nearly every row dies young.
--
-- Plans: the hot functions below keep their plans for the life of a connection (generic plans),
-- made with whatever statistics the tables had then. This table is often empty, and a plan made
-- for an empty table would scan the whole window on every call once it fills up. So the key
-- leads with position, every statement that acts on known messages finds them by
-- `position = ANY (positions)` (the key is the only index that can serve it; `group_id + 0`
-- keeps the group-led indexes out), and the functions turn sequential and bitmap scans off: the
-- same index probes whatever the statistics said.
CREATE TABLE consumer_group_messages (
  group_id         int         NOT NULL,
  position         bigint      NOT NULL,
  stream_id        text        NOT NULL,
  -- The message belongs to a per-stream group (only those need the stream index).
  per_stream       boolean     NOT NULL DEFAULT false,
  -- Not deliverable before this time: admission time, a task's delay, or a retry's backoff.
  available_at     timestamptz NOT NULL,
  -- Deliveries so far (incremented by each claim).
  attempts         int         NOT NULL DEFAULT 0,
  -- The current lease: acks, nacks and renewals must present its token (fencing), so a
  -- consumer that lost its lease can never settle a message leased by someone else.
  lease_token      uuid,
  lease_expires_at timestamptz,
  consumer_id      uuid,
  delivered_at     timestamptz,
  last_error       jsonb,
  parked_at        timestamptz,
  park_reason      text,
  CONSTRAINT consumer_group_messages_pkey PRIMARY KEY (position, group_id),
  CONSTRAINT consumer_group_messages_attempts_check CHECK (attempts >= 0)
) WITH (
  fillfactor = 40,
  autovacuum_vacuum_scale_factor = 0,
  autovacuum_vacuum_threshold = 1000,
  autovacuum_vacuum_insert_scale_factor = 0,
  autovacuum_vacuum_insert_threshold = 10000,
  autovacuum_vacuum_cost_delay = 0
);

-- Claims walk deliverable messages in order of availability.
CREATE INDEX consumer_group_messages_available_idx
  ON consumer_group_messages (group_id, available_at) WHERE parked_at IS NULL;
-- Per-stream ordering: is there an older message of this stream in the window? Only messages of
-- per-stream groups are indexed. (position is an included column, not a key: only the primary
-- key may answer lookups by position.)
CREATE INDEX consumer_group_messages_stream_idx
  ON consumer_group_messages (group_id, stream_id) INCLUDE (position) WHERE per_stream;
-- Dead letters.
CREATE INDEX consumer_group_messages_parked_idx
  ON consumer_group_messages (group_id, position) WHERE parked_at IS NOT NULL;

-- Consumers that are running, kept alive by their heartbeat; a row past expires_at belongs to
-- a consumer that died, and is removed by the next heartbeat of any consumer of the group.
CREATE TABLE consumer_group_consumers (
  group_id     int         NOT NULL,
  consumer_id  uuid        NOT NULL,
  label        text        NOT NULL,
  concurrency  int         NOT NULL,
  started_at   timestamptz NOT NULL DEFAULT now(),
  last_seen_at timestamptz NOT NULL DEFAULT now(),
  expires_at   timestamptz NOT NULL,
  CONSTRAINT consumer_group_consumers_pkey PRIMARY KEY (group_id, consumer_id)
);

-- Token buckets of groups with a maximum delivery rate (maxPerSecond), shared by all processes.
CREATE TABLE consumer_group_throttles (
  group_id    int              NOT NULL,
  tokens      double precision NOT NULL,
  refilled_at timestamptz      NOT NULL,
  CONSTRAINT consumer_group_throttles_pkey PRIMARY KEY (group_id)
);

-- When an admitted event becomes deliverable: at once, or after the delay a task was sent with
-- (metadata "$delayMs", counted from the event's commit-time clock, so client clocks never
-- matter). Malformed or huge values cannot break admission: they are read as numeric and
-- capped at a year.
CREATE FUNCTION consumer_group_available_at(p_created_at timestamptz, p_metadata jsonb)
RETURNS timestamptz
LANGUAGE sql STABLE AS $$
  SELECT CASE WHEN jsonb_typeof(p_metadata -> '$delayMs') = 'number'
              THEN GREATEST(now(), p_created_at + make_interval(secs =>
                     LEAST(GREATEST((p_metadata ->> '$delayMs')::numeric, 0), 31536000000)::float8 / 1000))
              ELSE now() END
$$;

-- Whether an event matches a group's source (NULL criteria match everything). Inlined by the
-- planner; with the values known (custom plans) the NULL tests fold away and the category and
-- type conditions can use the events' indexes.
CREATE FUNCTION consumer_group_source_matches(
  p_category text, p_event_types text[], p_stream_ids text[], p_stream_prefix text,
  p_stream_id text, p_type text)
RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
  SELECT (p_category IS NULL OR split_part(p_stream_id, '-', 1) = p_category)
     AND (p_event_types IS NULL OR p_type = ANY (p_event_types))
     AND (p_stream_ids IS NULL OR p_stream_id = ANY (p_stream_ids))
     AND (p_stream_prefix IS NULL OR starts_with(p_stream_id, p_stream_prefix))
$$;

-- Where a cursor starts: 'start' (before everything), 'end' (after every position handed out
-- so far), 'position' (just before p_position: that event is the first one delivered) or
-- 'time' (just before the first event created at or after p_time; after the last event when
-- there is none).
CREATE FUNCTION consumer_group_start_cursor(p_kind text, p_position bigint, p_time timestamptz)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SET search_path FROM CURRENT AS $$
DECLARE
  v_first bigint;
BEGIN
  CASE p_kind
    WHEN 'start' THEN RETURN 0;
    WHEN 'position' THEN RETURN GREATEST(p_position - 1, 0);
    WHEN 'end' THEN
      RETURN (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM events_position_seq);
    WHEN 'time' THEN
      SELECT min(e.position) INTO v_first FROM events e WHERE e.created_at >= p_time;
      IF v_first IS NULL THEN
        RETURN (SELECT COALESCE(max(e.position), 0) FROM events e);
      END IF;
      RETURN v_first - 1;
    ELSE
      RAISE EXCEPTION 'unknown start kind %', p_kind USING ERRCODE = '22023';
  END CASE;
END
$$;

-- Returns the group, creating it when absent (concurrent callers create it once). The caller
-- compares the stored definition with its own: source, strategy and parking mode are fixed
-- when the group is created.
CREATE FUNCTION consumer_group_ensure(
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
          consumer_group_start_cursor(p_start, p_start_position, p_start_time))
  ON CONFLICT (name) DO NOTHING;
  RETURN QUERY SELECT * FROM consumer_groups g WHERE g.name = p_name;
END
$$;

-- Admission: moves up to p_window - (deliverable messages in the window) matching events from
-- the log into the window and advances the cursor, scanning at most p_scan positions.
-- Returns a status:
--   'missing' the group does not exist;      'idle'  nothing new in the log;
--   'full'    the window is full;            'busy'  another transaction holds the group;
--   'waiting' appends in flight hold the horizon at the cursor;
--   'admitted' (caught up to the horizon)    'more'  (a limit was hit: call again).
--
-- Safety (docs/guarantees.md): the horizon is computed by an earlier statement than the one
-- reading events, so that read's snapshot holds every event at or below it. When appends in
-- flight outlast p_max_wait_ms, positions directly following the cursor are still final
-- (nothing can be missing between p and p + 1), so admission goes on through them.
-- Concurrency: the group row is locked (FOR UPDATE SKIP LOCKED) for the insert and the cursor
-- update, in one transaction: two admitters never admit twice or skip; a busy one returns at
-- once rather than queue. Parking takes the same row FOR SHARE (see consumer_group_park).
-- Custom plans: with the source's values known, its conditions use the events' indexes.
CREATE FUNCTION consumer_group_admit(p_group_id int, p_window int, p_scan int, p_max_wait_ms int)
RETURNS TABLE (status text, admitted int, cursor_position bigint)
LANGUAGE plpgsql VOLATILE
SET plan_cache_mode = force_custom_plan
SET jit = off
SET enable_seqscan = off
SET search_path FROM CURRENT AS $$
#variable_conflict use_column
DECLARE
  g           consumer_groups%ROWTYPE;
  v_head      bigint;
  v_room      int;
  v_horizon   bigint;
  v_upto      bigint;
  v_read      int;
  v_last      bigint;
  v_admitted  int;
  v_cursor    bigint;
  v_hold      boolean;
  v_per_stream boolean;
BEGIN
  SELECT * INTO g FROM consumer_groups WHERE id = p_group_id;
  IF NOT FOUND THEN
    RETURN QUERY SELECT 'missing'::text, 0, NULL::bigint;
    RETURN;
  END IF;
  SELECT CASE WHEN is_called THEN last_value ELSE 0 END INTO v_head FROM events_position_seq;
  IF v_head <= g.cursor_position THEN
    RETURN QUERY SELECT 'idle'::text, 0, g.cursor_position;
    RETURN;
  END IF;
  SELECT p_window - count(*) INTO v_room
    FROM (SELECT 1 FROM consumer_group_messages m
           WHERE m.group_id = p_group_id AND m.parked_at IS NULL AND m.available_at <= now()
           LIMIT p_window) w;
  IF v_room <= 0 THEN
    RETURN QUERY SELECT 'full'::text, 0, g.cursor_position;
    RETURN;
  END IF;

  -- Before the lock: waiting for appends in flight must not hold the group.
  v_horizon := safe_horizon(p_max_wait_ms);

  SELECT * INTO g FROM consumer_groups WHERE id = p_group_id FOR UPDATE SKIP LOCKED;
  IF NOT FOUND THEN
    RETURN QUERY SELECT 'busy'::text, 0, NULL::bigint;
    RETURN;
  END IF;
  v_upto := v_horizon;
  IF v_upto IS NULL OR v_upto <= g.cursor_position THEN
    -- The longest run of positions directly after the cursor: final without the horizon.
    SELECT max(c.position) INTO v_upto
      FROM (SELECT e.position, e.position - row_number() OVER (ORDER BY e.position) AS base
              FROM (SELECT e2.position FROM events e2 WHERE e2.position > g.cursor_position
                     ORDER BY e2.position LIMIT p_scan) e) c
     WHERE c.base = g.cursor_position;
    IF v_upto IS NULL THEN
      RETURN QUERY SELECT CASE WHEN v_horizon IS NULL THEN 'waiting' ELSE 'idle' END, 0,
                          g.cursor_position;
      RETURN;
    END IF;
    v_horizon := NULL; -- still held back beyond this run
  END IF;
  v_upto := LEAST(v_upto, g.cursor_position + p_scan);
  v_per_stream := g.strategy = 'per-stream';
  v_hold := v_per_stream AND g.hold_parked_streams;

  WITH batch AS (
    SELECT e.position, e.stream_id, e.created_at, e.metadata
      FROM events e
     WHERE e.position > g.cursor_position AND e.position <= v_upto
       AND consumer_group_source_matches(g.source_category, g.source_event_types,
             g.source_stream_ids, g.source_stream_prefix, e.stream_id, e.type)
     ORDER BY e.position
     LIMIT v_room
  ), inserted AS (
    INSERT INTO consumer_group_messages (group_id, position, stream_id, per_stream, available_at)
    SELECT p_group_id, b.position, b.stream_id, v_per_stream,
           consumer_group_available_at(b.created_at, b.metadata)
      FROM batch b
     -- A stream held by a parked message admits nothing after it until the message is replayed
     -- or discarded (which admits what was held back, see consumer_group_unpark).
     WHERE NOT (v_hold AND EXISTS (
             SELECT 1 FROM consumer_group_messages p
              WHERE p.per_stream AND p.group_id = p_group_id AND p.stream_id = b.stream_id
                AND p.position < b.position AND p.parked_at IS NOT NULL))
     ORDER BY b.position
    ON CONFLICT ON CONSTRAINT consumer_group_messages_pkey DO NOTHING
    RETURNING 1
  )
  SELECT (SELECT count(*) FROM batch), (SELECT max(b.position) FROM batch b),
         (SELECT count(*) FROM inserted)
    INTO v_read, v_last, v_admitted;

  v_cursor := CASE WHEN v_read >= v_room THEN v_last ELSE v_upto END;
  UPDATE consumer_groups SET cursor_position = v_cursor WHERE id = p_group_id;
  RETURN QUERY SELECT CASE WHEN v_horizon IS NULL OR v_cursor < v_horizon THEN 'more'
                           ELSE 'admitted' END,
                      v_admitted, v_cursor;
END
$$;

-- Claims up to p_limit deliverable messages for a consumer: each gets the lease p_token until
-- now() + p_lease_ms and one more attempt. Returns a row per claimed message (position,
-- attempts, last_error; event columns NULL), then a row per event of those messages (position
-- and event columns; attempts NULL; an event that scavenge removed since has none). When fewer
-- than p_limit were claimed, a last row with a NULL position says in wait_ms when the next
-- message becomes available (a delay, a backoff, the rate limit), or NULL when none is.
--
-- Per-stream (p_per_stream): a message is deliverable only if no older message of its stream is
-- in the window (in flight, waiting for a retry, or parked while p_hold), so a stream has at
-- most one message in flight, in version order; the NOT EXISTS reads committed rows only, and
-- rows are deleted only by acks, so every claimer sees the older message until its ack commits.
-- Races: FOR UPDATE SKIP LOCKED hands a row to one claimer; a row leased by a concurrent claim
-- that committed first is re-checked by Postgres against the new lease and left out. The rows
-- are locked until commit, so the update by position that follows changes exactly them.
-- p_max_in_flight (leases across all consumers) and p_per_second (a token bucket shared by all
-- processes) serialise the group's claims on an advisory lock, so their counts are exact.
CREATE FUNCTION consumer_group_claim(
  p_group_id int, p_consumer_id uuid, p_token uuid, p_limit int, p_lease_ms int,
  p_per_stream boolean, p_hold boolean, p_max_in_flight int, p_per_second double precision)
RETURNS TABLE ("position" bigint, attempts int, last_error jsonb, stream_id text, version bigint,
               id uuid, type text, data jsonb, metadata jsonb, data_version int,
               created_at timestamptz, wait_ms double precision)
LANGUAGE plpgsql VOLATILE
SET plan_cache_mode = force_generic_plan
SET jit = off
SET enable_seqscan = off
SET enable_bitmapscan = off
SET enable_sort = off
SET search_path FROM CURRENT AS $$
#variable_conflict use_column
DECLARE
  v_limit     int := p_limit;
  v_claimed   int := 0;
  v_positions bigint[];
  v_tokens    double precision;
  v_next      timestamptz;
  v_wait      double precision;
BEGIN
  IF p_max_in_flight IS NOT NULL OR p_per_second IS NOT NULL THEN
    -- 'STRC': consumer-group claims.
    PERFORM pg_advisory_xact_lock(1398035011, p_group_id);
    IF p_max_in_flight IS NOT NULL THEN
      v_limit := LEAST(v_limit, p_max_in_flight - (
        SELECT count(*) FROM consumer_group_messages m
         WHERE m.group_id = p_group_id AND m.parked_at IS NULL AND m.available_at <= now()
           AND m.lease_expires_at > now())::int);
    END IF;
    IF p_per_second IS NOT NULL THEN
      -- Refill at p_per_second, burst of one second's worth (at least one).
      INSERT INTO consumer_group_throttles AS t (group_id, tokens, refilled_at)
      VALUES (p_group_id, GREATEST(p_per_second, 1), clock_timestamp())
      ON CONFLICT ON CONSTRAINT consumer_group_throttles_pkey DO UPDATE
        SET tokens = LEAST(GREATEST(p_per_second, 1),
                           t.tokens + extract(epoch FROM clock_timestamp() - t.refilled_at) * p_per_second),
            refilled_at = clock_timestamp()
      RETURNING t.tokens INTO v_tokens;
      v_limit := LEAST(v_limit, floor(v_tokens)::int);
    END IF;
  END IF;

  IF v_limit > 0 THEN
    SELECT array_agg(c.position) INTO v_positions
      FROM (SELECT m.position
              FROM consumer_group_messages m
             WHERE m.group_id = p_group_id AND m.parked_at IS NULL AND m.available_at <= now()
               AND (m.lease_expires_at IS NULL OR m.lease_expires_at <= now())
               AND (NOT p_per_stream OR NOT EXISTS (
                     SELECT 1 FROM consumer_group_messages o
                      WHERE o.per_stream AND o.group_id = p_group_id AND o.stream_id = m.stream_id
                        AND o.position < m.position AND (p_hold OR o.parked_at IS NULL)))
             ORDER BY m.available_at
             LIMIT v_limit
               FOR UPDATE SKIP LOCKED) c;
  END IF;

  IF v_positions IS NOT NULL THEN
    RETURN QUERY
    WITH leased AS (
      UPDATE consumer_group_messages m
         SET lease_token = p_token,
             lease_expires_at = now() + make_interval(secs => p_lease_ms / 1000.0),
             consumer_id = p_consumer_id,
             attempts = m.attempts + 1,
             delivered_at = now()
       WHERE m.position = ANY (v_positions) AND m.group_id + 0 = p_group_id
      RETURNING m.position, m.attempts, m.last_error
    )
    SELECT l.position, l.attempts, l.last_error, NULL::text, NULL::bigint, NULL::uuid, NULL::text,
           NULL::jsonb, NULL::jsonb, NULL::int, NULL::timestamptz, NULL::double precision
      FROM leased l;
    GET DIAGNOSTICS v_claimed = ROW_COUNT;
    -- The events, planned on each call (EXECUTE): a plan cached while events was small could
    -- walk a whole index of it on every claim once it has grown.
    RETURN QUERY EXECUTE
      'SELECT e.position, NULL::int, NULL::jsonb, e.stream_id, e.version, e.id, e.type, e.data,
              e.metadata, e.data_version, e.created_at, NULL::double precision
         FROM events e WHERE e.position = ANY ($1)'
      USING v_positions;
  END IF;

  IF p_per_second IS NOT NULL THEN
    UPDATE consumer_group_throttles t SET tokens = GREATEST(t.tokens - v_claimed, 0)
     WHERE t.group_id = p_group_id
    RETURNING t.tokens INTO v_tokens;
  END IF;

  IF v_claimed < p_limit THEN
    SELECT m.available_at INTO v_next
      FROM consumer_group_messages m
     WHERE m.group_id = p_group_id AND m.parked_at IS NULL AND m.available_at > now()
     ORDER BY m.available_at LIMIT 1;
    v_wait := extract(epoch FROM v_next - clock_timestamp()) * 1000;
    IF p_per_second IS NOT NULL AND v_tokens < 1 THEN
      v_wait := LEAST(COALESCE(v_wait, 'Infinity'), (1 - v_tokens) / p_per_second * 1000);
    END IF;
    RETURN QUERY SELECT NULL::bigint, NULL::int, NULL::jsonb, NULL::text, NULL::bigint, NULL::uuid,
                        NULL::text, NULL::jsonb, NULL::jsonb, NULL::int, NULL::timestamptz,
                        CASE WHEN v_wait IS NULL THEN NULL ELSE GREATEST(v_wait, 0) END;
  END IF;
END
$$;

-- Acks: deletes the messages whose lease tokens still match. Returns the positions deleted; a
-- missing one lost its lease (another consumer holds it, or a reset removed it).
CREATE FUNCTION consumer_group_ack(p_group_id int, p_positions bigint[], p_tokens uuid[])
RETURNS SETOF bigint
LANGUAGE plpgsql VOLATILE
SET plan_cache_mode = force_generic_plan
SET jit = off
SET enable_seqscan = off
SET enable_bitmapscan = off
SET search_path FROM CURRENT AS $$
BEGIN
  RETURN QUERY
  DELETE FROM consumer_group_messages m
   WHERE m.position = ANY (p_positions) AND m.group_id + 0 = p_group_id
     AND m.lease_token = p_tokens[array_position(p_positions, m.position)]
  RETURNING m.position;
END
$$;

-- Nacks and releases: ends the leases whose tokens still match. A positive delay makes the
-- message deliverable again after it (a retry's backoff); zero leaves it deliverable at once (a
-- release at stop). p_uncount takes back the attempt of a message never handed to user code.
-- Returns the positions updated.
CREATE FUNCTION consumer_group_retry(
  p_group_id int, p_positions bigint[], p_tokens uuid[], p_delays_ms int[], p_errors jsonb[],
  p_uncount boolean[])
RETURNS SETOF bigint
LANGUAGE plpgsql VOLATILE
SET plan_cache_mode = force_generic_plan
SET jit = off
SET enable_seqscan = off
SET enable_bitmapscan = off
SET search_path FROM CURRENT AS $$
DECLARE
  i int;
BEGIN
  -- One message at a time (these are rare: failures and stops), each found by its key.
  FOR i IN 1 .. COALESCE(cardinality(p_positions), 0) LOOP
    UPDATE consumer_group_messages m
       SET lease_token = NULL, lease_expires_at = NULL, consumer_id = NULL,
           -- Only a real delay touches the indexed column; releases stay HOT updates.
           available_at = CASE WHEN p_delays_ms[i] > 0
                               THEN now() + make_interval(secs => p_delays_ms[i] / 1000.0)
                               ELSE m.available_at END,
           last_error = COALESCE(p_errors[i], m.last_error),
           attempts = CASE WHEN p_uncount[i] THEN GREATEST(m.attempts - 1, 0) ELSE m.attempts END
     WHERE m.position = p_positions[i] AND m.group_id + 0 = p_group_id
       AND m.lease_token = p_tokens[i];
    IF FOUND THEN
      RETURN NEXT p_positions[i];
    END IF;
  END LOOP;
END
$$;

-- Heartbeat of a consumer: registers or refreshes it (it counts as connected until expires_at),
-- forgets consumers of the group whose heartbeat stopped, and extends the leases it still holds.
-- Returns the positions whose leases were extended; any other it asked for is lost.
CREATE FUNCTION consumer_group_heartbeat(
  p_group_id int, p_consumer_id uuid, p_label text, p_concurrency int, p_ttl_ms int,
  p_positions bigint[], p_tokens uuid[], p_lease_ms int)
RETURNS SETOF bigint
LANGUAGE plpgsql VOLATILE
SET plan_cache_mode = force_generic_plan
SET jit = off
SET enable_seqscan = off
SET enable_bitmapscan = off
SET search_path FROM CURRENT AS $$
BEGIN
  INSERT INTO consumer_group_consumers AS c
         (group_id, consumer_id, label, concurrency, expires_at)
  VALUES (p_group_id, p_consumer_id, p_label, p_concurrency,
          now() + make_interval(secs => p_ttl_ms / 1000.0))
  ON CONFLICT ON CONSTRAINT consumer_group_consumers_pkey DO UPDATE
    SET last_seen_at = now(), expires_at = EXCLUDED.expires_at;
  DELETE FROM consumer_group_consumers c WHERE c.group_id = p_group_id AND c.expires_at < now();
  RETURN QUERY
  UPDATE consumer_group_messages m
     SET lease_expires_at = now() + make_interval(secs => p_lease_ms / 1000.0)
   WHERE m.position = ANY (p_positions) AND m.group_id + 0 = p_group_id
     AND m.lease_token = p_tokens[array_position(p_positions, m.position)]
  RETURNING m.position;
END
$$;

-- Parks a message (dead letter) with a reason and its last error. With p_token, only if that
-- lease still holds it. In a per-stream group that holds parked streams, the messages of its
-- stream behind it leave the window (they are re-admitted from the log when the message is
-- replayed or discarded), so a parked stream never fills the window while others flow.
-- The group row is taken FOR SHARE first: an admission running now finishes before the delete
-- looks (and sees what it admitted), and the next one sees the parked message.
CREATE FUNCTION consumer_group_park(
  p_group_id int, p_position bigint, p_token uuid, p_reason text, p_error jsonb)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET enable_seqscan = off
SET enable_bitmapscan = off
SET search_path FROM CURRENT AS $$
DECLARE
  v_hold   boolean;
  v_stream text;
BEGIN
  SELECT g.strategy = 'per-stream' AND g.hold_parked_streams INTO v_hold
    FROM consumer_groups g WHERE g.id = p_group_id FOR SHARE;
  UPDATE consumer_group_messages m
     SET parked_at = now(), park_reason = p_reason, last_error = COALESCE(p_error, m.last_error),
         lease_token = NULL, lease_expires_at = NULL, consumer_id = NULL
   WHERE m.position = p_position AND m.group_id + 0 = p_group_id AND m.parked_at IS NULL
     AND (p_token IS NULL OR m.lease_token = p_token)
  RETURNING m.stream_id INTO v_stream;
  IF NOT FOUND THEN
    RETURN false;
  END IF;
  IF v_hold THEN
    DELETE FROM consumer_group_messages m
     WHERE m.per_stream AND m.group_id = p_group_id AND m.stream_id = v_stream
       AND m.position > p_position AND m.parked_at IS NULL;
  END IF;
  RETURN true;
END
$$;

-- Replays (p_discard false: deliverable again with a fresh attempt count) or discards (deleted,
-- as if acked) parked messages: the given positions, or all with NULL. In a per-stream group
-- that holds parked streams, the events of the stream that were held back are admitted again
-- from the log, in order behind it. Runs under the group row's lock, so the cursor does not
-- move meanwhile. Returns the number of messages replayed or discarded.
CREATE FUNCTION consumer_group_unpark(p_group_id int, p_positions bigint[], p_discard boolean)
RETURNS int
LANGUAGE plpgsql VOLATILE
SET enable_seqscan = off
SET search_path FROM CURRENT AS $$
DECLARE
  g       consumer_groups%ROWTYPE;
  r       record;
  v_count int := 0;
BEGIN
  SELECT * INTO g FROM consumer_groups WHERE id = p_group_id FOR UPDATE;
  IF NOT FOUND THEN
    RETURN 0;
  END IF;
  FOR r IN
    SELECT m.position, m.stream_id FROM consumer_group_messages m
     WHERE m.group_id = p_group_id AND m.parked_at IS NOT NULL
       AND (p_positions IS NULL OR m.position = ANY (p_positions))
     ORDER BY m.position
       FOR UPDATE
  LOOP
    IF p_discard THEN
      DELETE FROM consumer_group_messages m
       WHERE m.position = r.position AND m.group_id + 0 = p_group_id;
    ELSE
      UPDATE consumer_group_messages m
         SET parked_at = NULL, park_reason = NULL, attempts = 0, available_at = now(),
             lease_token = NULL, lease_expires_at = NULL, consumer_id = NULL
       WHERE m.position = r.position AND m.group_id + 0 = p_group_id;
    END IF;
    v_count := v_count + 1;
    IF g.strategy = 'per-stream' AND g.hold_parked_streams THEN
      INSERT INTO consumer_group_messages (group_id, position, stream_id, per_stream, available_at)
      SELECT p_group_id, e.position, e.stream_id, true,
             consumer_group_available_at(e.created_at, e.metadata)
        FROM events e
       WHERE e.stream_id = r.stream_id AND e.position > r.position
         AND e.position <= g.cursor_position
         AND consumer_group_source_matches(g.source_category, g.source_event_types,
               g.source_stream_ids, g.source_stream_prefix, e.stream_id, e.type)
       ORDER BY e.position
      ON CONFLICT ON CONSTRAINT consumer_group_messages_pkey DO NOTHING;
    END IF;
  END LOOP;
  RETURN v_count;
END
$$;

-- Moves the cursor (replay from a position or a time, or skip to the end) and empties the
-- window of everything but parked messages: in-flight leases are lost (their acks are refused
-- and their consumers abort them at the next heartbeat). Returns the new cursor and how many
-- messages left the window.
CREATE FUNCTION consumer_group_reset(p_group_id int, p_kind text, p_position bigint, p_time timestamptz)
RETURNS TABLE (cursor_position bigint, removed int)
LANGUAGE plpgsql VOLATILE SET search_path FROM CURRENT AS $$
#variable_conflict use_column
DECLARE
  v_cursor  bigint;
  v_removed int;
BEGIN
  PERFORM 1 FROM consumer_groups g WHERE g.id = p_group_id FOR UPDATE;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  v_cursor := consumer_group_start_cursor(p_kind, p_position, p_time);
  DELETE FROM consumer_group_messages m WHERE m.group_id = p_group_id AND m.parked_at IS NULL;
  GET DIAGNOSTICS v_removed = ROW_COUNT;
  UPDATE consumer_groups g SET cursor_position = v_cursor WHERE g.id = p_group_id;
  RETURN QUERY SELECT v_cursor, v_removed;
END
$$;

-- Deletes a group with its window, dead letters, consumers and throttle. Returns whether it
-- existed.
CREATE FUNCTION consumer_group_delete(p_name text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SET search_path FROM CURRENT AS $$
DECLARE
  v_id int;
BEGIN
  DELETE FROM consumer_groups g WHERE g.name = p_name RETURNING g.id INTO v_id;
  IF NOT FOUND THEN
    RETURN false;
  END IF;
  DELETE FROM consumer_group_messages m WHERE m.group_id = v_id;
  DELETE FROM consumer_group_consumers c WHERE c.group_id = v_id;
  DELETE FROM consumer_group_throttles t WHERE t.group_id = v_id;
  RETURN true;
END
$$;
