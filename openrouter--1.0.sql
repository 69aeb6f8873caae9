/* openrouter--1.0.sql: OpenRouter chat completions from SQL */

\echo Use "CREATE EXTENSION openrouter" to load this file. \quit

-- Per-role API keys and attribution defaults (openrouter_configure_client).
-- Only the extension's owner may read it; the extension's C code reads and
-- writes the current role's row on its behalf.  It is deliberately not
-- registered with pg_extension_config_dump: keys never go into dumps.
CREATE TABLE openrouter_api_key (
    role_id    oid PRIMARY KEY,
    role_name  name NOT NULL,
    api_key    text NOT NULL,
    site_url   text,
    site_name  text,
    updated_at timestamptz NOT NULL DEFAULT now()
);
REVOKE ALL ON openrouter_api_key FROM PUBLIC;
-- no policy: only its owner sees a row, not even members of pg_read_all_data
ALTER TABLE openrouter_api_key ENABLE ROW LEVEL SECURITY;
COMMENT ON TABLE openrouter_api_key IS
'Private to the openrouter extension: API keys stored by openrouter_configure_client(). Readable by superusers only; never dumped.';

CREATE FUNCTION openrouter_chat(
    messages     jsonb,
    model        text,
    model_kwargs jsonb DEFAULT NULL,
    tools        jsonb DEFAULT NULL,
    tool_choice  jsonb DEFAULT NULL,
    provider     jsonb DEFAULT NULL,
    transforms   jsonb DEFAULT NULL,
    site_url     text  DEFAULT NULL,
    site_name    text  DEFAULT NULL,
    on_error     text  DEFAULT 'abort')
RETURNS jsonb
AS 'MODULE_PATHNAME', 'openrouter_chat'
LANGUAGE C IMMUTABLE PARALLEL RESTRICTED;

COMMENT ON FUNCTION openrouter_chat(jsonb, text, jsonb, jsonb, jsonb, jsonb, jsonb, text, text, text) IS
$$Sends one chat completions request to OpenRouter (POST {openrouter.base_url}/chat/completions) and returns the response body as jsonb.
messages: a non-empty JSON array of {"role", "content"} objects (content may be a string or an array of text, image_url, file or input_audio parts). NULL messages return NULL and send nothing.
model: e.g. 'openai/gpt-4o-mini'.
model_kwargs: any further request fields (temperature, max_tokens, top_p, frequency_penalty, seed, stop, response_format, reasoning, models, plugins, ...); a key that has an argument of its own is an error.
tools: OpenAI-style tool specs. tool_choice: "auto", "none", "required", {"type": "function", ...} or Pixeltable's {"auto", "required", "tool", "parallel_tool_calls"}.
provider, transforms: OpenRouter routing preferences and transforms, sent as given.
site_url, site_name: attribution (HTTP-Referer, X-OpenRouter-Title and X-Title); default to openrouter.site_url and openrouter.site_name, then to the role's stored defaults.
on_error: 'abort' raises (SQLSTATE class OR, see the README's error table); 'ignore' returns {"error": {..., "status", "sqlstate", "retryable", "attempts"}}.
Marked IMMUTABLE so that it can define a stored generated column: PostgreSQL then evaluates a call whose arguments are all constants once, when the statement is planned (EXPLAIN without ANALYZE included). An answer fetched by openrouter_prefetch() in the same transaction is used instead of a new request.
Transient failures (HTTP 408, 429, 500, 502, 503, 504, 524, 529, transport) are retried up to openrouter.max_retries times.$$;

CREATE FUNCTION openrouter_messages(prompt text, system text DEFAULT NULL)
RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE
    WHEN prompt IS NULL THEN NULL
    WHEN system IS NULL THEN jsonb_build_array(jsonb_build_object('role', 'user', 'content', prompt))
    ELSE jsonb_build_array(jsonb_build_object('role', 'system', 'content', system),
                           jsonb_build_object('role', 'user', 'content', prompt))
  END
$$;

COMMENT ON FUNCTION openrouter_messages(text, text) IS
$$Builds the messages array of a one-question chat: [{"role": "system", "content": system}, {"role": "user", "content": prompt}] (no system message when system is NULL; NULL when prompt is NULL, so that openrouter_chat sends nothing). IMMUTABLE, so it may be used in generated columns and index expressions.$$;

CREATE FUNCTION openrouter_chat_batch(
    requests jsonb[],
    on_error text DEFAULT 'abort')
RETURNS SETOF jsonb
AS 'MODULE_PATHNAME', 'openrouter_chat_batch'
LANGUAGE C VOLATILE PARALLEL RESTRICTED ROWS 100;

COMMENT ON FUNCTION openrouter_chat_batch(jsonb[], text) IS
$$Sends many chat completions requests at once and returns their responses in request order (use WITH ORDINALITY to join them back). Each request is an object with the keys of openrouter_chat's arguments: messages, model, model_kwargs, tools, tool_choice, provider, transforms, site_url, site_name. Up to openrouter.max_concurrency requests are in flight at once, paced by openrouter.requests_per_minute; a 429 slows the whole batch down. A NULL request, or one without messages, gives NULL. on_error 'abort' fails the call at the first failure; 'ignore' returns each failure as {"error": ...} in its place.$$;

CREATE FUNCTION openrouter_configure_client(
    api_key   text,
    site_url  text DEFAULT NULL,
    site_name text DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'openrouter_configure_client'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION openrouter_configure_client(text, text, text) IS
$$Stores the OpenRouter API key, and optional attribution defaults, of the current role. It survives reconnects and restarts, no other role except superusers can read it, and pg_dump never writes it out. A NULL api_key forgets the stored key. A key set with SET openrouter.api_key in a session takes precedence; OPENROUTER_API_KEY in the server's environment is the last resort.$$;

CREATE FUNCTION openrouter_client(
    OUT key_source text,
    OUT key_hint   text,
    OUT site_url   text,
    OUT site_name  text,
    OUT base_url   text)
RETURNS record
AS 'MODULE_PATHNAME', 'openrouter_client'
LANGUAGE C STABLE PARALLEL RESTRICTED;

COMMENT ON FUNCTION openrouter_client() IS
$$Shows what openrouter_chat would use now for the current role: where the key comes from ('session', 'role' or 'environment'; NULL when none is set), a hint of it (its first and last characters, never the key), the attribution defaults and the base URL.$$;

-- ---- concurrency for row-at-a-time SQL ----

CREATE FUNCTION openrouter_prefetch(query text)
RETURNS bigint
AS 'MODULE_PATHNAME', 'openrouter_prefetch'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;

COMMENT ON FUNCTION openrouter_prefetch(text) IS
$$Runs a read-only query in collect mode: every openrouter_chat() call it evaluates records its request (and returns NULL) instead of sending it. The collected requests are then sent together, up to openrouter.max_concurrency at once, and their answers kept until the end of the transaction or the next prefetch: evaluating the same calls again (e.g. in an UPDATE) sends nothing. Returns how many requests were sent. Example: SELECT openrouter_prefetch('SELECT openrouter_chat(m, ''openai/gpt-4o-mini'') FROM t'); UPDATE t SET r = openrouter_chat(m, 'openai/gpt-4o-mini');$$;

-- ---- tools (openrouter_tools, openrouter_invoke_tools, openrouter_tool_messages) ----

CREATE FUNCTION openrouter_tools(VARIADIC functions regprocedure[])
RETURNS jsonb
AS 'MODULE_PATHNAME', 'openrouter_tools'
LANGUAGE C STABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION openrouter_tools(regprocedure[]) IS
$$Returns the tool specs of SQL functions, to pass as openrouter_chat(..., tools => ...): for each function {"type": "function", "function": {"name", "description", "parameters"}}. name is the function's name (1 to 64 letters, digits, underscores, dashes); description its COMMENT ON FUNCTION text, whole; parameters a JSON Schema object of its named arguments: text types -> string, integer types -> integer, real/double precision/numeric -> number, boolean -> boolean, json/jsonb -> any value, arrays -> array, enums -> string with enum, domains -> their base type, date/time/timestamp/interval -> string with format date/time/date-time/duration. Arguments without a default are required. Procedures, aggregates, set-returning functions, OUT parameters, unnamed arguments and two tools of one name are errors.
Example: openrouter_tools('calculator(text,float8,float8)', 'weather(text)').$$;

CREATE FUNCTION openrouter_invoke_tools(
    tools    jsonb,
    response jsonb,
    on_error text DEFAULT 'abort')
RETURNS jsonb
AS 'MODULE_PATHNAME', 'openrouter_invoke_tools'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION openrouter_invoke_tools(jsonb, jsonb, text) IS
$$Runs the tool calls of an openrouter_chat() response (choices[0].message.tool_calls) and returns one key per declared tool: the list of its results (to_jsonb of each return value) in call order, or null when it was not called; e.g. {"weather": null, "stock_price": [131.17, 82.88]}.
tools: the specs openrouter_tools() returned. Each declared name runs the function of that name visible in search_path whose spec is the declared one; the model can run nothing else.
The model's arguments are converted through each parameter type's input function; missing arguments take their defaults; functions run as the calling role (EXECUTE is checked).
on_error: 'abort' raises (ORT01 undeclared tool, ORT02 arguments not a JSON object, ORT03 arguments that do not fit, the tool's own error, ORT04 a response that is an error); 'ignore' puts {"error": {...}} in a failed call's place, runs the other calls, and gives nulls for an error response. A response without tool calls gives all nulls. NULL tools or response return NULL.$$;

CREATE FUNCTION openrouter_tool_messages(
    messages     jsonb,
    response     jsonb,
    tool_results jsonb)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'openrouter_tool_messages'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION openrouter_tool_messages(jsonb, jsonb, jsonb) IS
$$Returns the messages of the follow-up request after tool calls: messages, then the response's assistant message with its tool_calls, then one {"role": "tool", "tool_call_id", "content"} message per call, whose content is the call's result from tool_results (what openrouter_invoke_tools() returned) as JSON text. NULL when the response is an error.
Example: openrouter_chat(openrouter_tool_messages(messages, tool_response, tool_results), model => 'openai/gpt-4o-mini', tools => ...).$$;

-- ---- computed columns (Pixeltable's add_computed_column) ----
--
-- Security notes for this part: these functions run with the caller's rights
-- and evaluate the table owner's own expression with the caller's
-- search_path, so everything else they call or generate is schema-qualified
-- (pg_catalog.format, OPERATOR(pg_catalog.?), ...): a function or operator
-- that someone put earlier in the search_path must not be picked instead.

-- One row per computed column.  Dumped with the database (its definitions
-- must survive a restore); readable by everyone, like pg_attrdef.  A row may
-- only be written for an ordinary table the writing role owns (enforced by
-- the trigger below, which runs as that role).
CREATE TABLE openrouter_computed_column (
    table_oid     regclass NOT NULL,
    column_name   name NOT NULL,
    expression    text NOT NULL,
    on_error      text NOT NULL CHECK (on_error IN ('abort', 'ignore')),
    input_columns name[] NOT NULL,
    position      int NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (table_oid, column_name)
);
SELECT pg_catalog.pg_extension_config_dump('openrouter_computed_column', '');
GRANT SELECT, INSERT, UPDATE, DELETE ON openrouter_computed_column TO PUBLIC;
COMMENT ON TABLE openrouter_computed_column IS
'The computed columns made by openrouter_add_computed_column(): expression, on_error, and the columns it reads (transitively).';

CREATE FUNCTION openrouter_computed_column_guard() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    tbl regclass;
BEGIN
    FOREACH tbl IN ARRAY CASE TG_OP WHEN 'INSERT' THEN ARRAY[NEW.table_oid]
                                    WHEN 'DELETE' THEN ARRAY[OLD.table_oid]
                                    ELSE ARRAY[OLD.table_oid, NEW.table_oid] END LOOP
        -- a definition of a table that is gone may be deleted by anyone
        CONTINUE WHEN TG_OP = 'DELETE'
                 AND NOT EXISTS (SELECT 1 FROM pg_class WHERE oid = tbl);
        IF (SELECT relkind FROM pg_class WHERE oid = tbl) IS DISTINCT FROM 'r'
           OR NOT pg_has_role((SELECT relowner FROM pg_class WHERE oid = tbl), 'USAGE') THEN
            RAISE EXCEPTION 'must be owner of table %', tbl
                USING ERRCODE = 'insufficient_privilege',
                      DETAIL = 'Computed columns are defined on ordinary tables, by their owners.';
        END IF;
    END LOOP;
    RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
END
$$;
CREATE TRIGGER owner_only BEFORE INSERT OR UPDATE OR DELETE ON openrouter_computed_column
    FOR EACH ROW EXECUTE FUNCTION openrouter_computed_column_guard();

-- a computed column's definition, or the error that it is not one
CREATE FUNCTION openrouter_computed_column_definition(tbl regclass, column_name name)
RETURNS openrouter_computed_column
LANGUAGE plpgsql STABLE AS $$
DECLARE
    cc @extschema@.openrouter_computed_column;
BEGIN
    -- (no search_path of its own: the message names the table as the caller sees it)
    SELECT * INTO cc FROM @extschema@.openrouter_computed_column c
    WHERE c.table_oid OPERATOR(pg_catalog.=) tbl
      AND c.column_name OPERATOR(pg_catalog.=) openrouter_computed_column_definition.column_name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'column "%" of relation % is not a computed column', column_name, tbl
            USING ERRCODE = 'undefined_column', HINT = 'See the view openrouter_computed_columns.';
    END IF;
    RETURN cc;
END
$$;

-- the table's primary key columns, quoted and comma-separated
CREATE FUNCTION openrouter_primary_key_columns(tbl regclass) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY k.n)
  FROM pg_index i
  CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n)
  JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
  WHERE i.indrelid = tbl AND i.indisprimary
$$;

-- the names of a computed column's triggers: by creation order, so that they
-- fire in dependency order (a column can only read earlier ones)
CREATE FUNCTION openrouter_trigger_name(creation_order int, event text) RETURNS name
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT format('openrouter_cc_%s_%s', lpad(creation_order::text, 6, '0'), event)::name
$$;

-- Compute one computed column for the given rows: fetch every answer
-- concurrently, then write them.  Rows are given by ctid, within the
-- calling statement's transaction.  While it writes, openrouter.computing is
-- on, so that the UPDATE triggers of the table leave that UPDATE alone.
CREATE FUNCTION openrouter_compute_rows(tbl regclass, column_name name, ctids tid[])
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    cc record;
    saved_on_error text := coalesce(pg_catalog.current_setting('openrouter.on_error', true), '');
    saved_computing text;
    n bigint;
BEGIN
    cc := @extschema@.openrouter_computed_column_definition(tbl, column_name);
    IF ctids IS NULL OR pg_catalog.cardinality(ctids) OPERATOR(pg_catalog.=) 0 THEN
        RETURN 0;
    END IF;
    PERFORM pg_catalog.set_config('openrouter.on_error', cc.on_error, true);
    PERFORM @extschema@.openrouter_prefetch(pg_catalog.format(
        'SELECT (%s) FROM ONLY %s WHERE ctid OPERATOR(pg_catalog.=) ANY (%L::pg_catalog.tid[])',
        cc.expression, tbl, ctids));
    saved_computing := pg_catalog.current_setting('openrouter.computing');
    PERFORM pg_catalog.set_config('openrouter.computing', 'on', true);
    EXECUTE pg_catalog.format(
        'UPDATE ONLY %s SET %I = (%s) WHERE ctid OPERATOR(pg_catalog.=) ANY ($1)',
        tbl, cc.column_name, cc.expression) USING ctids;
    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM pg_catalog.set_config('openrouter.computing', saved_computing, true);
    PERFORM pg_catalog.set_config('openrouter.on_error', saved_on_error, true);
    RETURN n;
END
$$;

-- Compute a column for many rows, in chunks: the answer cache holds one
-- chunk (1,000 rows, or 10 x openrouter.max_concurrency) at a time.
CREATE FUNCTION openrouter_compute_chunked(tbl regclass, column_name name, ctids tid[])
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    chunk int := pg_catalog.int4larger(1000, 10 OPERATOR(pg_catalog.*)
        coalesce(pg_catalog.current_setting('openrouter.max_concurrency', true), '32')::int);
    done bigint := 0;
BEGIN
    FOR i IN 1 .. coalesce(pg_catalog.cardinality(ctids), 0) BY chunk LOOP
        done := done OPERATOR(pg_catalog.+) @extschema@.openrouter_compute_rows(
            tbl, column_name, ctids[i : i OPERATOR(pg_catalog.+) chunk OPERATOR(pg_catalog.-) 1]);
    END LOOP;
    RETURN done;
END
$$;

-- Compute a column, and then the computed columns that read it, for the
-- rows matching a condition (SQL text over the table's columns).
CREATE FUNCTION openrouter_compute_where(tbl regclass, column_name name, row_filter text)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    key_columns text := @extschema@.openrouter_primary_key_columns(tbl);
    ctids tid[];
    n bigint;
    dependent record;
BEGIN
    -- the rows' keys, to find them again for the dependents (ctids change)
    IF pg_catalog.to_regclass('pg_temp.openrouter_compute_keys') IS NOT NULL THEN
        DROP TABLE pg_temp.openrouter_compute_keys;
    END IF;
    EXECUTE pg_catalog.format('CREATE TEMPORARY TABLE openrouter_compute_keys AS SELECT %s FROM ONLY %s WHERE %s',
                              key_columns, tbl, row_filter);
    EXECUTE pg_catalog.format('SELECT pg_catalog.array_agg(t.ctid ORDER BY t.ctid) FROM ONLY %s t'
                              ' JOIN pg_temp.openrouter_compute_keys k USING (%s)', tbl, key_columns) INTO ctids;
    n := @extschema@.openrouter_compute_chunked(tbl, column_name, ctids);
    FOR dependent IN SELECT c.column_name FROM @extschema@.openrouter_computed_column c
                     WHERE c.table_oid OPERATOR(pg_catalog.=) tbl
                       AND openrouter_compute_where.column_name OPERATOR(pg_catalog.=) ANY (c.input_columns)
                       AND c.column_name OPERATOR(pg_catalog.<>) openrouter_compute_where.column_name
                     ORDER BY c.position LOOP
        EXECUTE pg_catalog.format('SELECT pg_catalog.array_agg(t.ctid ORDER BY t.ctid) FROM ONLY %s t'
                                  ' JOIN pg_temp.openrouter_compute_keys k USING (%s)', tbl, key_columns) INTO ctids;
        PERFORM @extschema@.openrouter_compute_chunked(tbl, dependent.column_name, ctids);
    END LOOP;
    DROP TABLE pg_temp.openrouter_compute_keys;
    RETURN n;
END
$$;

-- The trigger behind every computed column: after an INSERT, compute the
-- new rows; after an UPDATE, the rows whose input columns changed (or whose
-- key changed).  The extension's own UPDATEs (openrouter.computing on) are
-- left alone: later computed columns have triggers of their own, which fire
-- after this one.
CREATE FUNCTION openrouter_computed_column_trigger() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    cc record;
    key_columns text;
    first_key text;
    changed text;
    ctids tid[];
BEGIN
    IF TG_OP OPERATOR(pg_catalog.=) 'UPDATE'
       AND pg_catalog.current_setting('openrouter.computing', true) OPERATOR(pg_catalog.=) 'on' THEN
        RETURN NULL;
    END IF;
    SELECT * INTO cc FROM @extschema@.openrouter_computed_column c
    WHERE c.table_oid OPERATOR(pg_catalog.=) TG_RELID
      AND c.column_name OPERATOR(pg_catalog.=) TG_ARGV[0];
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    key_columns := @extschema@.openrouter_primary_key_columns(TG_RELID);

    IF TG_OP OPERATOR(pg_catalog.=) 'INSERT' THEN
        EXECUTE pg_catalog.format(
            'SELECT pg_catalog.array_agg(t.ctid) FROM ONLY %s t JOIN openrouter_new_rows n USING (%s)',
            TG_RELID::regclass, key_columns) INTO ctids;
    ELSE
        SELECT pg_catalog.string_agg(pg_catalog.format(
                   'n.%1$I::text IS DISTINCT FROM o.%1$I::text', c), ' OR ')
          INTO changed FROM pg_catalog.unnest(cc.input_columns) AS c;
        first_key := pg_catalog.split_part(key_columns, ', ', 1);
        EXECUTE pg_catalog.format(
            'SELECT pg_catalog.array_agg(t.ctid) FROM ONLY %s t JOIN openrouter_new_rows n USING (%s)'
            ' LEFT JOIN openrouter_old_rows o USING (%s) WHERE o.%s IS NULL OR %s',
            TG_RELID::regclass, key_columns, key_columns, first_key,
            coalesce(changed, 'false')) INTO ctids;
    END IF;
    PERFORM @extschema@.openrouter_compute_chunked(TG_RELID, cc.column_name, ctids);
    RETURN NULL;
END
$$;

CREATE FUNCTION openrouter_add_computed_column(
    tbl regclass, column_name name, expression text, on_error text DEFAULT 'abort',
    backfill boolean DEFAULT true)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    probe regclass;
    column_type text;
    direct name[];
    inputs name[];
    pos int;
BEGIN
    IF on_error IS NULL OR on_error OPERATOR(pg_catalog.<>) ALL (ARRAY['abort', 'ignore']) THEN
        RAISE EXCEPTION 'invalid on_error value "%"', on_error
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass ''abort'' to fail at the first error or ''ignore'' to keep each failure in its cell.';
    END IF;
    IF (SELECT relkind FROM pg_catalog.pg_class WHERE oid OPERATOR(pg_catalog.=) tbl) OPERATOR(pg_catalog.<>) 'r' THEN
        RAISE EXCEPTION '% is not an ordinary table', tbl
            USING ERRCODE = 'wrong_object_type',
                  DETAIL = 'Computed columns are supported on ordinary tables only, not on views, foreign or partitioned tables.';
    END IF;
    IF NOT pg_catalog.pg_has_role((SELECT relowner FROM pg_catalog.pg_class WHERE oid OPERATOR(pg_catalog.=) tbl), 'USAGE') THEN
        RAISE EXCEPTION 'must be owner of table %', tbl USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF @extschema@.openrouter_primary_key_columns(tbl) IS NULL THEN
        RAISE EXCEPTION 'table % has no primary key', tbl
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'Computed columns find the rows an INSERT or UPDATE touched by their primary key.',
                  HINT = 'Add one, e.g. ALTER TABLE ... ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY.';
    END IF;
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
               WHERE a.attrelid OPERATOR(pg_catalog.=) tbl
                 AND a.attname OPERATOR(pg_catalog.=) column_name AND NOT a.attisdropped) THEN
        RAISE EXCEPTION 'column "%" of relation % already exists', column_name, tbl
            USING ERRCODE = 'duplicate_column';
    END IF;

    -- the expression's type and the columns it reads, from a throwaway view
    EXECUTE pg_catalog.format('CREATE TEMPORARY VIEW openrouter_probe AS SELECT (%s) AS value FROM ONLY %s',
                              expression, tbl);
    probe := 'pg_temp.openrouter_probe'::regclass;
    SELECT pg_catalog.format_type(atttypid, atttypmod) INTO column_type
    FROM pg_catalog.pg_attribute
    WHERE attrelid OPERATOR(pg_catalog.=) probe AND attname OPERATOR(pg_catalog.=) 'value';
    SELECT coalesce(pg_catalog.array_agg(DISTINCT a.attname ORDER BY a.attname), '{}') INTO direct
    FROM pg_catalog.pg_rewrite r
    JOIN pg_catalog.pg_depend d ON d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_rewrite'::regclass
                               AND d.objid OPERATOR(pg_catalog.=) r.oid
    JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) d.refobjid
                                  AND a.attnum OPERATOR(pg_catalog.=) d.refobjsubid
    WHERE r.ev_class OPERATOR(pg_catalog.=) probe AND d.refobjid OPERATOR(pg_catalog.=) tbl
      AND d.refobjsubid OPERATOR(pg_catalog.>) 0;
    DROP VIEW pg_temp.openrouter_probe;
    IF column_type OPERATOR(pg_catalog.=) 'unknown' THEN
        column_type := 'text';
    END IF;

    -- transitive inputs: a computed column read by this one brings its own
    SELECT coalesce(pg_catalog.array_agg(DISTINCT c ORDER BY c), '{}') INTO inputs
    FROM (SELECT pg_catalog.unnest(direct) AS c
          UNION SELECT pg_catalog.unnest(cc.input_columns) FROM @extschema@.openrouter_computed_column cc
                WHERE cc.table_oid OPERATOR(pg_catalog.=) tbl
                  AND cc.column_name OPERATOR(pg_catalog.=) ANY (direct)) s;

    SELECT coalesce(pg_catalog.max(position), 0) OPERATOR(pg_catalog.+) 1 INTO pos
    FROM @extschema@.openrouter_computed_column WHERE table_oid OPERATOR(pg_catalog.=) tbl;
    INSERT INTO @extschema@.openrouter_computed_column (table_oid, column_name, expression, on_error, input_columns, position)
    VALUES (tbl, column_name, expression, on_error, inputs, pos);

    EXECUTE pg_catalog.format('ALTER TABLE %s ADD COLUMN %I %s', tbl, column_name, column_type);
    EXECUTE pg_catalog.format(
        'CREATE TRIGGER %I AFTER INSERT ON %s REFERENCING NEW TABLE AS openrouter_new_rows'
        ' FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.openrouter_computed_column_trigger(%L)',
        @extschema@.openrouter_trigger_name(pos, 'ins'), tbl, column_name);
    EXECUTE pg_catalog.format(
        'CREATE TRIGGER %I AFTER UPDATE ON %s REFERENCING OLD TABLE AS openrouter_old_rows'
        ' NEW TABLE AS openrouter_new_rows'
        ' FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.openrouter_computed_column_trigger(%L)',
        @extschema@.openrouter_trigger_name(pos, 'upd'), tbl, column_name);

    -- backfill every existing row, now or with CALL openrouter_backfill()
    IF NOT backfill THEN
        RETURN 0;
    END IF;
    RETURN @extschema@.openrouter_compute_where(tbl, column_name, 'true');
END
$$;

-- the condition a failed (or not yet computed) cell meets
CREATE FUNCTION openrouter_failed_cell_condition(tbl regclass, column_name name) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT CASE WHEN a.atttypid = 'jsonb'::regtype
              THEN format('(%1$I IS NULL OR %1$I OPERATOR(pg_catalog.?) ''error'')', column_name)
              ELSE format('%I IS NULL', column_name) END
  FROM pg_attribute a WHERE a.attrelid = tbl AND a.attname = column_name
$$;

CREATE FUNCTION openrouter_recompute(tbl regclass, column_name name, errors_only boolean DEFAULT false)
RETURNS bigint
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM @extschema@.openrouter_computed_column_definition(tbl, column_name);
    RETURN @extschema@.openrouter_compute_where(tbl, column_name,
        CASE WHEN errors_only THEN @extschema@.openrouter_failed_cell_condition(tbl, column_name)
             ELSE 'true' END);
END
$$;

CREATE FUNCTION openrouter_drop_computed_column(tbl regclass, column_name name)
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    cc record;
    dependent name;
BEGIN
    cc := @extschema@.openrouter_computed_column_definition(tbl, column_name);
    SELECT c.column_name INTO dependent FROM @extschema@.openrouter_computed_column c
    WHERE c.table_oid = tbl AND c.column_name <> cc.column_name
      AND cc.column_name = ANY (c.input_columns) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'computed column "%" depends on column "%"', dependent, column_name
            USING ERRCODE = 'dependent_objects_still_exist',
                  HINT = 'Drop the computed column "' || dependent || '" first.';
    END IF;
    DELETE FROM @extschema@.openrouter_computed_column c WHERE c.table_oid = tbl AND c.column_name = cc.column_name;
    EXECUTE format('DROP TRIGGER IF EXISTS %I ON %s', @extschema@.openrouter_trigger_name(cc.position, 'ins'), tbl);
    EXECUTE format('DROP TRIGGER IF EXISTS %I ON %s', @extschema@.openrouter_trigger_name(cc.position, 'upd'), tbl);
    EXECUTE format('ALTER TABLE %s DROP COLUMN %I', tbl, column_name);
END
$$;

-- A batch job over a big table: compute the pending cells (NULL, or with
-- errors_only also the failed ones) chunk by chunk, committing each chunk,
-- so that a failure, a cancel or a crash loses one chunk at most and a new
-- CALL resumes where the last one stopped.  Rows another run is computing
-- right now are skipped.  Reports progress as it goes.
CREATE PROCEDURE openrouter_backfill(
    tbl regclass, column_name name, chunk_size int DEFAULT 500, errors_only boolean DEFAULT false)
LANGUAGE plpgsql AS $$
DECLARE
    key_columns text;
    pending text;
    total bigint;
    done bigint := 0;
    errors bigint := 0;
    chunk_errors bigint;
    ctids tid[];
    started timestamptz := pg_catalog.clock_timestamp();
    rate numeric;
BEGIN
    PERFORM @extschema@.openrouter_computed_column_definition(tbl, column_name);
    IF chunk_size IS NULL OR chunk_size OPERATOR(pg_catalog.<) 1 THEN
        RAISE EXCEPTION 'chunk_size must be at least 1' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    key_columns := @extschema@.openrouter_primary_key_columns(tbl);
    pending := CASE WHEN errors_only THEN @extschema@.openrouter_failed_cell_condition(tbl, column_name)
                    ELSE pg_catalog.format('%I IS NULL', column_name) END;

    -- the keys of the pending rows, numbered, kept across the commits below
    IF pg_catalog.to_regclass('pg_temp.openrouter_backfill_queue') IS NOT NULL THEN
        DROP TABLE pg_temp.openrouter_backfill_queue;
    END IF;
    EXECUTE pg_catalog.format(
        'CREATE TEMPORARY TABLE openrouter_backfill_queue ON COMMIT PRESERVE ROWS AS'
        ' SELECT pg_catalog.row_number() OVER (ORDER BY %s) AS n, %s FROM ONLY %s WHERE %s',
        key_columns, key_columns, tbl, pending);
    SELECT pg_catalog.count(*) INTO total FROM pg_temp.openrouter_backfill_queue;
    RAISE NOTICE 'openrouter_backfill: % rows of %.% to compute, in chunks of %',
        total, tbl, column_name, chunk_size;
    COMMIT;

    WHILE done OPERATOR(pg_catalog.<) total LOOP
        -- still pending, and not being computed by another run (locked till our commit)
        EXECUTE pg_catalog.format(
            'SELECT pg_catalog.array_agg(ctid) FROM (SELECT t.ctid FROM ONLY %s t'
            ' JOIN pg_temp.openrouter_backfill_queue q USING (%s)'
            ' WHERE q.n OPERATOR(pg_catalog.>) $1 AND q.n OPERATOR(pg_catalog.<=) $2 AND %s'
            ' FOR UPDATE OF t SKIP LOCKED) s', tbl, key_columns, pending)
           INTO ctids USING done, done OPERATOR(pg_catalog.+) chunk_size;
        PERFORM @extschema@.openrouter_compute_rows(tbl, column_name, ctids);
        EXECUTE pg_catalog.format(
            'SELECT pg_catalog.count(*) FROM ONLY %s t JOIN pg_temp.openrouter_backfill_queue q USING (%s)'
            ' WHERE q.n OPERATOR(pg_catalog.>) $1 AND q.n OPERATOR(pg_catalog.<=) $2 AND %s',
            tbl, key_columns, @extschema@.openrouter_failed_cell_condition(tbl, column_name))
           INTO chunk_errors USING done, done OPERATOR(pg_catalog.+) chunk_size;
        done := pg_catalog.int8smaller(total, done OPERATOR(pg_catalog.+) chunk_size);
        errors := errors OPERATOR(pg_catalog.+) chunk_errors;
        COMMIT;
        rate := done::numeric OPERATOR(pg_catalog./) pg_catalog.numeric_larger(
            pg_catalog.date_part('epoch', pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) started)::numeric, 0.001);
        RAISE NOTICE 'openrouter_backfill: % of % rows (%), % errors, % rows/s, about % s left',
            done, total,
            pg_catalog.round(100.0 OPERATOR(pg_catalog.*) done OPERATOR(pg_catalog./) total)::text OPERATOR(pg_catalog.||) '%',
            errors, pg_catalog.round(rate, 1),
            pg_catalog.round((total OPERATOR(pg_catalog.-) done)::numeric OPERATOR(pg_catalog./) pg_catalog.numeric_larger(rate, 0.001));
    END LOOP;
    DROP TABLE pg_temp.openrouter_backfill_queue;
END
$$;

COMMENT ON PROCEDURE openrouter_backfill(regclass, name, int, boolean) IS
$$Computes a computed column's pending cells (NULL ones; with errors_only also the failed ones) chunk by chunk, committing after each chunk: a failure, cancel or crash loses one chunk of answers at most, and calling it again resumes; rows another run is computing are skipped. Reports progress (rows done of total, errors, rate, time left) as NOTICEs. CALL it outside a transaction block, e.g. from pg_cron.$$;

-- Status of the computed columns of the tables the current role owns.
CREATE FUNCTION openrouter_computed_column_status(
    OUT table_name regclass, OUT column_name name, OUT expression text, OUT on_error text,
    OUT input_columns name[], OUT total_rows bigint, OUT error_rows bigint, OUT pending_rows bigint)
RETURNS SETOF record
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    cc record;
    is_jsonb boolean;
BEGIN
    FOR cc IN SELECT d.* FROM @extschema@.openrouter_computed_column d
              JOIN pg_class r ON r.oid = d.table_oid
              WHERE r.relkind = 'r' AND pg_has_role(r.relowner, 'USAGE')
              ORDER BY d.table_oid::text, d.position LOOP
        SELECT atttypid = 'jsonb'::regtype INTO is_jsonb
        FROM pg_attribute WHERE attrelid = cc.table_oid AND attname = cc.column_name;
        table_name := cc.table_oid; column_name := cc.column_name;
        expression := cc.expression; on_error := cc.on_error; input_columns := cc.input_columns;
        EXECUTE format('SELECT count(*), count(*) FILTER (WHERE %s), count(*) FILTER (WHERE %I IS NULL) FROM ONLY %s',
                       CASE WHEN is_jsonb THEN format('%I OPERATOR(pg_catalog.?) ''error''', cc.column_name)
                            ELSE 'false' END,
                       cc.column_name, cc.table_oid)
           INTO total_rows, error_rows, pending_rows;
        RETURN NEXT;
    END LOOP;
END
$$;

CREATE VIEW openrouter_computed_columns AS SELECT * FROM openrouter_computed_column_status();
GRANT SELECT ON openrouter_computed_columns TO PUBLIC;

-- Dropping a table, or one of its computed columns by ALTER TABLE, forgets
-- the column's definition, and drops its triggers when the table remains.
CREATE FUNCTION openrouter_forget_dropped_columns() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    gone record;
BEGIN
    FOR gone IN
        DELETE FROM @extschema@.openrouter_computed_column c
        WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
                          WHERE a.attrelid = c.table_oid AND a.attname = c.column_name
                            AND NOT a.attisdropped)
        RETURNING c.table_oid, c.position
    LOOP
        IF EXISTS (SELECT 1 FROM pg_catalog.pg_class WHERE oid = gone.table_oid) THEN
            EXECUTE format('DROP TRIGGER IF EXISTS %I ON %s',
                           @extschema@.openrouter_trigger_name(gone.position, 'ins'), gone.table_oid::regclass);
            EXECUTE format('DROP TRIGGER IF EXISTS %I ON %s',
                           @extschema@.openrouter_trigger_name(gone.position, 'upd'), gone.table_oid::regclass);
        END IF;
    END LOOP;
END
$$;
CREATE EVENT TRIGGER openrouter_forget_dropped_columns ON sql_drop
    EXECUTE FUNCTION openrouter_forget_dropped_columns();

COMMENT ON FUNCTION openrouter_add_computed_column(regclass, name, text, text, boolean) IS
$$Pixeltable's add_computed_column: adds column_name to the table, typed by the expression (any SQL expression over the row's columns, e.g. openrouter_chat(...) or openrouter_chat(...)->'choices'->0->'message'->>'content'), fills it for every existing row, and from then on computes it for inserted rows and for rows whose input columns change. Every call of one statement runs concurrently (up to openrouter.max_concurrency). on_error 'abort' fails the statement at the first failure; 'ignore' keeps each failure in its cell ({"error": ...} in jsonb columns). The table needs a primary key. With backfill => false existing rows are left NULL, to be filled by CALL openrouter_backfill(), which commits as it goes. Returns the number of rows filled.$$;
COMMENT ON FUNCTION openrouter_recompute(regclass, name, boolean) IS
$$Computes a computed column again, and the computed columns that read it, for every row, or with errors_only only for the cells that failed (NULL, or {"error": ...} in jsonb columns). Returns the number of rows computed.$$;
COMMENT ON FUNCTION openrouter_drop_computed_column(regclass, name) IS
$$Drops a computed column, its triggers and its definition. Refuses while another computed column reads it.$$;
COMMENT ON FUNCTION openrouter_computed_column_guard() IS
$$Internal: only the owner of an ordinary table may define computed columns on it.$$;
COMMENT ON FUNCTION openrouter_trigger_name(int, text) IS
$$Internal: the name of a computed column's INSERT or UPDATE trigger.$$;
COMMENT ON FUNCTION openrouter_compute_rows(regclass, name, tid[]) IS
$$Internal: computes a computed column for the rows with the given ctids, all their requests concurrently.$$;
COMMENT ON FUNCTION openrouter_compute_chunked(regclass, name, tid[]) IS
$$Internal: openrouter_compute_rows over many rows, one chunk at a time.$$;
COMMENT ON FUNCTION openrouter_compute_where(regclass, name, text) IS
$$Internal: computes a computed column, then the computed columns that read it, for the rows matching a condition.$$;
COMMENT ON FUNCTION openrouter_failed_cell_condition(regclass, name) IS
$$Internal: the SQL condition of a failed or not yet computed cell of a computed column.$$;
COMMENT ON FUNCTION openrouter_computed_column_status() IS
$$The computed columns of the tables the current role owns, with their row, error and pending counts (the view openrouter_computed_columns).$$;
COMMENT ON FUNCTION openrouter_computed_column_definition(regclass, name) IS
$$Internal: a computed column's definition; an error (42703) when the column is not a computed column.$$;
COMMENT ON FUNCTION openrouter_primary_key_columns(regclass) IS
$$Internal: the table's primary key columns, quoted and comma-separated.$$;
COMMENT ON FUNCTION openrouter_computed_column_trigger() IS
$$Internal: the statement-level trigger of a computed column: computes the rows an INSERT added or an UPDATE changed the inputs of.$$;
COMMENT ON FUNCTION openrouter_forget_dropped_columns() IS
$$Internal (event trigger): forgets the definitions, and drops the triggers, of computed columns whose table or column was dropped.$$;
