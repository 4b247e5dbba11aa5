-- Relays of $all to a message broker (src/relay/, docs/relay.md): one row per relay name.
-- Runs with search_path set to the store's schema; nothing here names the schema.

CREATE TABLE relays (
  name            text        NOT NULL,
  -- Where the relay publishes: the JetStream stream. A relay name is bound to one target; a
  -- new target needs a new relay name (its own checkpoint).
  target          text        NOT NULL,
  -- The $all filter the relay publishes (event types, category, stream-id prefix), kept for
  -- `strata relay status` so lag counts only what the relay publishes.
  filter          jsonb       NOT NULL DEFAULT '{}',
  -- Every event of the filter at or below this position was acknowledged by the broker. It
  -- only trails the broker: on takeover the relay resumes after the last message the broker
  -- holds, and this is the fallback when that message is gone.
  position        bigint      NOT NULL DEFAULT 0,
  -- The broker's sequence number of the message of the event at `position` (0: none yet).
  stream_sequence bigint      NOT NULL DEFAULT 0,
  -- Lease of the one relay instance allowed to publish (renewed with each checkpoint).
  lease_owner     text,
  lease_until     timestamptz,
  -- When `position` last moved.
  published_at    timestamptz,
  created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
  updated_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
  CONSTRAINT relays_pkey PRIMARY KEY (name),
  CONSTRAINT relays_position_check CHECK (position >= 0),
  CONSTRAINT relays_stream_sequence_check CHECK (stream_sequence >= 0)
);
