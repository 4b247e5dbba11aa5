-- Checkpoints of durable subscriptions, and the state of projections (one row per version).
-- Runs with search_path set to the store's schema; nothing here names the schema.

-- A durable subscription's position in $all: every event at or below it was handled.
-- Transactional handlers update it in the same transaction as their own writes.
CREATE TABLE checkpoints (
  name       text        NOT NULL,
  position   bigint      NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  CONSTRAINT checkpoints_pkey PRIMARY KEY (name),
  CONSTRAINT checkpoints_position_check CHECK (position >= 0)
);

-- One row per projection version. The active version serves reads; a newer one may be
-- building alongside it (blue/green rebuild) and takes over once caught up.
CREATE TABLE projections (
  name            text        NOT NULL,
  version         int         NOT NULL,
  -- 'building': catching up, not serving; 'active': serving; 'retired': replaced by a newer
  -- version; 'paused': the runner holds still until resumed.
  status          text        NOT NULL DEFAULT 'building',
  paused          boolean     NOT NULL DEFAULT false,
  -- Every event at or below this position has been applied (or skipped by the error policy).
  position        bigint      NOT NULL DEFAULT 0,
  -- Where this version started reading (0 for a full rebuild).
  started_from    bigint      NOT NULL DEFAULT 0,
  -- Lease of the one runner allowed to apply events (fencing: updates check the owner).
  lease_owner     text,
  lease_until     timestamptz,
  -- The event the projection stopped on, and why (error policy 'stop').
  failed_position bigint,
  failed_event_id uuid,
  failed_error    text,
  failed_at       timestamptz,
  created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
  updated_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
  activated_at    timestamptz,
  CONSTRAINT projections_pkey PRIMARY KEY (name, version),
  CONSTRAINT projections_status_check CHECK (status IN ('building', 'active', 'retired')),
  CONSTRAINT projections_version_check CHECK (version > 0)
);

-- At most one active version per projection.
CREATE UNIQUE INDEX projections_one_active_key ON projections (name) WHERE status = 'active';

-- Events a projection skipped or stopped on, with the error (error policies 'skip' and 'stop').
CREATE TABLE projection_failures (
  name        text        NOT NULL,
  version     int         NOT NULL,
  position    bigint      NOT NULL,
  event_id    uuid        NOT NULL,
  event_type  text        NOT NULL,
  error       text        NOT NULL,
  attempts    int         NOT NULL DEFAULT 1,
  skipped     boolean     NOT NULL,
  recorded_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  CONSTRAINT projection_failures_pkey PRIMARY KEY (name, version, position),
  CONSTRAINT projection_failures_projection_fkey FOREIGN KEY (name, version)
    REFERENCES projections (name, version) ON DELETE CASCADE
);

-- The first position whose event was created at or after p_time (the head + 1 when none):
-- a binary search over positions, a few dozen index probes however long the log. created_at
-- follows position closely but not exactly (concurrent appends), so "from 09:00" may start a
-- few events early, never late.
CREATE FUNCTION position_at_time(p_time timestamptz) RETURNS bigint
LANGUAGE plpgsql STABLE SET enable_seqscan = off SET search_path FROM CURRENT AS $$
DECLARE
  v_lo bigint;
  v_hi bigint;
  v_mid bigint;
  v_pos bigint;
  v_at timestamptz;
BEGIN
  SELECT min(position), max(position) INTO v_lo, v_hi FROM events;
  IF v_lo IS NULL THEN
    RETURN 1;
  END IF;
  IF (SELECT created_at FROM events WHERE position = v_hi) < p_time THEN
    RETURN v_hi + 1;
  END IF;
  -- Invariant: the answer is in [v_lo, v_hi].
  WHILE v_lo < v_hi LOOP
    v_mid := v_lo + (v_hi - v_lo) / 2;
    SELECT e.position, e.created_at INTO v_pos, v_at
      FROM events e WHERE e.position >= v_mid ORDER BY e.position LIMIT 1;
    IF v_at < p_time THEN
      v_lo := v_pos + 1;
    ELSE
      v_hi := v_pos;
    END IF;
  END LOOP;
  RETURN v_lo;
END
$$;
