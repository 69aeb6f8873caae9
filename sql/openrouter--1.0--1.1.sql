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

-- ======================================================================
-- The usage ledger (needs shared_preload_libraries = 'openrouter')
-- ======================================================================

-- One row per request sent (or answered from the cache).  Backends spool
-- their records to files that survive their transaction, the database's
-- background worker moves them here; only the extension's owner reads the
-- table directly, roles read the view openrouter_usage.
CREATE TABLE openrouter_usage_log (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    finished_at       timestamptz NOT NULL,
    role_id           oid NOT NULL,
    table_oid         oid,
    column_name       text,
    model_requested   text,
    model_served      text,
    provider          text,
    generation_id     text,
    cost              numeric,
    prompt_tokens     bigint,
    completion_tokens bigint,
    reasoning_tokens  bigint,
    cached_tokens     bigint,
    latency_ms        double precision,
    attempts          int,
    http_status       int,
    failure           text,
    from_cache        boolean NOT NULL DEFAULT false
);
CREATE INDEX ON openrouter_usage_log (finished_at);
CREATE INDEX ON openrouter_usage_log (role_id, finished_at);
REVOKE ALL ON openrouter_usage_log FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('openrouter_usage_log', '');
COMMENT ON TABLE openrouter_usage_log IS
'Private to the openrouter extension: the usage ledger, one row per request; read it through the view openrouter_usage.';

-- How far each spool file has been moved into the ledger (exactly once).
CREATE TABLE openrouter_ledger_spool (
    file     text PRIMARY KEY,
    ingested bigint NOT NULL
);
REVOKE ALL ON openrouter_ledger_spool FROM PUBLIC;
COMMENT ON TABLE openrouter_ledger_spool IS
'Private to the openrouter extension: how many bytes of each spool file of the usage ledger the background worker has moved into openrouter_usage_log.';

CREATE VIEW openrouter_usage WITH (security_barrier) AS
SELECT u.id, u.finished_at, pg_catalog.current_database() AS database,
       u.role_id::regrole AS role, u.table_oid::regclass AS table_name, u.column_name,
       u.model_requested, u.model_served, u.provider, u.generation_id,
       u.prompt_tokens, u.completion_tokens, u.reasoning_tokens, u.cached_tokens,
       u.cost, u.latency_ms, u.attempts, u.http_status, u.failure, u.from_cache
FROM openrouter_usage_log u
WHERE u.role_id OPERATOR(pg_catalog.=) (SELECT oid FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) CURRENT_USER)
   OR pg_catalog.pg_has_role(CURRENT_USER, 'pg_read_all_stats', 'USAGE');
GRANT SELECT ON openrouter_usage TO PUBLIC;
COMMENT ON VIEW openrouter_usage IS
'The usage ledger: one row per request the extension sent (or answered from its cache), kept even when the sending transaction rolled back. A role sees its own rows; superusers and members of pg_read_all_stats see all. Needs shared_preload_libraries = ''openrouter''; rows older than openrouter.usage_retention days are removed.';
COMMENT ON COLUMN openrouter_usage.id IS 'Order of arrival in the ledger.';
COMMENT ON COLUMN openrouter_usage.finished_at IS 'When the answer (or the final failure) arrived.';
COMMENT ON COLUMN openrouter_usage.database IS 'The database the request was sent from (the ledger is kept per database).';
COMMENT ON COLUMN openrouter_usage.role IS 'The role whose key paid.';
COMMENT ON COLUMN openrouter_usage.table_name IS 'The table of the computed column that asked for the answer, or NULL.';
COMMENT ON COLUMN openrouter_usage.column_name IS 'The computed column that asked for the answer, or NULL.';
COMMENT ON COLUMN openrouter_usage.model_requested IS 'The model the request named.';
COMMENT ON COLUMN openrouter_usage.model_served IS 'The model that answered (the response''s "model").';
COMMENT ON COLUMN openrouter_usage.provider IS 'The provider that served the answer.';
COMMENT ON COLUMN openrouter_usage.generation_id IS 'OpenRouter''s generation id (the response''s "id").';
COMMENT ON COLUMN openrouter_usage.prompt_tokens IS 'usage.prompt_tokens.';
COMMENT ON COLUMN openrouter_usage.completion_tokens IS 'usage.completion_tokens.';
COMMENT ON COLUMN openrouter_usage.reasoning_tokens IS 'usage.completion_tokens_details.reasoning_tokens.';
COMMENT ON COLUMN openrouter_usage.cached_tokens IS 'usage.prompt_tokens_details.cached_tokens.';
COMMENT ON COLUMN openrouter_usage.cost IS 'usage.cost, in USD (for a cache hit: what the original request cost).';
COMMENT ON COLUMN openrouter_usage.latency_ms IS 'Time from the first attempt''s start to the answer, retries included, in milliseconds.';
COMMENT ON COLUMN openrouter_usage.attempts IS 'Attempts made (retries included).';
COMMENT ON COLUMN openrouter_usage.http_status IS 'HTTP status of the last attempt, NULL when none arrived.';
COMMENT ON COLUMN openrouter_usage.failure IS 'The SQLSTATE of the failure (see the README''s error table), NULL for an answer.';
COMMENT ON COLUMN openrouter_usage.from_cache IS 'Whether the answer came from the response cache instead of the network.';

CREATE VIEW openrouter_spend AS
SELECT (u.finished_at AT TIME ZONE 'UTC')::date AS day, u.role,
       coalesce(u.model_served, u.model_requested) AS model, u.table_name, u.column_name,
       pg_catalog.count(*) AS requests,
       pg_catalog.count(*) FILTER (WHERE u.failure IS NOT NULL) AS failures,
       pg_catalog.sum(u.prompt_tokens) AS prompt_tokens,
       pg_catalog.sum(u.completion_tokens) AS completion_tokens,
       pg_catalog.sum(u.reasoning_tokens) AS reasoning_tokens,
       coalesce(pg_catalog.sum(u.cost) FILTER (WHERE NOT u.from_cache), 0) AS cost,
       coalesce(pg_catalog.sum(u.cost) FILTER (WHERE u.from_cache), 0) AS cost_saved
FROM openrouter_usage u
GROUP BY 1, 2, 3, 4, 5;
GRANT SELECT ON openrouter_spend TO PUBLIC;
COMMENT ON VIEW openrouter_spend IS
'What was spent, per day (UTC), role, model and computed column, from the usage ledger (openrouter_usage): requests, failures, tokens, cost in USD, and the cost the response cache saved. Rows as openrouter_usage shows them to the current role.';
COMMENT ON COLUMN openrouter_spend.day IS 'The day (UTC) the answers arrived.';
COMMENT ON COLUMN openrouter_spend.role IS 'The role whose key paid.';
COMMENT ON COLUMN openrouter_spend.model IS 'The model that answered (the one requested when none did).';
COMMENT ON COLUMN openrouter_spend.table_name IS 'The table of the computed column that asked, or NULL.';
COMMENT ON COLUMN openrouter_spend.column_name IS 'The computed column that asked, or NULL.';
COMMENT ON COLUMN openrouter_spend.requests IS 'Requests sent or answered from the cache.';
COMMENT ON COLUMN openrouter_spend.failures IS 'Requests that ended in a failure.';
COMMENT ON COLUMN openrouter_spend.prompt_tokens IS 'Sum of prompt tokens.';
COMMENT ON COLUMN openrouter_spend.completion_tokens IS 'Sum of completion tokens.';
COMMENT ON COLUMN openrouter_spend.reasoning_tokens IS 'Sum of reasoning tokens.';
COMMENT ON COLUMN openrouter_spend.cost IS 'USD paid.';
COMMENT ON COLUMN openrouter_spend.cost_saved IS 'USD the response cache saved (what its answers had cost).';

CREATE FUNCTION openrouter_wake_workers() RETURNS void
AS 'MODULE_PATHNAME', 'openrouter_wake_workers'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
REVOKE EXECUTE ON FUNCTION openrouter_wake_workers() FROM PUBLIC;
COMMENT ON FUNCTION openrouter_wake_workers() IS
$$Internal: has the background worker launcher look for databases with the extension again (run by CREATE EXTENSION and ALTER EXTENSION UPDATE). Does nothing without shared_preload_libraries = 'openrouter'.$$;
SELECT openrouter_wake_workers();
