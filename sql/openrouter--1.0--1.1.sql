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

-- Status of the computed columns of the tables the current role owns (a row
-- whose table or column is gone, or is not an ordinary table, is left out).
CREATE OR REPLACE FUNCTION openrouter_computed_column_status(
    OUT table_name regclass, OUT column_name name, OUT expression text, OUT on_error text,
    OUT input_columns name[], OUT total_rows bigint, OUT error_rows bigint, OUT pending_rows bigint)
RETURNS SETOF record
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    cc record;
BEGIN
    FOR cc IN SELECT d.*, a.atttypid = 'pg_catalog.jsonb'::pg_catalog.regtype AS is_jsonb
              FROM @extschema@.openrouter_computed_column d
              JOIN pg_class r ON r.oid = d.table_oid
              JOIN pg_attribute a ON a.attrelid = r.oid AND a.attname = d.column_name
                                 AND NOT a.attisdropped
              WHERE r.relkind = 'r' AND pg_has_role(r.relowner, 'USAGE')
              ORDER BY d.table_oid::text, d.position LOOP
        table_name := cc.table_oid; column_name := cc.column_name;
        expression := cc.expression; on_error := cc.on_error; input_columns := cc.input_columns;
        IF cc.whole_row THEN
            input_columns := array['*'::name];
        END IF;
        EXECUTE format('SELECT count(*), count(*) FILTER (WHERE %s), count(*) FILTER (WHERE %I IS NULL) FROM ONLY %s',
                       CASE WHEN cc.is_jsonb THEN format('%I OPERATOR(pg_catalog.?) ''error''', cc.column_name)
                            ELSE 'false' END,
                       cc.column_name, cc.table_oid)
           INTO total_rows, error_rows, pending_rows;
        RETURN NEXT;
    END LOOP;
END
$$;

COMMENT ON VIEW openrouter_computed_columns IS
'The computed columns of the tables the current role owns, with their row, error and pending counts.';
COMMENT ON COLUMN openrouter_computed_columns.table_name IS 'The table.';
COMMENT ON COLUMN openrouter_computed_columns.column_name IS 'The computed column.';
COMMENT ON COLUMN openrouter_computed_columns.expression IS 'Its expression, as bound when it was defined.';
COMMENT ON COLUMN openrouter_computed_columns.on_error IS 'abort or ignore.';
COMMENT ON COLUMN openrouter_computed_columns.input_columns IS
'The columns it reads, directly or through other computed columns; {*} when it reads the whole row.';
COMMENT ON COLUMN openrouter_computed_columns.total_rows IS 'Rows of the table.';
COMMENT ON COLUMN openrouter_computed_columns.error_rows IS 'Cells holding {"error": ...} (jsonb columns).';
COMMENT ON COLUMN openrouter_computed_columns.pending_rows IS 'Cells still NULL (not computed yet, or failed in a non-jsonb column).';

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
