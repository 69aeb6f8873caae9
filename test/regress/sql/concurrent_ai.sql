-- The typed AI functions are concurrent in plain SQL too (concurrent.c):
-- openrouter_if in WHERE, openrouter_classify and openrouter_generate in
-- the target list, openrouter_embed; shown by the stand-in's counts.
CREATE TABLE ca_tickets (id int PRIMARY KEY, body text);
INSERT INTO ca_tickets SELECT i, 'ticket ' || i FROM generate_series(1, 24) AS i;
CREATE FUNCTION counts_since(before int, OUT requests int, OUT max_in_flight int)
LANGUAGE sql AS $$
  SELECT (s->>'requests')::int - before - 1, (s->>'max_in_flight')::int FROM standin_stats() AS s $$;
SET openrouter.max_concurrency = 6;
SET openrouter.default_model = 'standin/latency=30';

EXPLAIN (COSTS OFF) SELECT id FROM ca_tickets WHERE openrouter_if('Is this urgent? ' || body);
SELECT (standin_stats_reset()->>'requests')::int AS before \gset
SELECT count(*) IS NOT NULL AS ran FROM ca_tickets WHERE openrouter_if('Is this urgent? ' || body);
SELECT * FROM counts_since(:before);

SELECT (standin_stats_reset()->>'requests')::int AS before \gset
SELECT count(c) FROM (SELECT openrouter_classify(body, ARRAY['bug', 'question']) AS c FROM ca_tickets OFFSET 0) t;
SELECT * FROM counts_since(:before);

SELECT (standin_stats_reset()->>'requests')::int AS before \gset
SELECT count(n) FROM (SELECT openrouter_generate('A number for ' || body, NULL::int) AS n FROM ca_tickets OFFSET 0) t;
SELECT * FROM counts_since(:before);

RESET openrouter.default_model;
RESET openrouter.max_concurrency;
DROP FUNCTION counts_since(int);
DROP TABLE ca_tickets;
