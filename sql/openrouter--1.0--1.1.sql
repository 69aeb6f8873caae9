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
