-- Arguments that name nothing: every function of the extension that takes a
-- regclass, regprocedure or name, given OIDs of no object, catalogs, views,
-- sequences and odd names, raises a typed error (never a crash or XX000).
-- Found by the fuzz test (openrouter_drop_computed_column(0::regclass, ...),
-- openrouter_computed_column_bind(0::regclass, ...) crashed the backend;
-- adopting the system column xmin was XX000 "negative bitmapset member").
CREATE FUNCTION pg_temp.try(call text, OUT state text, OUT message text)
LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE call;
  state := 'ok';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT;
END $$;

CREATE TABLE lookup_t (id int PRIMARY KEY, prompt text);
CREATE VIEW lookup_v AS SELECT * FROM lookup_t;
CREATE SEQUENCE lookup_s;

SELECT c AS call, t.state, t.message
FROM unnest(ARRAY[
  $$SELECT openrouter_computed_column_bind(0::oid::regclass, 'id')$$,
  $$SELECT openrouter_computed_column_bind(4294967295::oid::regclass, 'id')$$,
  $$SELECT openrouter_computed_column_bind(NULL, 'id')$$,
  $$SELECT openrouter_computed_column_bind('lookup_t', '')$$,
  $$SELECT openrouter_drop_computed_column(0::oid::regclass, 'x')$$,
  $$SELECT openrouter_drop_computed_column(123456::oid::regclass, 'x')$$,
  $$SELECT openrouter_drop_computed_column('lookup_v', 'x')$$,
  $$SELECT openrouter_drop_computed_column('lookup_s', 'x')$$,
  $$SELECT openrouter_add_computed_column(0::oid::regclass, 'r', 'prompt')$$,
  $$SELECT openrouter_add_computed_column(4294967295::oid::regclass, 'r', 'prompt')$$,
  $$SELECT openrouter_add_computed_column('pg_class', 'r', 'relname')$$,
  $$SELECT openrouter_add_computed_column('lookup_v', 'r', 'prompt')$$,
  $$SELECT openrouter_add_computed_column('lookup_t', '', 'prompt')$$,
  $$SELECT openrouter_add_computed_column('lookup_t', 'xmin', 'prompt')$$,
  $$SELECT openrouter_add_computed_column('lookup_t', 'xmin', 'prompt', adopt => true)$$,
  $$SELECT openrouter_add_computed_column('lookup_t', 'ctid', 'prompt', backfill => false, adopt => true)$$,
  $$SELECT openrouter_recompute(0::oid::regclass, 'x')$$,
  $$SELECT openrouter_recompute('lookup_s', 'x')$$,
  $$SELECT openrouter_tools(0::oid::regprocedure)$$,
  $$SELECT openrouter_tools(VARIADIC ARRAY[4294967295::oid::regprocedure])$$,
  $$SELECT openrouter_tools(VARIADIC ARRAY[NULL::regprocedure])$$
]) WITH ORDINALITY AS u(c, n), LATERAL pg_temp.try(c) AS t
ORDER BY n;
-- a procedure that commits cannot run inside the helper's block
CALL openrouter_backfill(0::oid::regclass, 'x');
CALL openrouter_backfill(4294967295::oid::regclass, 'x');

DROP VIEW lookup_v;
DROP TABLE lookup_t;
DROP SEQUENCE lookup_s;
