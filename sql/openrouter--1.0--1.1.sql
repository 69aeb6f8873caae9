/* openrouter--1.0--1.1.sql: upgrade from 1.0 to 1.1 */

\echo Use "ALTER EXTENSION openrouter UPDATE TO '1.1'" to load this file. \quit

-- ======================================================================
-- Keys
-- ======================================================================

-- No planner statistic may hold a copy of a key: ANALYZE (and autovacuum)
-- would copy key values into pg_statistic, which pg_read_all_data reads.
-- A statistics target of 0 makes ANALYZE skip a column; statistics that 1.0
-- let it gather are removed.
ALTER TABLE openrouter_api_key
    ALTER COLUMN role_id SET STATISTICS 0,
    ALTER COLUMN role_name SET STATISTICS 0,
    ALTER COLUMN api_key SET STATISTICS 0,
    ALTER COLUMN site_url SET STATISTICS 0,
    ALTER COLUMN site_name SET STATISTICS 0,
    ALTER COLUMN updated_at SET STATISTICS 0;
DELETE FROM pg_catalog.pg_statistic WHERE starelid = 'openrouter_api_key'::regclass;

-- ======================================================================
-- openrouter_chat's arguments
-- ======================================================================

-- The C descriptor table of openrouter_chat's arguments (request.c), which
-- drives argument checking, openrouter_chat_batch's request keys and the
-- request body; the regression suite compares it with pg_proc.
CREATE FUNCTION openrouter_chat_arguments(
    OUT "position" integer, OUT name text, OUT type regtype,
    OUT batch_key boolean, OUT in_body boolean)
RETURNS SETOF record
LANGUAGE C STABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'openrouter_chat_arguments';
REVOKE EXECUTE ON FUNCTION openrouter_chat_arguments() FROM PUBLIC;
COMMENT ON FUNCTION openrouter_chat_arguments() IS
$$Internal: the extension's table of openrouter_chat's arguments, in order: name, type, whether it is a key of openrouter_chat_batch's request objects, whether it goes into the request body (and so may not appear in model_kwargs). The regression suite compares it with pg_proc.$$;
