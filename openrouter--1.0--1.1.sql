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
-- (no surrogate key: rows restored from a dump must not collide with rows
-- the worker ingests meanwhile)
CREATE TABLE openrouter_usage_log (
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
SELECT u.finished_at, pg_catalog.current_database() AS database,
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

-- ======================================================================
-- Computed columns
-- ======================================================================
--
-- 1.1 moves computed columns into C (src/computed.c):
-- - the definitions table is written only by the extension's functions, as
--   its owner, after they checked what they write: no role may insert,
--   update, delete or lock its rows (1.0 let PUBLIC write them);
-- - expressions are bound when they are defined (stored with every name
--   outside pg_catalog schema-qualified, run under the definer's recorded
--   search_path), not re-parsed under the caller's search_path;
-- - the extension's own UPDATEs are recognised by C state, not by the
--   user-settable openrouter.computing; a column's on_error is the default of
--   the calls in its expression that pass none, not an override;
-- - a whole-row reference makes every column an input;
-- - cells are locked before their requests go out (concurrent runs never pay
--   twice); INSERT or UPDATE of a computed column's value is refused.

-- the definitions: written through the functions below only
REVOKE INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON openrouter_computed_column FROM PUBLIC;
DROP TRIGGER owner_only ON openrouter_computed_column;
DROP FUNCTION openrouter_computed_column_guard();
ALTER TABLE openrouter_computed_column
    ADD COLUMN search_path text,
    ADD COLUMN whole_row boolean NOT NULL DEFAULT false;

COMMENT ON TABLE openrouter_computed_column IS
'The computed columns made by openrouter_add_computed_column(), one row each. Readable by everyone; written only by the extension''s functions. Dumped with the database.';
COMMENT ON COLUMN openrouter_computed_column.table_oid IS 'The table.';
COMMENT ON COLUMN openrouter_computed_column.column_name IS 'The computed column.';
COMMENT ON COLUMN openrouter_computed_column.expression IS
'The expression, bound when it was defined: every function, operator and type outside pg_catalog is schema-qualified.';
COMMENT ON COLUMN openrouter_computed_column.on_error IS
'abort or ignore: the on_error of the calls in the expression that pass none.';
COMMENT ON COLUMN openrouter_computed_column.input_columns IS
'The columns the expression reads, directly or through other computed columns.';
COMMENT ON COLUMN openrouter_computed_column.position IS
'Creation order among the table''s computed columns: the order they are computed in.';
COMMENT ON COLUMN openrouter_computed_column.created_at IS 'When the column was added.';
COMMENT ON COLUMN openrouter_computed_column.search_path IS
'The search_path the expression runs under: the definer''s, pg_catalog first and pg_temp last.';
COMMENT ON COLUMN openrouter_computed_column.whole_row IS
'The expression reads the whole row: every column is an input.';

CREATE FUNCTION openrouter_computed_column_bind(
    tbl regclass, expression text,
    OUT bound_expression text, OUT search_path text, OUT whole_row boolean, OUT input_columns name[])
RETURNS record
AS 'MODULE_PATHNAME', 'openrouter_computed_column_bind'
LANGUAGE C VOLATILE;
REVOKE ALL ON FUNCTION openrouter_computed_column_bind(regclass, text) FROM PUBLIC;
COMMENT ON FUNCTION openrouter_computed_column_bind(regclass, text) IS
$$Internal (not callable by PUBLIC): an expression over a table's row, bound: parsed under the current search_path and deparsed with every name outside pg_catalog qualified; the search_path to run it under; whether it reads the whole row; the columns it reads directly.$$;

-- bind the definitions made by 1.0, under the search_path of this update
DO $$
DECLARE
    cc record;
    b record;
BEGIN
    FOR cc IN SELECT c.table_oid, c.column_name, c.expression FROM openrouter_computed_column c
              ORDER BY c.table_oid, c.position LOOP
        BEGIN
            b := openrouter_computed_column_bind(cc.table_oid, cc.expression);
            UPDATE openrouter_computed_column c
            SET expression = b.bound_expression, search_path = b.search_path,
                whole_row = b.whole_row OR EXISTS (
                    SELECT 1 FROM openrouter_computed_column d
                    WHERE d.table_oid = c.table_oid AND d.position < c.position
                      AND d.whole_row AND d.column_name = ANY (c.input_columns))
            WHERE c.table_oid = cc.table_oid AND c.column_name = cc.column_name;
        EXCEPTION WHEN OTHERS THEN
            RAISE WARNING 'computed column "%" of table % could not be bound: %',
                cc.column_name, cc.table_oid, SQLERRM
                USING HINT = 'It runs unchanged under search_path pg_catalog, pg_temp; drop it and add it again.';
        END;
    END LOOP;
END
$$;

-- the trigger behind every computed column (existing triggers keep it)
CREATE OR REPLACE FUNCTION openrouter_computed_column_trigger() RETURNS trigger
AS 'MODULE_PATHNAME', 'openrouter_computed_column_trigger'
LANGUAGE C;
COMMENT ON FUNCTION openrouter_computed_column_trigger() IS
$$Internal: the statement-level trigger of a computed column: computes the rows an INSERT added or an UPDATE changed the inputs of, and refuses values written into computed columns. It can only be called as a trigger.$$;

DROP FUNCTION openrouter_add_computed_column(regclass, name, text, text, boolean);
CREATE FUNCTION openrouter_add_computed_column(
    tbl regclass, column_name name, expression text, on_error text DEFAULT 'abort',
    backfill boolean DEFAULT true, adopt boolean DEFAULT false)
RETURNS bigint
AS 'MODULE_PATHNAME', 'openrouter_add_computed_column'
LANGUAGE C VOLATILE;

CREATE OR REPLACE FUNCTION openrouter_recompute(tbl regclass, column_name name, errors_only boolean DEFAULT false)
RETURNS bigint
AS 'MODULE_PATHNAME', 'openrouter_recompute'
LANGUAGE C VOLATILE;

CREATE OR REPLACE FUNCTION openrouter_drop_computed_column(tbl regclass, column_name name)
RETURNS void
AS 'MODULE_PATHNAME', 'openrouter_drop_computed_column'
LANGUAGE C VOLATILE;

CREATE OR REPLACE PROCEDURE openrouter_backfill(
    tbl regclass, column_name name, chunk_size int DEFAULT 500, errors_only boolean DEFAULT false)
AS 'MODULE_PATHNAME', 'openrouter_backfill'
LANGUAGE C;

COMMENT ON FUNCTION openrouter_add_computed_column(regclass, name, text, text, boolean, boolean) IS
$$Pixeltable's add_computed_column: adds column_name to the table, typed by the expression (any SQL expression over the row's columns, e.g. openrouter_chat(...) or openrouter_chat(...)->'choices'->0->'message'->>'content'), fills it for every existing row, and from then on computes it for inserted rows and for rows whose input columns change. The expression is bound now: names resolve under the current search_path, once. Every call of one statement runs concurrently (up to openrouter.max_concurrency). on_error is the default of the calls in the expression that pass none: 'abort' fails the statement at the first failure; 'ignore' keeps each failure in its cell ({"error": ...} in jsonb columns). INSERT or UPDATE of the column's value is refused. The table needs a primary key; only its owner may call this. With backfill => false existing rows are left NULL, to be filled by CALL openrouter_backfill(), which commits as it goes. With adopt => true it takes over an existing column (e.g. after DROP EXTENSION, or one filled by hand), keeping its values and computing only its NULL cells. Returns the number of rows filled.$$;
COMMENT ON FUNCTION openrouter_recompute(regclass, name, boolean) IS
$$Computes a computed column again, and the computed columns that read it, for every row, or with errors_only only for the cells that failed (NULL, or {"error": ...} in jsonb columns). Rows that another run is computing are skipped. Returns the number of rows computed.$$;
COMMENT ON FUNCTION openrouter_drop_computed_column(regclass, name) IS
$$Drops a computed column, its triggers and its definition (the table's owner only). Refuses while another computed column reads it.$$;
COMMENT ON PROCEDURE openrouter_backfill(regclass, name, int, boolean) IS
$$Computes a computed column's pending cells (NULL ones; with errors_only also the failed ones) in primary-key order, chunk by chunk, committing after each chunk: a failure, cancel or crash loses one chunk of answers at most, and calling it again resumes; rows another run is computing are skipped, and counts are this run's own. Reports progress (rows done of total, errors, rate, time left) as NOTICEs. CALL it outside a transaction block, e.g. from pg_cron.$$;

-- 1.0's PL/pgSQL helpers, replaced by C
DROP FUNCTION openrouter_compute_where(regclass, name, text);
DROP FUNCTION openrouter_compute_chunked(regclass, name, tid[]);
DROP FUNCTION openrouter_compute_rows(regclass, name, tid[]);
DROP FUNCTION openrouter_failed_cell_condition(regclass, name);
DROP FUNCTION openrouter_primary_key_columns(regclass);
DROP FUNCTION openrouter_computed_column_definition(regclass, name);

-- The status view of the computed columns (mode, skipped rows, whole-row
-- inputs, the worker's progress) is made again in the section of
-- asynchronous computed columns, at the end of this file.

-- Dropping a table, or a computed column by ALTER TABLE, forgets the
-- column's definition and drops its triggers when the table remains.  Only
-- the definitions of the objects being dropped are touched.
CREATE OR REPLACE FUNCTION openrouter_forget_dropped_columns() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    gone record;
BEGIN
    FOR gone IN
        DELETE FROM @extschema@.openrouter_computed_column c
        USING pg_event_trigger_dropped_objects() d
        WHERE d.classid = 'pg_catalog.pg_class'::regclass
          AND c.table_oid::oid = d.objid
          AND (d.object_type = 'table'
               OR (d.object_type = 'table column' AND c.column_name = d.address_names[3]))
        RETURNING c.table_oid::oid AS table_oid, c.position, d.object_type
    LOOP
        IF gone.object_type = 'table column' THEN
            EXECUTE format('DROP TRIGGER IF EXISTS %I ON %s',
                           format('openrouter_cc_%s_ins', lpad(gone.position::text, 6, '0')),
                           gone.table_oid::regclass);
            EXECUTE format('DROP TRIGGER IF EXISTS %I ON %s',
                           format('openrouter_cc_%s_upd', lpad(gone.position::text, 6, '0')),
                           gone.table_oid::regclass);
        END IF;
    END LOOP;
END
$$;
DROP FUNCTION openrouter_trigger_name(int, text);

-- on_error: a call that passes none takes it from its context (the computed
-- column being computed, else the openrouter.on_error setting, else 'abort')
CREATE OR REPLACE FUNCTION openrouter_chat(
    messages     jsonb,
    model        text,
    model_kwargs jsonb DEFAULT NULL,
    tools        jsonb DEFAULT NULL,
    tool_choice  jsonb DEFAULT NULL,
    provider     jsonb DEFAULT NULL,
    transforms   jsonb DEFAULT NULL,
    site_url     text  DEFAULT NULL,
    site_name    text  DEFAULT NULL,
    on_error     text  DEFAULT NULL)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'openrouter_chat'
LANGUAGE C IMMUTABLE PARALLEL RESTRICTED;
CREATE OR REPLACE FUNCTION openrouter_chat_batch(
    requests jsonb[],
    on_error text DEFAULT NULL)
RETURNS SETOF jsonb
AS 'MODULE_PATHNAME', 'openrouter_chat_batch'
LANGUAGE C VOLATILE PARALLEL RESTRICTED ROWS 100;
CREATE OR REPLACE FUNCTION openrouter_invoke_tools(
    tools    jsonb,
    response jsonb,
    on_error text DEFAULT NULL)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'openrouter_invoke_tools'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

-- ======================================================================
-- DROP EXTENSION says what it deletes
-- ======================================================================

CREATE FUNCTION openrouter_announce_drop() RETURNS event_trigger
AS 'MODULE_PATHNAME', 'openrouter_announce_drop'
LANGUAGE C;
REVOKE EXECUTE ON FUNCTION openrouter_announce_drop() FROM PUBLIC;
COMMENT ON FUNCTION openrouter_announce_drop() IS
$$Internal (event trigger): before DROP EXTENSION openrouter, a NOTICE says how many stored keys and computed-column definitions it deletes.$$;
CREATE EVENT TRIGGER openrouter_announce_drop ON ddl_command_start
    WHEN TAG IN ('DROP EXTENSION')
    EXECUTE FUNCTION openrouter_announce_drop();
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

-- ======================================================================
-- The transaction's request cache
-- ======================================================================

COMMENT ON FUNCTION openrouter_chat(jsonb, text, jsonb, jsonb, jsonb, jsonb, jsonb, text, text, text) IS
$$Sends one chat completions request to OpenRouter (POST {openrouter.base_url}/chat/completions) and returns the response body as jsonb.
messages: a non-empty JSON array of {"role", "content"} objects (content may be a string or an array of text, image_url, file or input_audio parts). NULL messages return NULL and send nothing.
model: e.g. 'openai/gpt-4o-mini'.
model_kwargs: any further request fields (temperature, max_tokens, top_p, frequency_penalty, seed, stop, response_format, reasoning, models, plugins, ...); a key that has an argument of its own is an error.
tools: OpenAI-style tool specs. tool_choice: "auto", "none", "required", {"type": "function", ...} or Pixeltable's {"auto", "required", "tool", "parallel_tool_calls"}.
provider, transforms: OpenRouter routing preferences and transforms, sent as given.
site_url, site_name: attribution (HTTP-Referer, X-OpenRouter-Title and X-Title); default to openrouter.site_url and openrouter.site_name, then to the role's stored defaults.
on_error: 'abort' raises (SQLSTATE class OR, see the README's error table); 'ignore' returns {"error": {..., "status", "sqlstate", "retryable", "attempts"}}; NULL (the default) lets the context decide: the on_error of the computed column being computed, else the openrouter.on_error setting, else 'abort'.
Marked IMMUTABLE so that it can define a stored generated column: PostgreSQL then evaluates a call whose arguments are all constants once, when the statement is planned (EXPLAIN without ANALYZE included). Within a transaction an identical request (same body, headers and key) is sent once and its answer (or a failure that is not retryable) reused, including answers fetched by openrouter_prefetch(); openrouter.request_cache_size bounds the memory this takes.
Transient failures (HTTP 408, 429, 500, 502, 503, 504, 524, 529, transport) are retried up to openrouter.max_retries times.$$;

COMMENT ON FUNCTION openrouter_chat_batch(jsonb[], text) IS
$$Sends many chat completions requests at once and returns their responses in request order (use WITH ORDINALITY to join them back). Each request is an object with the keys of openrouter_chat's arguments but on_error: messages, model, model_kwargs, tools, tool_choice, provider, transforms, site_url, site_name; another key is an error (22023) of that request. Up to openrouter.max_concurrency requests are in flight at once, paced by openrouter.requests_per_minute; a 429 slows the whole batch down. Identical requests are sent once, and requests answered earlier in the transaction not at all. A NULL request, or one without messages, gives NULL. on_error 'abort' fails the call at the first failure; 'ignore' returns each failure as {"error": ...} in its place; NULL (the default) lets the context decide, as for openrouter_chat. Inside openrouter_prefetch's query its requests are collected like openrouter_chat's.$$;

COMMENT ON FUNCTION openrouter_prefetch(text) IS
$$Runs a read-only query in collect mode: every openrouter_chat() call (and every request of an openrouter_chat_batch() call) it evaluates records its request (and returns NULL) instead of sending it. The collected requests are then sent together, up to openrouter.max_concurrency at once, and their answers kept in the transaction's request cache, not evicted before the next prefetch: evaluating the same calls again (e.g. in an UPDATE) sends nothing. Returns how many requests were sent. Example: SELECT openrouter_prefetch('SELECT openrouter_chat(m, ''openai/gpt-4o-mini'') FROM t'); UPDATE t SET r = openrouter_chat(m, 'openai/gpt-4o-mini');$$;

-- ======================================================================
-- AI functions in SQL: typed answers, if / classify / agg, embeddings,
-- rerank, images and documents (src/ai_*.c, README "AI functions in SQL")
-- ======================================================================
--
-- Volatility: the functions that answer one row are IMMUTABLE, like
-- openrouter_chat, so that they can define stored generated columns; within
-- a transaction an identical request is sent once and its answer reused (the
-- request cache), which is what makes that honest enough for the planner.
-- openrouter_rerank returns a set (STABLE: it cannot be in a generated column
-- anyway); openrouter_agg's functions are VOLATILE (an aggregate cannot be in
-- a generated column).  Every function that sends is PARALLEL RESTRICTED, as
-- openrouter_chat is (the key, the request cache and openrouter_prefetch's
-- collect mode live in the leader); the pure helpers are PARALLEL SAFE.

CREATE FUNCTION openrouter_text(response jsonb)
RETURNS text
AS 'MODULE_PATHNAME', 'openrouter_text'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION openrouter_text(jsonb) IS
$$The text of a chat completion's answer: choices[0].message.content (the "text" parts joined when the content is an array of parts). NULL for an error object (what on_error => 'ignore' returns), a failed choice, or a message without text. Example: SELECT openrouter_text(openrouter_chat(openrouter_messages('Hi'), 'openai/gpt-4o-mini'));$$;

CREATE FUNCTION openrouter_generate(
    prompt text,
    returns anyelement,
    model text DEFAULT NULL,
    system text DEFAULT NULL,
    parts jsonb[] DEFAULT NULL,
    model_kwargs jsonb DEFAULT NULL,
    on_error text DEFAULT NULL)
RETURNS anyelement
AS 'MODULE_PATHNAME', 'openrouter_generate'
LANGUAGE C IMMUTABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION openrouter_generate(text, anyelement, text, text, jsonb[], jsonb, text) IS
$$Asks the model and returns the answer as a value of the type of returns (pass a NULL of it: NULL::integer, NULL::my_composite, NULL::my_enum[]). text asks for plain text; any other supported type (composite types, enums, boolean, integer types, numeric, real and double precision, date and time types, json, arrays of these, domains over them) asks for strict structured output: response_format is a JSON Schema made from the type, the same mapping openrouter_tools uses for tool parameters (a composite type is the schema's object; other types are wrapped as {"value": ...}). The answer is converted into the type: composite fields by name, enum labels, a domain's constraints apply. An answer that does not fit (not JSON, a value the type refuses) raises ORA01, or gives NULL with on_error => 'ignore'. model: NULL uses openrouter.default_model (ORA02 when neither is set). system: a system message. parts: content parts sent with the prompt (openrouter_content_part). model_kwargs: further request fields (not response_format). on_error: as for openrouter_chat. A NULL prompt gives NULL and sends nothing. IMMUTABLE like openrouter_chat, so it can define a generated column; works in computed columns, openrouter_prefetch and the transaction's request cache; usage goes to the ledger.$$;

CREATE FUNCTION openrouter_if(
    prompt text,
    model text DEFAULT NULL,
    system text DEFAULT NULL,
    parts jsonb[] DEFAULT NULL,
    model_kwargs jsonb DEFAULT NULL,
    on_error text DEFAULT NULL)
RETURNS boolean
AS 'MODULE_PATHNAME', 'openrouter_if'
LANGUAGE C IMMUTABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION openrouter_if(text, text, text, jsonb[], jsonb, text) IS
$$Asks the model a yes/no question and returns its answer as a boolean (strict structured output), for WHERE and JOIN ON: SELECT * FROM reviews WHERE openrouter_if('Is this review positive? ' || body). The system message defaults to "Answer the user's question with true or false." Otherwise as openrouter_generate(prompt, NULL::boolean, ...): ORA01 for an answer that is not a boolean, openrouter.default_model when model is NULL.$$;

CREATE FUNCTION openrouter_classify(
    input text,
    labels text[],
    model text DEFAULT NULL,
    system text DEFAULT NULL,
    model_kwargs jsonb DEFAULT NULL,
    on_error text DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'openrouter_classify'
LANGUAGE C IMMUTABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION openrouter_classify(text, text[], text, text, jsonb, text) IS
$$Returns the one of labels that the model chooses for input (strict structured output with an enum of the labels). labels must be a non-empty array of distinct, non-empty strings (else an error, nothing sent). An answer that is not one of the labels raises ORA01 (NULL with on_error => 'ignore'). The system message defaults to an instruction that lists the labels. With an enum type, openrouter_generate(input, NULL::my_enum) does the same and returns the enum.$$;

CREATE FUNCTION openrouter_agg_step(state internal, input text, task text)
RETURNS internal
AS 'MODULE_PATHNAME', 'openrouter_agg_step'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;
CREATE FUNCTION openrouter_agg_step(state internal, input text, task text, model text)
RETURNS internal
AS 'MODULE_PATHNAME', 'openrouter_agg_step'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;
CREATE FUNCTION openrouter_agg_final(state internal)
RETURNS text
AS 'MODULE_PATHNAME', 'openrouter_agg_final'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;
REVOKE EXECUTE ON FUNCTION openrouter_agg_step(internal, text, text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION openrouter_agg_step(internal, text, text, text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION openrouter_agg_final(internal) FROM PUBLIC;
COMMENT ON FUNCTION openrouter_agg_step(internal, text, text) IS
$$Internal: openrouter_agg's transition function (collects the rows).$$;
COMMENT ON FUNCTION openrouter_agg_step(internal, text, text, text) IS
$$Internal: openrouter_agg's transition function (collects the rows).$$;
COMMENT ON FUNCTION openrouter_agg_final(internal) IS
$$Internal: openrouter_agg's final function (asks the model, in rounds when the rows exceed its context window).$$;

CREATE AGGREGATE openrouter_agg(input text, task text) (
    SFUNC = openrouter_agg_step, STYPE = internal,
    FINALFUNC = openrouter_agg_final, PARALLEL = RESTRICTED);
CREATE AGGREGATE openrouter_agg(input text, task text, model text) (
    SFUNC = openrouter_agg_step, STYPE = internal,
    FINALFUNC = openrouter_agg_final, PARALLEL = RESTRICTED);
COMMENT ON AGGREGATE openrouter_agg(text, text) IS
$$One answer to task over all the rows' input (NULLs skipped, in the aggregate's ORDER BY): SELECT openrouter_agg(body, 'Summarise these reviews in one sentence.') FROM reviews. Uses openrouter.default_model. One request when the rows fit the model's context window; otherwise (OpenRouter refuses the request and names the window) map-then-combine in rounds: one request per group of rows that fits half the window, then one per group of partial answers, until one answer is left. Failures follow openrouter.on_error ('ignore': NULL).$$;
COMMENT ON AGGREGATE openrouter_agg(text, text, text) IS
$$openrouter_agg(input, task) with a model: SELECT openrouter_agg(body, 'What do these tickets have in common?', 'openai/gpt-4o-mini') FROM tickets. One request when the rows fit the model's context window; otherwise map-then-combine in rounds (see the README, "AI functions in SQL").$$;

CREATE FUNCTION openrouter_embed(
    input text,
    model text DEFAULT NULL,
    dimensions integer DEFAULT NULL,
    on_error text DEFAULT NULL)
RETURNS real[]
AS 'MODULE_PATHNAME', 'openrouter_embed'
LANGUAGE C IMMUTABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION openrouter_embed(text, text, integer, text) IS
$$The embedding of input (POST {openrouter.base_url}/embeddings) as real[]. model: NULL uses openrouter.default_embedding_model. dimensions: ask for that many (models that support it), NULL for the model's own. With pgvector installed, store it as a vector with a cast: openrouter_embed(body)::vector. A NULL input gives NULL; an empty one is an error (nothing sent). on_error as for openrouter_chat ('ignore': NULL). IMMUTABLE, so it can define a generated column; cached for the transaction; usage goes to the ledger.$$;

CREATE FUNCTION openrouter_embed(
    inputs text[],
    model text DEFAULT NULL,
    dimensions integer DEFAULT NULL,
    on_error text DEFAULT NULL)
RETURNS TABLE (index integer, embedding real[])
AS 'MODULE_PATHNAME', 'openrouter_embed_many'
LANGUAGE C IMMUTABLE PARALLEL RESTRICTED ROWS 100;
COMMENT ON FUNCTION openrouter_embed(text[], text, integer, text) IS
$$The embeddings of many inputs in one request (POST /embeddings with an array input): one row per input, index being its 1-based position in inputs. No inputs, or a NULL or empty one, is an error (nothing sent). Otherwise as openrouter_embed(text, ...); on_error => 'ignore' gives no rows for a failure.$$;

CREATE FUNCTION openrouter_rerank(
    query text,
    documents text[],
    model text DEFAULT NULL,
    top_n integer DEFAULT NULL,
    on_error text DEFAULT NULL)
RETURNS TABLE (index integer, score double precision)
AS 'MODULE_PATHNAME', 'openrouter_rerank'
LANGUAGE C STABLE PARALLEL RESTRICTED ROWS 100;
COMMENT ON FUNCTION openrouter_rerank(text, text[], text, integer, text) IS
$$Ranks documents by relevance to query (POST {openrouter.base_url}/rerank): one row per ranked document, most relevant first, index being its 1-based position in documents (documents[index]) and score the model's relevance score. model: NULL uses openrouter.default_rerank_model. top_n: only the best n. No documents, or a NULL one, is an error (nothing sent). on_error as for openrouter_chat ('ignore': no rows). STABLE: within a transaction the same request is answered once.$$;

CREATE FUNCTION openrouter_content_part(data bytea, media_type text, filename text DEFAULT NULL)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'openrouter_content_part'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION openrouter_content_part(bytea, text, text) IS
$$A message content part from bytes stored in the table: an image (image/png, image/jpeg, image/webp, image/gif) becomes {"type": "image_url", "image_url": {"url": "data:<media_type>;base64,..."}}, a PDF (application/pdf) {"type": "file", "file": {"filename", "file_data": "data:application/pdf;base64,..."}} (filename defaults to document.pdf). Another media type is an error. NULL data gives NULL. Pass parts to openrouter_messages(prompt, parts) or openrouter_generate(..., parts => ...).$$;

CREATE FUNCTION openrouter_content_part_url(url text, media_type text DEFAULT NULL)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'openrouter_content_part_url'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION openrouter_content_part_url(text, text) IS
$$A message content part that points at a URL (http, https or data): an image_url part, or a file part when media_type is application/pdf or the URL's path ends in .pdf. The model's provider fetches the URL. NULL gives NULL.$$;

CREATE FUNCTION openrouter_messages(prompt text, parts jsonb[], system text DEFAULT NULL)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'openrouter_messages_with_parts'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION openrouter_messages(text, jsonb[], text) IS
$$Builds the messages of a one-question chat whose user message carries content parts: [{"role": "system", "content": system}, {"role": "user", "content": [{"type": "text", "text": prompt}, parts...]}] (no system message when system is NULL; NULL when prompt is NULL). Each part must be a JSON object with a "type" (make them with openrouter_content_part); NULL parts are left out.$$;

-- ======================================================================
-- Rate limits per key (limiter.c)
-- ======================================================================

-- What the limiter knows of each key: the server's when the library is
-- preloaded, this session's otherwise.  A key is shown by a digest, never by
-- any part of its text; a role sees the keys it sent with last, members of
-- pg_read_all_stats (and superusers) see them all.
CREATE FUNCTION openrouter_rate_limit_state(
    OUT key_id text, OUT role regrole, OUT requests_per_minute integer,
    OUT adaptive_per_minute double precision, OUT concurrency integer,
    OUT paused_until timestamptz, OUT requests bigint, OUT rate_limited bigint,
    OUT last_429 timestamptz, OUT last_used timestamptz)
RETURNS SETOF record
LANGUAGE C VOLATILE PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'openrouter_rate_limits';
COMMENT ON FUNCTION openrouter_rate_limit_state() IS
$$The state of the rate limiter, one row per API key; read it through the view openrouter_rate_limits.$$;

CREATE VIEW openrouter_rate_limits AS
SELECT * FROM openrouter_rate_limit_state();
GRANT SELECT ON openrouter_rate_limits TO PUBLIC;
COMMENT ON VIEW openrouter_rate_limits IS
'How requests are paced, per API key: for the whole server when the library is in shared_preload_libraries, else for this session. A role sees the keys it sent with last; members of pg_read_all_stats see every key.';
COMMENT ON COLUMN openrouter_rate_limits.key_id IS 'The first 16 hex digits of the SHA-256 digest of the key (the limiter keeps no part of the key itself).';
COMMENT ON COLUMN openrouter_rate_limits.role IS 'The role that last sent a request with the key.';
COMMENT ON COLUMN openrouter_rate_limits.requests_per_minute IS 'openrouter.requests_per_minute of the last request started with the key, NULL for none.';
COMMENT ON COLUMN openrouter_rate_limits.adaptive_per_minute IS 'The pace found after 429s (requests per minute), NULL while unpaced.';
COMMENT ON COLUMN openrouter_rate_limits.concurrency IS 'The most requests one statement keeps in flight with the key after a 429, NULL for openrouter.max_concurrency.';
COMMENT ON COLUMN openrouter_rate_limits.paused_until IS 'No request starts with the key before this time (a 429 asked to wait), NULL when not paused.';
COMMENT ON COLUMN openrouter_rate_limits.requests IS 'Attempts started with the key since the limiter took it in.';
COMMENT ON COLUMN openrouter_rate_limits.rate_limited IS 'Attempts answered 429 since the limiter took the key in.';
COMMENT ON COLUMN openrouter_rate_limits.last_429 IS 'When the last 429 arrived, NULL for never.';
COMMENT ON COLUMN openrouter_rate_limits.last_used IS 'When a request with the key last started or finished.';

-- ======================================================================
-- Long operations, seen from another session (progress_board.c)
-- ======================================================================

CREATE FUNCTION openrouter_progress_state(
    OUT pid integer, OUT database oid, OUT role oid, OUT operation text, OUT unit text,
    OUT done bigint, OUT total bigint, OUT errors bigint, OUT started timestamptz,
    OUT rate double precision, OUT seconds_left double precision)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'openrouter_progress'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION openrouter_progress_state() IS
$$The long operations in progress (backfills, computed columns over many rows, batches) that the current role may see; read it through the view openrouter_progress. Needs shared_preload_libraries = 'openrouter'.$$;

CREATE VIEW openrouter_progress AS
SELECT p.pid, d.datname AS database, p.role::regrole AS role, p.operation, p.unit,
       p.done, p.total, p.errors,
       CASE WHEN p.total > 0 THEN pg_catalog.round(100.0 * p.done / p.total, 1) END AS percent,
       p.started, pg_catalog.round(p.rate::numeric, 1) AS rate,
       pg_catalog.round(p.seconds_left::numeric) AS seconds_left
FROM openrouter_progress_state() p
LEFT JOIN pg_catalog.pg_database d ON d.oid = p.database;
GRANT SELECT ON openrouter_progress TO PUBLIC;
COMMENT ON VIEW openrouter_progress IS
'Long operations in progress in any session, as pg_stat_progress_* views show maintenance commands: a backfill, a computed column over many rows, a batch. A role sees its own; members of pg_read_all_stats see all. Needs shared_preload_libraries = ''openrouter''.';
COMMENT ON COLUMN openrouter_progress.pid IS 'The backend running the operation (pg_stat_activity.pid).';
COMMENT ON COLUMN openrouter_progress.database IS 'Its database.';
COMMENT ON COLUMN openrouter_progress.role IS 'The role running it.';
COMMENT ON COLUMN openrouter_progress.operation IS 'What it is, e.g. openrouter_backfill of a table''s column, computing a column, openrouter_chat_batch.';
COMMENT ON COLUMN openrouter_progress.unit IS 'What done and total count: rows or requests.';
COMMENT ON COLUMN openrouter_progress.done IS 'Items finished so far.';
COMMENT ON COLUMN openrouter_progress.total IS 'Items in all.';
COMMENT ON COLUMN openrouter_progress.errors IS 'Of the finished items, those that failed.';
COMMENT ON COLUMN openrouter_progress.percent IS 'done of total, in percent.';
COMMENT ON COLUMN openrouter_progress.started IS 'When the operation started.';
COMMENT ON COLUMN openrouter_progress.rate IS 'Items finished per second since it started.';
COMMENT ON COLUMN openrouter_progress.seconds_left IS 'At that rate, the seconds left (NULL until an item is done).';

-- ======================================================================
-- The response cache (needs shared_preload_libraries = 'openrouter')
-- ======================================================================

-- One answer per distinct request (src/response_cache.c).  Backends spool
-- their answers with the usage ledger's records, the database's worker
-- moves them here.  No role reads or writes it directly: a role sees its
-- own answers through openrouter_cached_responses.  Not dumped: its
-- fingerprints name the database and roles by OID.
CREATE TABLE openrouter_response_cache (
    fingerprint bytea PRIMARY KEY,
    role_id     oid NOT NULL,
    endpoint    text NOT NULL,
    model       text,
    response    jsonb NOT NULL,
    created_at  timestamptz NOT NULL,
    bytes       integer NOT NULL
);
-- (no other index: the worker writes a row per answer; clearing and the
-- hourly eviction scan the table)
REVOKE ALL ON openrouter_response_cache FROM PUBLIC;
COMMENT ON TABLE openrouter_response_cache IS
'Private to the openrouter extension: the response cache, one answer per distinct request (a SHA-256 fingerprint of the database, the paying role, the base URL, the endpoint and the request body); read it through the view openrouter_cached_responses.';

-- When a role's cached answers (role 0: every role's) were last cleared:
-- answers spooled before that are not moved into the cache.
CREATE TABLE openrouter_response_cache_cleared (
    role_id    oid PRIMARY KEY,
    cleared_at timestamptz NOT NULL
);
REVOKE ALL ON openrouter_response_cache_cleared FROM PUBLIC;
COMMENT ON TABLE openrouter_response_cache_cleared IS
'Private to the openrouter extension: when openrouter_cache_clear() last ran for a role (0: for every role); answers spooled before that are not moved into openrouter_response_cache.';

CREATE VIEW openrouter_cached_responses WITH (security_barrier) AS
SELECT c.role_id::regrole AS role, c.endpoint, c.model, c.created_at, c.bytes, c.response
FROM openrouter_response_cache c
WHERE c.role_id OPERATOR(pg_catalog.=) (SELECT oid FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) CURRENT_USER)
   OR (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) CURRENT_USER);
GRANT SELECT ON openrouter_cached_responses TO PUBLIC;
COMMENT ON VIEW openrouter_cached_responses IS
'The response cache: the answers that identical requests get instead of being sent again (openrouter.cache). A role sees its own answers, superusers all. Answers still on their way from the spool to the table are not listed yet. Needs shared_preload_libraries = ''openrouter''.';
COMMENT ON COLUMN openrouter_cached_responses.role IS 'The role whose key paid for the answer; only its requests get it.';
COMMENT ON COLUMN openrouter_cached_responses.endpoint IS 'The endpoint the request went to, e.g. /chat/completions.';
COMMENT ON COLUMN openrouter_cached_responses.model IS 'The model the request named.';
COMMENT ON COLUMN openrouter_cached_responses.created_at IS 'When the answer arrived; older than openrouter.cache_max_age, it is not used.';
COMMENT ON COLUMN openrouter_cached_responses.bytes IS 'Size of the stored answer, counted against openrouter.cache_max_size.';
COMMENT ON COLUMN openrouter_cached_responses.response IS 'The response body, as openrouter_chat returned it.';

CREATE FUNCTION openrouter_cache_clear(all_roles boolean DEFAULT false) RETURNS bigint
AS 'MODULE_PATHNAME', 'openrouter_cache_clear'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION openrouter_cache_clear(boolean) IS
$$Removes the calling role's answers from the response cache (every role's with all_roles => true, superusers only), including answers not yet moved from the spool into the table; returns how many were removed. The next identical request is sent again.$$;

-- ======================================================================
-- Cost control: the models catalog, key status, budgets (models.c, budget.c)
-- ======================================================================

-- The service's answers, as they came (GET /models, GET /key).
CREATE FUNCTION openrouter_models_response() RETURNS jsonb
AS 'MODULE_PATHNAME', 'openrouter_models_response'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION openrouter_models_response() IS
$$Asks OpenRouter for its models (GET {openrouter.base_url}/models) and returns the answer as jsonb ({"data": [...]}). openrouter_models() reads it as rows.$$;

CREATE FUNCTION openrouter_key_response() RETURNS jsonb
AS 'MODULE_PATHNAME', 'openrouter_key_response'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION openrouter_key_response() IS
$$Asks OpenRouter about the calling role's key (GET {openrouter.base_url}/key) and returns the answer as jsonb ({"data": {...}}). openrouter_key_status() reads it as a row.$$;

CREATE FUNCTION openrouter_budgets_changed() RETURNS void
AS 'MODULE_PATHNAME', 'openrouter_budgets_changed'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
REVOKE EXECUTE ON FUNCTION openrouter_budgets_changed() FROM PUBLIC;
COMMENT ON FUNCTION openrouter_budgets_changed() IS
$$Internal: the budgets or the models catalog were written; once the transaction commits, every session reads them again (they are otherwise kept between transactions).$$;

-- a price as OpenRouter writes it (a decimal string, USD per token), or NULL
CREATE FUNCTION openrouter_price(value jsonb) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
SELECT CASE WHEN jsonb_typeof(value) = 'number' THEN value::text::numeric
            WHEN value #>> '{}' ~ '^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$' THEN (value #>> '{}')::numeric END
$$;
REVOKE EXECUTE ON FUNCTION openrouter_price(jsonb) FROM PUBLIC;
COMMENT ON FUNCTION openrouter_price(jsonb) IS
$$Internal: a price of the models catalog (a JSON decimal string or number, USD per token) as numeric; NULL when it is neither.$$;

-- the elements of a JSON array of strings (anything else: none)
CREATE FUNCTION openrouter_text_array(value jsonb) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
SELECT ARRAY(SELECT jsonb_array_elements_text(CASE WHEN jsonb_typeof(value) = 'array' THEN value ELSE '[]' END))
$$;
REVOKE EXECUTE ON FUNCTION openrouter_text_array(jsonb) FROM PUBLIC;
COMMENT ON FUNCTION openrouter_text_array(jsonb) IS
$$Internal: the strings of a JSON array as text[] (empty for anything else).$$;

CREATE TABLE openrouter_model_catalog (
    id                       text PRIMARY KEY,
    name                     text,
    context_length           integer,
    max_completion_tokens    integer,
    prompt_price             numeric,
    completion_price         numeric,
    request_price            numeric,
    image_price              numeric,
    web_search_price         numeric,
    internal_reasoning_price numeric,
    input_cache_read_price   numeric,
    input_cache_write_price  numeric,
    prices                   jsonb,
    input_modalities         text[],
    output_modalities        text[],
    supported_parameters     text[],
    refreshed_at             timestamptz NOT NULL DEFAULT pg_catalog.now()
);
REVOKE ALL ON openrouter_model_catalog FROM PUBLIC;
GRANT SELECT ON openrouter_model_catalog TO PUBLIC;
COMMENT ON TABLE openrouter_model_catalog IS
'OpenRouter''s models as openrouter_models() last returned them: refreshed by openrouter_refresh_models() and by the background worker every openrouter.models_refresh_interval. Budgets price requests from it; openrouter_chat says (a NOTICE, once per session) when it names a model this catalog, when not empty, does not know.';
COMMENT ON COLUMN openrouter_model_catalog.id IS 'The model''s id, as requests name it.';
COMMENT ON COLUMN openrouter_model_catalog.name IS 'Its display name.';
COMMENT ON COLUMN openrouter_model_catalog.context_length IS 'Tokens of context.';
COMMENT ON COLUMN openrouter_model_catalog.max_completion_tokens IS 'Most completion tokens of the top provider (NULL: up to the context length).';
COMMENT ON COLUMN openrouter_model_catalog.prompt_price IS 'USD per prompt token (-1: known only per request).';
COMMENT ON COLUMN openrouter_model_catalog.completion_price IS 'USD per completion token (-1: known only per request).';
COMMENT ON COLUMN openrouter_model_catalog.request_price IS 'USD per request.';
COMMENT ON COLUMN openrouter_model_catalog.image_price IS 'USD per input image.';
COMMENT ON COLUMN openrouter_model_catalog.web_search_price IS 'USD per web search.';
COMMENT ON COLUMN openrouter_model_catalog.internal_reasoning_price IS 'USD per reasoning token.';
COMMENT ON COLUMN openrouter_model_catalog.input_cache_read_price IS 'USD per prompt token read from the provider''s cache.';
COMMENT ON COLUMN openrouter_model_catalog.input_cache_write_price IS 'USD per prompt token written to the provider''s cache.';
COMMENT ON COLUMN openrouter_model_catalog.prices IS 'Every price the service gave, by name, as JSON numbers (USD).';
COMMENT ON COLUMN openrouter_model_catalog.input_modalities IS 'What it reads: text, image, file, audio, video.';
COMMENT ON COLUMN openrouter_model_catalog.output_modalities IS 'What it writes: text, image, audio, embeddings.';
COMMENT ON COLUMN openrouter_model_catalog.supported_parameters IS 'Request fields it honours (max_tokens, temperature, tools, ...).';
COMMENT ON COLUMN openrouter_model_catalog.refreshed_at IS 'When the row was last refreshed.';

CREATE FUNCTION openrouter_models_from(response jsonb) RETURNS SETOF openrouter_model_catalog
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = @extschema@, pg_catalog, pg_temp
AS $$
SELECT m->>'id', m->>'name', (m->>'context_length')::integer,
       (m #>> '{top_provider,max_completion_tokens}')::integer,
       openrouter_price(m #> '{pricing,prompt}'), openrouter_price(m #> '{pricing,completion}'),
       openrouter_price(m #> '{pricing,request}'), openrouter_price(m #> '{pricing,image}'),
       openrouter_price(m #> '{pricing,web_search}'), openrouter_price(m #> '{pricing,internal_reasoning}'),
       openrouter_price(m #> '{pricing,input_cache_read}'), openrouter_price(m #> '{pricing,input_cache_write}'),
       (SELECT jsonb_object_agg(p.key, openrouter_price(p.value))
          FROM jsonb_each(CASE WHEN jsonb_typeof(m->'pricing') = 'object' THEN m->'pricing' ELSE '{}' END) p
         WHERE openrouter_price(p.value) IS NOT NULL),
       openrouter_text_array(m #> '{architecture,input_modalities}'),
       openrouter_text_array(m #> '{architecture,output_modalities}'),
       openrouter_text_array(m->'supported_parameters'),
       now()
FROM jsonb_array_elements(CASE WHEN jsonb_typeof(response->'data') = 'array' THEN response->'data' ELSE '[]' END) AS m
WHERE m->>'id' IS NOT NULL
$$;
REVOKE EXECUTE ON FUNCTION openrouter_models_from(jsonb) FROM PUBLIC;
COMMENT ON FUNCTION openrouter_models_from(jsonb) IS
$$Internal: the rows of openrouter_models() from an answer of GET /models.$$;

CREATE FUNCTION openrouter_models() RETURNS SETOF openrouter_model_catalog
LANGUAGE sql VOLATILE PARALLEL UNSAFE
SET search_path = @extschema@, pg_catalog, pg_temp
AS $$ SELECT * FROM openrouter_models_from(openrouter_models_response()) $$;
COMMENT ON FUNCTION openrouter_models() IS
$$OpenRouter's models now (GET /models), one row each, as openrouter_model_catalog keeps them: id, name, context length, max completion tokens (of the top provider), every price in USD per token as numeric (the usual ones as columns, all of them in prices; -1 means a price known only per request, as openrouter/auto's), input and output modalities, supported parameters. openrouter_refresh_models() stores them.$$;

CREATE FUNCTION openrouter_refresh_models(response jsonb DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = @extschema@, pg_catalog, pg_temp
AS $$
DECLARE
    n bigint;
BEGIN
    -- (the worker passes the answer it fetched without a key: GET /models is public)
    response := coalesce(response, openrouter_models_response());
    DELETE FROM openrouter_model_catalog;
    INSERT INTO openrouter_model_catalog
    SELECT DISTINCT ON (m.id) m.* FROM openrouter_models_from(response) m;
    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM openrouter_budgets_changed();
    RETURN n;
END
$$;
REVOKE EXECUTE ON FUNCTION openrouter_refresh_models(jsonb) FROM PUBLIC;
COMMENT ON FUNCTION openrouter_refresh_models(jsonb) IS
$$Replaces the contents of openrouter_model_catalog with OpenRouter's models now (GET /models); returns how many. Superusers (and roles granted EXECUTE) only. The background worker runs it every openrouter.models_refresh_interval, and at once when the catalog is empty.$$;

CREATE FUNCTION openrouter_key_status(
    OUT label text, OUT "limit" numeric, OUT limit_remaining numeric, OUT limit_reset text,
    OUT usage numeric, OUT usage_daily numeric, OUT usage_weekly numeric, OUT usage_monthly numeric,
    OUT is_free_tier boolean, OUT expires_at timestamptz)
RETURNS record
LANGUAGE sql VOLATILE PARALLEL UNSAFE
SET search_path = @extschema@, pg_catalog, pg_temp
AS $$
SELECT d->>'label', (d->>'limit')::numeric, (d->>'limit_remaining')::numeric, d->>'limit_reset',
       (d->>'usage')::numeric, (d->>'usage_daily')::numeric, (d->>'usage_weekly')::numeric,
       (d->>'usage_monthly')::numeric, (d->>'is_free_tier')::boolean, (d->>'expires_at')::timestamptz
FROM (SELECT openrouter_key_response()->'data' AS d) k
$$;
COMMENT ON FUNCTION openrouter_key_status() IS
$$What OpenRouter says of the calling role's key (GET /key): its label, its credit limit in USD (NULL: none), what is left of it, when the limit resets, usage in USD in total, today, this week and this month (UTC), whether it is a free-tier key, when it expires.$$;

-- Budgets: written only by the checked functions below; a role reads its own.
CREATE TABLE openrouter_role_budgets (
    role_id oid PRIMARY KEY,
    usd     numeric NOT NULL CHECK (usd >= 0),
    per     text NOT NULL CHECK (per IN ('day', 'month')),
    set_at  timestamptz NOT NULL DEFAULT pg_catalog.now()
);
REVOKE ALL ON openrouter_role_budgets FROM PUBLIC;
GRANT SELECT ON openrouter_role_budgets TO PUBLIC;
ALTER TABLE openrouter_role_budgets ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_budget ON openrouter_role_budgets FOR SELECT
    USING (role_id OPERATOR(pg_catalog.=) (SELECT oid FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) CURRENT_USER));
SELECT pg_catalog.pg_extension_config_dump('openrouter_role_budgets', '');
COMMENT ON TABLE openrouter_role_budgets IS
'Budgets of roles in USD per day or month (UTC), set by superusers with openrouter_set_budget(); a role sees its own row and cannot change it.';
COMMENT ON COLUMN openrouter_role_budgets.role_id IS 'The role whose requests the budget limits.';
COMMENT ON COLUMN openrouter_role_budgets.usd IS 'The most its requests may cost per period, in USD.';
COMMENT ON COLUMN openrouter_role_budgets.per IS 'The period: day or month (UTC).';
COMMENT ON COLUMN openrouter_role_budgets.set_at IS 'When it was set.';

CREATE TABLE openrouter_column_budgets (
    table_oid   oid NOT NULL,
    column_name name NOT NULL,
    usd         numeric NOT NULL CHECK (usd >= 0),
    per         text NOT NULL CHECK (per IN ('day', 'month')),
    set_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (table_oid, column_name)
);
REVOKE ALL ON openrouter_column_budgets FROM PUBLIC;
GRANT SELECT ON openrouter_column_budgets TO PUBLIC;
COMMENT ON TABLE openrouter_column_budgets IS
'Budgets of computed columns in USD per day or month (UTC), whoever computes them, set by the table''s owner with openrouter_set_column_budget().';
COMMENT ON COLUMN openrouter_column_budgets.table_oid IS 'The table of the computed column.';
COMMENT ON COLUMN openrouter_column_budgets.column_name IS 'The computed column.';
COMMENT ON COLUMN openrouter_column_budgets.usd IS 'The most computing it may cost per period, in USD.';
COMMENT ON COLUMN openrouter_column_budgets.per IS 'The period: day or month (UTC).';
COMMENT ON COLUMN openrouter_column_budgets.set_at IS 'When it was set.';

CREATE FUNCTION openrouter_set_budget(role regrole, usd numeric, per text DEFAULT 'day') RETURNS void
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = @extschema@, pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        RAISE EXCEPTION 'only superusers may set budgets' USING ERRCODE = '42501';
    END IF;
    IF role IS NULL THEN
        RAISE EXCEPTION 'role must not be null' USING ERRCODE = '22004';
    END IF;
    PERFORM openrouter_budgets_changed();
    IF usd IS NULL THEN
        DELETE FROM openrouter_role_budgets WHERE role_id = role::oid;
        RETURN;
    END IF;
    IF usd < 0 OR per IS NULL OR per NOT IN ('day', 'month') THEN
        RAISE EXCEPTION 'a budget is a non-negative amount of USD per day or per month'
            USING ERRCODE = '22023', HINT = 'For example: SELECT openrouter_set_budget(''alice'', 5, ''day'').';
    END IF;
    INSERT INTO openrouter_role_budgets AS b (role_id, usd, per) VALUES (role::oid, usd, per)
    ON CONFLICT (role_id) DO UPDATE SET usd = excluded.usd, per = excluded.per, set_at = now();
END
$$;
REVOKE EXECUTE ON FUNCTION openrouter_set_budget(regrole, numeric, text) FROM PUBLIC;
COMMENT ON FUNCTION openrouter_set_budget(regrole, numeric, text) IS
$$Superusers only: gives a role a budget of usd USD per 'day' or 'month' (UTC); NULL usd removes it. Every session of the role shares it (needs shared_preload_libraries = 'openrouter'): a request whose worst-case cost does not fit in what is left, counting requests in flight, is not sent (SQLSTATE ORC01).$$;

CREATE FUNCTION openrouter_set_column_budget(tbl regclass, column_name name, usd numeric, per text DEFAULT 'day') RETURNS void
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = @extschema@, pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        RAISE EXCEPTION 'only superusers may set budgets' USING ERRCODE = '42501';
    END IF;
    IF tbl IS NULL OR column_name IS NULL THEN
        RAISE EXCEPTION 'tbl and column_name must not be null' USING ERRCODE = '22004';
    END IF;
    PERFORM openrouter_budgets_changed();
    IF usd IS NULL THEN
        DELETE FROM openrouter_column_budgets b WHERE b.table_oid = tbl::oid AND b.column_name = $2;
        RETURN;
    END IF;
    IF usd < 0 OR per IS NULL OR per NOT IN ('day', 'month') THEN
        RAISE EXCEPTION 'a budget is a non-negative amount of USD per day or per month' USING ERRCODE = '22023';
    END IF;
    INSERT INTO openrouter_column_budgets AS b (table_oid, column_name, usd, per) VALUES (tbl::oid, $2, usd, per)
    ON CONFLICT (table_oid, column_name) DO UPDATE SET usd = excluded.usd, per = excluded.per, set_at = now();
END
$$;
REVOKE EXECUTE ON FUNCTION openrouter_set_column_budget(regclass, name, numeric, text) FROM PUBLIC;
COMMENT ON FUNCTION openrouter_set_column_budget(regclass, name, numeric, text) IS
$$Superusers only: gives a computed column a budget of usd USD per 'day' or 'month' (UTC), whoever computes it; NULL usd removes it. A request it would not fit is not sent (SQLSTATE ORC01): under on_error => 'ignore' the cell gets the {"error"} object, so a backfill stops spending and records why.$$;

CREATE FUNCTION openrouter_budget_counters(
    OUT role_id oid, OUT table_oid oid, OUT column_name name, OUT period integer,
    OUT spent double precision, OUT in_flight double precision)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'openrouter_budget_counters'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION openrouter_budget_counters() IS
$$The budget counters of this database in shared memory (the caller's role, every computed column; superusers see all): the period counted (days since 2000-01-01 UTC, or year * 12 + month - 1), USD settled in it, USD reserved by requests in flight. Read it through openrouter_budgets.$$;

CREATE VIEW openrouter_budgets WITH (security_barrier) AS
WITH now_utc AS (
    SELECT (pg_catalog.now() AT TIME ZONE 'UTC')::date OPERATOR(pg_catalog.-) date '2000-01-01' AS day,
           (pg_catalog.date_part('year', pg_catalog.now() AT TIME ZONE 'UTC') * 12
            + pg_catalog.date_part('month', pg_catalog.now() AT TIME ZONE 'UTC') - 1)::integer AS month
), budgets AS (
    SELECT 'role'::text AS scope, b.role_id, NULL::oid AS table_oid, NULL::name AS column_name, b.usd, b.per
    FROM openrouter_role_budgets b
    WHERE b.role_id OPERATOR(pg_catalog.=) (SELECT oid FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) CURRENT_USER)
       OR pg_catalog.pg_has_role(CURRENT_USER, 'pg_read_all_stats', 'USAGE')
    UNION ALL
    SELECT 'column', NULL, b.table_oid, b.column_name, b.usd, b.per
    FROM openrouter_column_budgets b
)
SELECT b.scope, b.role_id::regrole AS role, b.table_oid::regclass AS table_name, b.column_name,
       b.usd, b.per,
       coalesce(c.spent, 0)::numeric AS spent, coalesce(c.in_flight, 0)::numeric AS in_flight,
       GREATEST(b.usd OPERATOR(pg_catalog.-) coalesce(c.spent, 0)::numeric
                OPERATOR(pg_catalog.-) coalesce(c.in_flight, 0)::numeric, 0) AS remaining
FROM budgets b CROSS JOIN now_utc n
LEFT JOIN openrouter_budget_counters() c
  ON c.role_id IS NOT DISTINCT FROM b.role_id AND c.table_oid IS NOT DISTINCT FROM b.table_oid
 AND c.column_name IS NOT DISTINCT FROM b.column_name
 AND c.period OPERATOR(pg_catalog.=) CASE b.per WHEN 'day' THEN n.day ELSE n.month END;
GRANT SELECT ON openrouter_budgets TO PUBLIC;
COMMENT ON VIEW openrouter_budgets IS
$$The budgets that apply: the current role's (all roles' for superusers and members of pg_read_all_stats) and every computed column's, with what is spent in the current day or month (UTC), what requests in flight have reserved, and what is left. Spending is counted in shared memory from the first request after the server starts, beginning with what the usage ledger shows for the period.$$;
COMMENT ON COLUMN openrouter_budgets.scope IS 'role or column.';
COMMENT ON COLUMN openrouter_budgets.role IS 'The role whose budget it is (scope role).';
COMMENT ON COLUMN openrouter_budgets.table_name IS 'The table of the computed column (scope column).';
COMMENT ON COLUMN openrouter_budgets.column_name IS 'The computed column (scope column).';
COMMENT ON COLUMN openrouter_budgets.usd IS 'The budget in USD per period.';
COMMENT ON COLUMN openrouter_budgets.per IS 'The period: day or month (UTC).';
COMMENT ON COLUMN openrouter_budgets.spent IS 'USD spent in the current period (usage.cost of the answers).';
COMMENT ON COLUMN openrouter_budgets.in_flight IS 'USD reserved by requests in flight (their worst case).';
COMMENT ON COLUMN openrouter_budgets.remaining IS 'USD left for new requests.';

-- ======================================================================
-- Asynchronous computed columns (src/async_columns.c, issue 10)
-- ======================================================================
--
-- A column in mode 'async' is not computed by the statement that inserts or
-- updates a row: the trigger records the row's key in openrouter_async_queue
-- and wakes the database's background worker at commit, which computes the
-- pending cells as the table's owner and commits them in small transactions.

ALTER TABLE openrouter_computed_column
    ADD COLUMN mode text NOT NULL DEFAULT 'sync' CHECK (mode IN ('sync', 'async')),
    ADD COLUMN paused boolean NOT NULL DEFAULT false,
    ADD COLUMN nulls_pending boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN openrouter_computed_column.mode IS
'sync: computed by the statement that inserts or updates the row; async: by the background worker, after the statement commits.';
COMMENT ON COLUMN openrouter_computed_column.paused IS
'An async column whose pending cells the worker leaves alone (openrouter_pause, or a failure under on_error abort) until openrouter_resume.';
COMMENT ON COLUMN openrouter_computed_column.nulls_pending IS
'An async column whose every empty (NULL) cell is pending by itself, found through the column''s partial index (ON the key WHERE column IS NULL): an INSERT writes no queue entry. False for an async column added with backfill => false, whose inserted rows are queued and whose existing empty cells are left alone.';

-- the row trigger of an asynchronous column whose empty cells are pending
CREATE FUNCTION openrouter_async_insert_trigger() RETURNS trigger
AS 'MODULE_PATHNAME', 'openrouter_async_insert_trigger'
LANGUAGE C;
COMMENT ON FUNCTION openrouter_async_insert_trigger() IS
$$Internal: the AFTER INSERT row trigger of an asynchronous computed column whose empty cells are pending: refuses a value written into the column, forgets what the queue kept for an earlier row with the same key, and wakes the background worker when the transaction commits. It can only be called as a trigger.$$;

CREATE SEQUENCE openrouter_async_version;
COMMENT ON SEQUENCE openrouter_async_version IS
'Versions of the entries of openrouter_async_queue: a new one each time a row''s input changes.';

CREATE TABLE openrouter_async_queue (
    table_oid   oid NOT NULL,
    column_name text NOT NULL,      -- text, not name: 64 bytes less per entry and index entry
    row_key     text NOT NULL,
    version     bigint NOT NULL DEFAULT pg_catalog.nextval('openrouter_async_version'),
    attempts    int NOT NULL DEFAULT 0,
    not_before  timestamptz NOT NULL DEFAULT '-infinity',
    PRIMARY KEY (table_oid, column_name, row_key)
);
ALTER TABLE openrouter_async_queue ENABLE ROW LEVEL SECURITY;
CREATE POLICY owner_sees ON openrouter_async_queue FOR SELECT
    USING (pg_catalog.pg_has_role((SELECT c.relowner FROM pg_catalog.pg_class c
                                   WHERE c.oid OPERATOR(pg_catalog.=) table_oid), 'USAGE'));
REVOKE ALL ON openrouter_async_queue FROM PUBLIC;
GRANT SELECT ON openrouter_async_queue TO PUBLIC;
COMMENT ON TABLE openrouter_async_queue IS
'The cells of asynchronous computed columns that are not simply "empty, hence pending": rows whose input an UPDATE changed (with a version), cells queued by openrouter_recompute, cells waiting after a transient failure, the inserted rows of a column with nulls_pending false, and empty cells the worker computed and that stay empty (not_before infinity: a failure in a non-jsonb column, or a NULL answer). Written by the extension only (the triggers, as the extension''s owner, and the background worker). A role sees the rows of the tables it owns. Not dumped.';
COMMENT ON COLUMN openrouter_async_queue.table_oid IS 'The table.';
COMMENT ON COLUMN openrouter_async_queue.column_name IS 'The computed column.';
COMMENT ON COLUMN openrouter_async_queue.row_key IS 'The row''s primary key: the text of an array of its columns'' output texts.';
COMMENT ON COLUMN openrouter_async_queue.version IS 'Changes each time the row''s input changes: an answer is kept only for the version it was computed for.';
COMMENT ON COLUMN openrouter_async_queue.attempts IS 'Rounds whose final failure was transient (retried later, with backoff).';
COMMENT ON COLUMN openrouter_async_queue.not_before IS 'Not computed before this time (backoff after a transient failure); infinity: an empty cell the worker computed, left alone until its input changes or openrouter_recompute.';

DROP FUNCTION openrouter_add_computed_column(regclass, name, text, text, boolean, boolean);
CREATE FUNCTION openrouter_add_computed_column(
    tbl regclass, column_name name, expression text, on_error text DEFAULT 'abort',
    backfill boolean DEFAULT true, adopt boolean DEFAULT false, mode text DEFAULT 'sync')
RETURNS bigint
AS 'MODULE_PATHNAME', 'openrouter_add_computed_column'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION openrouter_add_computed_column(regclass, name, text, text, boolean, boolean, text) IS
$$Pixeltable's add_computed_column: adds column_name to the table, typed by the expression (any SQL expression over the row's columns, e.g. openrouter_chat(...) or openrouter_chat(...)->'choices'->0->'message'->>'content'), fills it for every existing row, and from then on computes it for inserted rows and for rows whose input columns change. The expression is bound now: names resolve under the current search_path, once. on_error is the default of the calls in the expression that pass none: 'abort' fails the statement at the first failure; 'ignore' keeps each failure in its cell ({"error": ...} in jsonb columns). INSERT or UPDATE of the column's value is refused. The table needs a primary key; only its owner may call this. mode 'sync' (the default) computes in the statement that inserts or updates the row, every call of one statement concurrently (up to openrouter.max_concurrency), paid by the role running it; mode 'async' leaves the cell pending and the background worker computes it after the commit, as the table's owner with the owner's key (failures are then kept per cell; under 'abort' the first one pauses the column). With backfill => false existing rows are left NULL, to be filled by CALL openrouter_backfill(), which computes them in the calling session and commits as it goes (in both modes). With adopt => true it takes over an existing column (e.g. after DROP EXTENSION, or one filled by hand), keeping its values and computing only its NULL cells. An async column that fills its rows gets a partial index on the key WHERE the column IS NULL, through which the worker finds the empty cells (an INSERT writes nothing else); with backfill => false its inserted rows are queued instead. Returns the number of rows filled (async: pending).$$;

CREATE FUNCTION openrouter_alter_computed_column(
    tbl regclass, column_name name, mode text DEFAULT NULL, on_error text DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'openrouter_alter_computed_column'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION openrouter_alter_computed_column(regclass, name, text, text) IS
$$Changes a computed column's mode ('sync' or 'async') or on_error ('abort' or 'ignore'); NULL keeps it. Stored answers are kept. Switching to async makes the column's empty cells pending for the background worker (building a partial index on the key WHERE the column IS NULL); switching to sync computes its pending cells now. The table's owner only. Returns the number of cells made pending or computed.$$;

CREATE FUNCTION openrouter_pause(tbl regclass, column_name name)
RETURNS void
AS 'MODULE_PATHNAME', 'openrouter_pause'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION openrouter_pause(regclass, name) IS
$$Stops the background worker from computing an asynchronous computed column (what is in flight finishes); new rows stay pending. The table's owner only.$$;

CREATE FUNCTION openrouter_resume(tbl regclass, column_name name)
RETURNS void
AS 'MODULE_PATHNAME', 'openrouter_resume'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION openrouter_resume(regclass, name) IS
$$Lets the background worker compute an asynchronous computed column again (after openrouter_pause, or after a failure paused it). The table's owner only.$$;

CREATE FUNCTION openrouter_async_progress(
    OUT table_oid oid, OUT column_name name, OUT in_flight integer, OUT rate double precision)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'openrouter_async_progress'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION openrouter_async_progress() IS
$$What the view openrouter_computed_columns shows of the background worker: the asynchronous column this database's worker is computing now or computed last, its cells in flight and its rate (cells per second). No row without the worker.$$;

COMMENT ON FUNCTION openrouter_recompute(regclass, name, boolean) IS
$$Computes a computed column again, and the computed columns that read it, for every row, or with errors_only only for the cells that failed (NULL, or {"error": ...} in jsonb columns). Rows that another run is computing are skipped. For an asynchronous column the cells are queued for the background worker instead. Returns the number of rows computed (async: queued).$$;

DROP VIEW openrouter_computed_columns;
DROP FUNCTION openrouter_computed_column_status();
CREATE FUNCTION openrouter_computed_column_status(
    OUT table_name regclass, OUT column_name name, OUT expression text, OUT on_error text,
    OUT input_columns name[], OUT total_rows bigint, OUT error_rows bigint, OUT pending_rows bigint,
    OUT mode text, OUT paused boolean, OUT in_flight integer, OUT done_rows bigint,
    OUT rate double precision, OUT time_left interval)
RETURNS SETOF record
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    cc record;
    progress record;
BEGIN
    SELECT * INTO progress FROM @extschema@.openrouter_async_progress() LIMIT 1;
    FOR cc IN SELECT d.*, a.atttypid = 'pg_catalog.jsonb'::pg_catalog.regtype AS is_jsonb
              FROM @extschema@.openrouter_computed_column d
              JOIN pg_class r ON r.oid = d.table_oid
              JOIN pg_attribute a ON a.attrelid = r.oid AND a.attname = d.column_name
                                 AND NOT a.attisdropped
              WHERE r.relkind = 'r' AND pg_has_role(r.relowner, 'USAGE')
              ORDER BY d.table_oid::text, d.position LOOP
        table_name := cc.table_oid; column_name := cc.column_name;
        expression := cc.expression; on_error := cc.on_error; input_columns := cc.input_columns;
        mode := cc.mode; paused := cc.paused; in_flight := 0; rate := NULL; time_left := NULL;
        IF cc.whole_row THEN
            input_columns := array['*'::name];
        END IF;
        IF cc.mode = 'async' THEN
            -- pending: queued (not left alone), and with nulls_pending the empty
            -- cells without an entry; errors: failed cells that are not queued
            -- again, and the cells the worker computed empty and leaves alone
            EXECUTE format('SELECT count(*), count(*) FILTER (WHERE %s AND q.row_key IS NULL OR q.not_before = ''infinity''),'
                           ' count(*) FILTER (WHERE q.not_before < ''infinity'' OR (%s AND q.row_key IS NULL AND t.%I IS NULL))'
                           ' FROM ONLY %s t LEFT JOIN @extschema@.openrouter_async_queue q'
                           ' ON q.table_oid = %s AND q.column_name = %L'
                           ' AND q.row_key = (ARRAY[%s])::text',
                           CASE WHEN cc.is_jsonb THEN format('t.%I OPERATOR(pg_catalog.?) ''error''', cc.column_name)
                                ELSE 'false' END,
                           cc.nulls_pending::text, cc.column_name,
                           cc.table_oid, cc.table_oid::oid, cc.column_name,
                           (SELECT string_agg(format('format(''%%s'', t.%I)', k.attname), ', ' ORDER BY u.n)
                            FROM pg_index i, unnest(i.indkey) WITH ORDINALITY u(attnum, n)
                            JOIN pg_attribute k ON k.attrelid = cc.table_oid AND k.attnum = u.attnum
                            WHERE i.indrelid = cc.table_oid AND i.indisprimary))
               INTO total_rows, error_rows, pending_rows;
            IF progress.table_oid = cc.table_oid::oid AND progress.column_name = cc.column_name THEN
                in_flight := progress.in_flight;
                rate := progress.rate;
                IF rate > 0 THEN
                    time_left := make_interval(secs => round(pending_rows / rate));
                END IF;
            END IF;
        ELSE
            EXECUTE format('SELECT count(*), count(*) FILTER (WHERE %s), count(*) FILTER (WHERE %I IS NULL) FROM ONLY %s',
                           CASE WHEN cc.is_jsonb THEN format('%I OPERATOR(pg_catalog.?) ''error''', cc.column_name)
                                ELSE 'false' END,
                           cc.column_name, cc.table_oid)
               INTO total_rows, error_rows, pending_rows;
        END IF;
        done_rows := total_rows - pending_rows;
        RETURN NEXT;
    END LOOP;
END
$$;
COMMENT ON FUNCTION openrouter_computed_column_status() IS
$$What the view openrouter_computed_columns shows: each computed column of the tables the current role owns, with its mode and counts.$$;

CREATE VIEW openrouter_computed_columns AS SELECT * FROM openrouter_computed_column_status();
GRANT SELECT ON openrouter_computed_columns TO PUBLIC;
COMMENT ON VIEW openrouter_computed_columns IS
'The computed columns of the tables the current role owns, with their mode, row, error and pending counts, and the background worker''s progress on asynchronous ones.';
COMMENT ON COLUMN openrouter_computed_columns.table_name IS 'The table.';
COMMENT ON COLUMN openrouter_computed_columns.column_name IS 'The computed column.';
COMMENT ON COLUMN openrouter_computed_columns.expression IS 'Its expression, as bound when it was defined.';
COMMENT ON COLUMN openrouter_computed_columns.on_error IS 'abort or ignore.';
COMMENT ON COLUMN openrouter_computed_columns.input_columns IS
'The columns it reads, directly or through other computed columns; {*} when it reads the whole row.';
COMMENT ON COLUMN openrouter_computed_columns.total_rows IS 'Rows of the table.';
COMMENT ON COLUMN openrouter_computed_columns.error_rows IS 'Cells holding {"error": ...} (jsonb columns); in async mode, those not queued again, and the cells the worker computed empty and leaves alone (a failure in a non-jsonb column, or a NULL answer), which openrouter_recompute(..., errors_only => true) computes again.';
COMMENT ON COLUMN openrouter_computed_columns.pending_rows IS 'sync: cells still NULL (not computed yet, or failed in a non-jsonb column); async: cells the worker has still to compute (empty cells of inserted rows, and queued ones: updated rows, recomputed cells, transient failures waiting to be retried).';
COMMENT ON COLUMN openrouter_computed_columns.mode IS 'sync or async.';
COMMENT ON COLUMN openrouter_computed_columns.paused IS 'async: the worker leaves it alone until openrouter_resume().';
COMMENT ON COLUMN openrouter_computed_columns.in_flight IS 'async: cells the worker is computing now.';
COMMENT ON COLUMN openrouter_computed_columns.done_rows IS 'Rows not pending.';
COMMENT ON COLUMN openrouter_computed_columns.rate IS 'async: cells per second the worker computed lately (NULL when it is not at work on this column).';
COMMENT ON COLUMN openrouter_computed_columns.time_left IS 'async: pending cells at that rate.';

-- ---------------------------------------------------------------------------
-- The definitions each backend keeps (src/definition_cache.c)
--
-- A statement trigger that fires for every single-row INSERT into a table
-- with computed columns reads that table's definitions from the backend's
-- copy; any change of the definitions table, whoever makes it, empties the
-- copies of every backend when it commits.
-- ---------------------------------------------------------------------------

CREATE FUNCTION openrouter_computed_column_changed() RETURNS trigger
LANGUAGE c
AS 'MODULE_PATHNAME', 'openrouter_computed_column_changed';
REVOKE ALL ON FUNCTION openrouter_computed_column_changed() FROM PUBLIC;
COMMENT ON FUNCTION openrouter_computed_column_changed() IS
'Internal: the statement trigger of openrouter_computed_column. Tells every backend to read the changed definitions again.';

CREATE TRIGGER openrouter_computed_column_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON openrouter_computed_column
    FOR EACH STATEMENT EXECUTE FUNCTION openrouter_computed_column_changed();
COMMENT ON TRIGGER openrouter_computed_column_changed ON openrouter_computed_column IS
'Empties the copies of the definitions the backends keep, when a change commits.';

-- ---------------------------------------------------------------------------
-- Every object has a COMMENT: the event triggers too (1.0's had none)
-- ---------------------------------------------------------------------------

COMMENT ON EVENT TRIGGER openrouter_forget_dropped_columns IS
'Forgets the definitions of computed columns whose table or column was dropped (openrouter_forget_dropped_columns()).';
COMMENT ON EVENT TRIGGER openrouter_refuse_paid_indexes IS
'Refuses an index whose expression or predicate calls openrouter_chat (openrouter_refuse_paid_indexes()).';
COMMENT ON EVENT TRIGGER openrouter_announce_drop IS
'Says, before DROP EXTENSION openrouter, what it deletes (openrouter_announce_drop()).';
