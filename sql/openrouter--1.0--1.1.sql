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
-- Who pays: no requests from maintenance commands
-- ======================================================================

-- Index builds, ANALYZE, VACUUM FULL, CLUSTER, REINDEX and autovacuum
-- evaluate index expressions as the table's owner, whoever runs them; the
-- library refuses to send requests there (ORK02).  An index over a paid call
-- could therefore never be maintained: it is refused when it is created.
CREATE FUNCTION openrouter_refuse_paid_indexes() RETURNS event_trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    paid regprocedure;
    index_name regclass;
BEGIN
    FOR index_name, paid IN
        SELECT DISTINCT i.indexrelid::regclass, d.refobjid::regprocedure
        FROM pg_event_trigger_ddl_commands() c
        JOIN pg_index i ON c.classid = 'pg_class'::regclass
                       AND c.objid IN (i.indexrelid, i.indrelid)
        JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = i.indexrelid
                        AND d.refclassid = 'pg_proc'::regclass
        WHERE d.refobjid = ANY (ARRAY['@extschema@.openrouter_chat(jsonb, text, jsonb, jsonb, jsonb, jsonb, jsonb, text, text, text)'::regprocedure])
    LOOP
        RAISE EXCEPTION 'index % calls %, which sends paid requests', index_name, paid
            USING ERRCODE = 'feature_not_supported',
                  DETAIL = 'Index maintenance (REINDEX, VACUUM FULL, ANALYZE, autovacuum) runs as the table''s owner and never sends requests.',
                  HINT = 'Store the answers in a column (openrouter_add_computed_column) and index that column.';
    END LOOP;
END
$$;
COMMENT ON FUNCTION openrouter_refuse_paid_indexes() IS
$$Internal (event trigger): refuses an index whose expression or predicate calls openrouter_chat, since index maintenance would have to send paid requests as the table's owner.$$;
REVOKE EXECUTE ON FUNCTION openrouter_refuse_paid_indexes() FROM PUBLIC;
-- indexes that 1.0 allowed: their tables can no longer be analyzed or reindexed
DO $$
DECLARE
    index_name regclass;
BEGIN
    FOR index_name IN
        SELECT DISTINCT d.objid::regclass FROM pg_catalog.pg_depend d
        JOIN pg_catalog.pg_class c ON c.oid = d.objid AND c.relkind IN ('i', 'I')
        WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.refclassid = 'pg_catalog.pg_proc'::regclass
          AND d.refobjid = '@extschema@.openrouter_chat(jsonb, text, jsonb, jsonb, jsonb, jsonb, jsonb, text, text, text)'::regprocedure
    LOOP
        RAISE WARNING 'index % calls openrouter_chat: from now on its table cannot be analyzed, reindexed or vacuumed with FULL', index_name
            USING HINT = 'Drop the index; store the answers in a column (openrouter_add_computed_column) and index that column.';
    END LOOP;
END
$$;
CREATE EVENT TRIGGER openrouter_refuse_paid_indexes ON ddl_command_end
    WHEN TAG IN ('CREATE INDEX', 'CREATE TABLE', 'ALTER TABLE')
    EXECUTE FUNCTION openrouter_refuse_paid_indexes();
