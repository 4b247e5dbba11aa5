-- The per-stream probes (is there an older message of this stream in the window?) can use one
-- index only, the stream index, whatever the statistics say (issue 19; docs/performance.md,
-- "Third pass"). Runs with search_path set to the store's schema; nothing here names the schema.
--
-- consumer_group_claim's NOT EXISTS probe, admission's look for a parked message ahead of each
-- admitted event and park's removal of a held stream's later messages name the group and the
-- stream and compare positions. Planned while the statistics said the window was (nearly) empty,
-- as they do after a group drained and vacuumed itself, the probe could use the primary key
-- (position, group_id) instead of the stream index (group_id, stream_id): both looked like one
-- row, and the primary key matches the group (a condition on its second column, so a walk of the
-- whole key) and the position. The claim then read every message for each message it passed:
-- 560-1,000 ms a claim instead of 5 ms, until the statistics changed again (auto_explain in the
-- bench: "Index Scan using consumer_group_messages_pkey" under the claim's SubPlan, Index Cond
-- group_id = $1); 16 per-stream consumers drained 1,300-1,800 deliveries/s instead of ~25,000 in
-- about one run in seventy.
--
-- Now the stream index leads with the stream id, and the probes compare the group and the
-- position as `+ 0` expressions, which are no index condition of any index: the stream index's
-- leading column is the only condition a plan can use, so no other path exists (sequential scans
-- are off in these functions). Other uses of the stream index name the stream too. The index is
-- built inside the migration's transaction, not CONCURRENTLY: the table holds only the groups'
-- windows (unacked messages, windowSize per group), so the build is short, and claims, acks and
-- admissions wait for it.
CREATE INDEX consumer_group_messages_stream_first_idx
    ON consumer_group_messages (stream_id, group_id) INCLUDE (position) WHERE per_stream;
DROP INDEX consumer_group_messages_stream_idx;
ALTER INDEX consumer_group_messages_stream_first_idx RENAME TO consumer_group_messages_stream_idx;

-- Rewritten from their own definitions, so that nothing else of them changes (CREATE OR REPLACE
-- keeps owner, grants, SECURITY DEFINER and settings).
DO $$
DECLARE
  v_fn   regprocedure;
  v_def  text;
  v_pair text[];
  v_subs text[][];
BEGIN
  FOR v_fn, v_subs IN VALUES
    ('consumer_group_claim(int, uuid, uuid, int, int, boolean, boolean, int, double precision)'::regprocedure,
     ARRAY[['o.group_id = p_group_id AND o.stream_id = m.stream_id', 'o.group_id + 0 = p_group_id AND o.stream_id = m.stream_id'],
           ['AND o.position < m.position', 'AND o.position + 0 < m.position']]),
    ('consumer_group_admit(int, int, int, int)'::regprocedure,
     ARRAY[['p.group_id = p_group_id AND p.stream_id = b.stream_id', 'p.group_id + 0 = p_group_id AND p.stream_id = b.stream_id'],
           ['AND p.position < b.position', 'AND p.position + 0 < b.position']]),
    ('consumer_group_admit_rows(int, int, bigint, bigint, bigint, bigint[], text[], timestamptz[], jsonb[])'::regprocedure,
     ARRAY[['p.group_id = p_group_id AND p.stream_id = b.stream_id', 'p.group_id + 0 = p_group_id AND p.stream_id = b.stream_id'],
           ['AND p.position < b.position', 'AND p.position + 0 < b.position']]),
    ('consumer_group_park(int, bigint, uuid, text, jsonb)'::regprocedure,
     ARRAY[['m.group_id = p_group_id AND m.stream_id = v_stream', 'm.group_id + 0 = p_group_id AND m.stream_id = v_stream'],
           ['AND m.position > p_position', 'AND m.position + 0 > p_position']])
  LOOP
    v_def := pg_get_functiondef(v_fn);
    FOREACH v_pair SLICE 1 IN ARRAY v_subs LOOP
      IF (length(v_def) - length(replace(v_def, v_pair[1], ''))) / length(v_pair[1]) <> 1 THEN
        RAISE EXCEPTION '% has not exactly one "%": not the definition this migration expects', v_fn, v_pair[1];
      END IF;
      v_def := replace(v_def, v_pair[1], v_pair[2]);
    END LOOP;
    EXECUTE v_def;
  END LOOP;
END
$$;
