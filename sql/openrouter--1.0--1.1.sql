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
COMMENT ON SEQUENCE openrouter_usage_log_id_seq IS
'Private to the openrouter extension: numbers the rows of openrouter_usage_log in order of arrival.';
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
-- Asynchronous computed columns (src/async_columns.c, issue 10)
-- ======================================================================
--
-- A column in mode 'async' is not computed by the statement that inserts or
-- updates a row: the trigger records the row's key in openrouter_async_queue
-- and wakes the database's background worker at commit, which computes the
-- pending cells as the table's owner and commits them in small transactions.

ALTER TABLE openrouter_computed_column
    ADD COLUMN mode text NOT NULL DEFAULT 'sync' CHECK (mode IN ('sync', 'async')),
    ADD COLUMN paused boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN openrouter_computed_column.mode IS
'sync: computed by the statement that inserts or updates the row; async: by the background worker, after the statement commits.';
COMMENT ON COLUMN openrouter_computed_column.paused IS
'An async column whose pending cells the worker leaves alone (openrouter_pause, or a failure under on_error abort) until openrouter_resume.';

CREATE SEQUENCE openrouter_async_version;
COMMENT ON SEQUENCE openrouter_async_version IS
'Versions of the entries of openrouter_async_queue: a new one each time a row''s input changes.';

CREATE TABLE openrouter_async_queue (
    table_oid   oid NOT NULL,
    column_name name NOT NULL,
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
'The pending cells of asynchronous computed columns, one row per cell: written by the extension only (the trigger, as the extension''s owner), removed by the background worker when the cell is computed. A role sees the rows of the tables it owns. Not dumped.';
COMMENT ON COLUMN openrouter_async_queue.table_oid IS 'The table.';
COMMENT ON COLUMN openrouter_async_queue.column_name IS 'The computed column.';
COMMENT ON COLUMN openrouter_async_queue.row_key IS 'The row''s primary key: the text of an array of its columns'' output texts.';
COMMENT ON COLUMN openrouter_async_queue.version IS 'Changes each time the row''s input changes: an answer is kept only for the version it was computed for.';
COMMENT ON COLUMN openrouter_async_queue.attempts IS 'Rounds whose final failure was transient (retried later, with backoff).';
COMMENT ON COLUMN openrouter_async_queue.not_before IS 'Not computed before this time (backoff after a transient failure).';

DROP FUNCTION openrouter_add_computed_column(regclass, name, text, text, boolean, boolean);
CREATE FUNCTION openrouter_add_computed_column(
    tbl regclass, column_name name, expression text, on_error text DEFAULT 'abort',
    backfill boolean DEFAULT true, adopt boolean DEFAULT false, mode text DEFAULT 'sync')
RETURNS bigint
AS 'MODULE_PATHNAME', 'openrouter_add_computed_column'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION openrouter_add_computed_column(regclass, name, text, text, boolean, boolean, text) IS
$$Pixeltable's add_computed_column: adds column_name to the table, typed by the expression (any SQL expression over the row's columns, e.g. openrouter_chat(...) or openrouter_chat(...)->'choices'->0->'message'->>'content'), fills it for every existing row, and from then on computes it for inserted rows and for rows whose input columns change. The expression is bound now: names resolve under the current search_path, once. on_error is the default of the calls in the expression that pass none: 'abort' fails the statement at the first failure; 'ignore' keeps each failure in its cell ({"error": ...} in jsonb columns). INSERT or UPDATE of the column's value is refused. The table needs a primary key; only its owner may call this. mode 'sync' (the default) computes in the statement that inserts or updates the row, every call of one statement concurrently (up to openrouter.max_concurrency), paid by the role running it; mode 'async' leaves the cell pending and the background worker computes it after the commit, as the table's owner with the owner's key (failures are then kept per cell; under 'abort' the first one pauses the column). With backfill => false existing rows are left NULL, to be filled by CALL openrouter_backfill(), which commits as it goes (in async mode: by the worker). With adopt => true it takes over an existing column (e.g. after DROP EXTENSION, or one filled by hand), keeping its values and computing only its NULL cells. Returns the number of rows filled (async: queued).$$;

CREATE FUNCTION openrouter_alter_computed_column(
    tbl regclass, column_name name, mode text DEFAULT NULL, on_error text DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'openrouter_alter_computed_column'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION openrouter_alter_computed_column(regclass, name, text, text) IS
$$Changes a computed column's mode ('sync' or 'async') or on_error ('abort' or 'ignore'); NULL keeps it. Stored answers are kept. Switching to async queues the column's empty cells for the background worker; switching to sync computes its pending cells now. The table's owner only. Returns the number of cells queued or computed.$$;

CREATE FUNCTION openrouter_pause(tbl regclass, column_name name)
RETURNS void
AS 'MODULE_PATHNAME', 'openrouter_pause'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION openrouter_pause(regclass, name) IS
$$Stops the background worker from computing an asynchronous computed column (what is in flight finishes); new rows keep being queued. The table's owner only.$$;

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
            -- pending: queued; errors: failed cells that are not queued again
            EXECUTE format('SELECT count(*), count(*) FILTER (WHERE %s AND q.row_key IS NULL), count(q.row_key)'
                           ' FROM ONLY %s t LEFT JOIN @extschema@.openrouter_async_queue q'
                           ' ON q.table_oid = %s AND q.column_name = %L'
                           ' AND q.row_key = (ARRAY[%s])::text',
                           CASE WHEN cc.is_jsonb THEN format('t.%I OPERATOR(pg_catalog.?) ''error''', cc.column_name)
                                ELSE 'false' END,
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
COMMENT ON COLUMN openrouter_computed_columns.error_rows IS 'Cells holding {"error": ...} (jsonb columns); in async mode, those not queued again.';
COMMENT ON COLUMN openrouter_computed_columns.pending_rows IS 'sync: cells still NULL (not computed yet, or failed in a non-jsonb column); async: cells queued for the worker.';
COMMENT ON COLUMN openrouter_computed_columns.mode IS 'sync or async.';
COMMENT ON COLUMN openrouter_computed_columns.paused IS 'async: the worker leaves it alone until openrouter_resume().';
COMMENT ON COLUMN openrouter_computed_columns.in_flight IS 'async: cells the worker is computing now.';
COMMENT ON COLUMN openrouter_computed_columns.done_rows IS 'Rows not pending.';
COMMENT ON COLUMN openrouter_computed_columns.rate IS 'async: cells per second the worker computed lately (NULL when it is not at work on this column).';
COMMENT ON COLUMN openrouter_computed_columns.time_left IS 'async: pending cells at that rate.';
