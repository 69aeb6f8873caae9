-- Arguments naming objects that do not exist are errors, never crashes
-- (found by the fuzz test: OIDs of no relation reached catalog lookups).
\set VERBOSITY terse
SELECT openrouter_drop_computed_column(0::oid::regclass, 'a');
SELECT openrouter_drop_computed_column(4294967295::oid::regclass, '');
SELECT openrouter_recompute(123456::oid::regclass, 'a');
SELECT openrouter_add_computed_column(123456::oid::regclass, 'a', 'prompt');
SELECT openrouter_computed_column_bind(123456::oid::regclass, 'x');
CREATE TABLE missing_objects (id int PRIMARY KEY, prompt text);
SELECT openrouter_computed_column_bind('missing_objects'::regclass, '');
SELECT openrouter_computed_column_bind('missing_objects'::regclass, '   ');
SELECT openrouter_computed_column_bind('missing_objects'::regclass, 'prompt; prompt');
DROP TABLE missing_objects;
-- the backend is still there
SELECT 1 AS alive;
