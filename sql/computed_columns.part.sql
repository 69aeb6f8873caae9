
-- ---- computed columns (Pixeltable's add_computed_column) ----

-- One row per computed column.  Dumped with the database (its definitions
-- must survive a restore); readable by everyone, like pg_attrdef; a role
-- may change only the rows of tables it owns.
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
ALTER TABLE openrouter_computed_column ENABLE ROW LEVEL SECURITY;
CREATE POLICY owner_only ON openrouter_computed_column
    USING (pg_catalog.pg_has_role((SELECT relowner FROM pg_catalog.pg_class WHERE oid = table_oid), 'USAGE'));
COMMENT ON TABLE openrouter_computed_column IS
'The computed columns made by openrouter_add_computed_column(): expression, on_error, and the columns it reads (transitively).';

-- the table's primary key columns, quoted and comma-separated
CREATE FUNCTION openrouter_primary_key_columns(tbl regclass) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
  SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY k.n)
  FROM pg_index i
  CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n)
  JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
  WHERE i.indrelid = tbl AND i.indisprimary
$$;

-- the names of a computed column's triggers: creation order first, so that
-- they fire in dependency order (a column can only read earlier ones)
CREATE FUNCTION openrouter_trigger_name(creation_order int, column_name name, event text) RETURNS name
LANGUAGE sql IMMUTABLE AS $$
  SELECT (left(format('openrouter_cc_%s_%s', lpad(creation_order::text, 4, '0'), column_name), 59)
          || '_' || event)::name
$$;

-- Compute one computed column for the given rows: fetch every answer
-- concurrently, then write them.  Rows are given by ctid, within the
-- calling statement's transaction.
CREATE FUNCTION openrouter_compute_rows(tbl regclass, column_name name, ctids tid[])
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    cc record;
    saved text := coalesce(current_setting('openrouter.on_error', true), '');
    n bigint;
BEGIN
    SELECT * INTO STRICT cc FROM @extschema@.openrouter_computed_column c
    WHERE c.table_oid = tbl AND c.column_name = openrouter_compute_rows.column_name;
    IF ctids IS NULL OR cardinality(ctids) = 0 THEN
        RETURN 0;
    END IF;
    PERFORM set_config('openrouter.on_error', cc.on_error, true);
    PERFORM @extschema@.openrouter_prefetch(format('SELECT (%s) FROM %s WHERE ctid = ANY (%L::tid[])',
                                       cc.expression, tbl, ctids));
    EXECUTE format('UPDATE %s SET %I = (%s) WHERE ctid = ANY ($1)',
                   tbl, cc.column_name, cc.expression) USING ctids;
    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM set_config('openrouter.on_error', saved, true);
    RETURN n;
END
$$;

-- Compute a column for a set of rows (a query returning ctids), in chunks.
CREATE FUNCTION openrouter_compute_where(tbl regclass, column_name name, row_filter text)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    all_ctids tid[];
    chunk int := greatest(1000, 10 * coalesce(current_setting('openrouter.max_concurrency', true), '32')::int);
    done bigint := 0;
BEGIN
    EXECUTE format('SELECT array_agg(ctid ORDER BY ctid) FROM %s WHERE %s', tbl, row_filter)
       INTO all_ctids;
    FOR i IN 1 .. coalesce(cardinality(all_ctids), 0) BY chunk LOOP
        done := done + @extschema@.openrouter_compute_rows(tbl, column_name, all_ctids[i : i + chunk - 1]);
    END LOOP;
    RETURN done;
END
$$;

-- The trigger behind every computed column: after an INSERT, compute the
-- new rows; after an UPDATE, the rows whose input columns changed.  Our own
-- UPDATEs (trigger depth > 1) are left alone: later computed columns have
-- triggers of their own, which fire after this one.
CREATE FUNCTION openrouter_computed_column_trigger() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    cc record;
    key_columns text;
    changed text;
    ctids tid[];
BEGIN
    IF pg_trigger_depth() > 1 THEN
        RETURN NULL;
    END IF;
    SELECT * INTO cc FROM @extschema@.openrouter_computed_column c
    WHERE c.table_oid = TG_RELID AND c.column_name = TG_ARGV[0];
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    key_columns := @extschema@.openrouter_primary_key_columns(TG_RELID);

    IF TG_OP = 'INSERT' THEN
        EXECUTE format('SELECT array_agg(t.ctid) FROM %s t JOIN openrouter_new_rows n USING (%s)',
                       TG_RELID::regclass, key_columns) INTO ctids;
    ELSE
        SELECT string_agg(format('n.%1$I::text IS DISTINCT FROM o.%1$I::text', c), ' OR ')
          INTO changed FROM unnest(cc.input_columns) AS c;
        EXECUTE format('SELECT array_agg(t.ctid) FROM %s t JOIN openrouter_new_rows n USING (%s)'
                       ' JOIN openrouter_old_rows o USING (%s) WHERE %s',
                       TG_RELID::regclass, key_columns, key_columns, coalesce(changed, 'false'))
           INTO ctids;
    END IF;
    PERFORM @extschema@.openrouter_compute_rows(TG_RELID, cc.column_name, ctids);
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
    IF on_error IS NULL OR on_error NOT IN ('abort', 'ignore') THEN
        RAISE EXCEPTION 'invalid on_error value "%"', on_error
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass ''abort'' to fail at the first error or ''ignore'' to keep each failure in its cell.';
    END IF;
    IF (SELECT relkind FROM pg_class WHERE oid = tbl) <> 'r' THEN
        RAISE EXCEPTION '% is not an ordinary table', tbl
            USING ERRCODE = 'wrong_object_type',
                  DETAIL = 'Computed columns are supported on ordinary tables only, not on views, foreign or partitioned tables.';
    END IF;
    IF NOT pg_has_role((SELECT relowner FROM pg_class WHERE oid = tbl), 'USAGE') THEN
        RAISE EXCEPTION 'must be owner of table %', tbl USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF @extschema@.openrouter_primary_key_columns(tbl) IS NULL THEN
        RAISE EXCEPTION 'table % has no primary key', tbl
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'Computed columns find the rows an INSERT or UPDATE touched by their primary key.',
                  HINT = 'Add one, e.g. ALTER TABLE ... ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY.';
    END IF;
    IF EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = tbl AND attname = column_name AND NOT attisdropped) THEN
        RAISE EXCEPTION 'column "%" of relation % already exists', column_name, tbl
            USING ERRCODE = 'duplicate_column';
    END IF;

    -- the expression's type and the columns it reads, from a throwaway view
    EXECUTE format('CREATE TEMPORARY VIEW openrouter_probe AS SELECT (%s) AS value FROM %s',
                   expression, tbl);
    probe := 'pg_temp.openrouter_probe'::regclass;
    SELECT format_type(atttypid, atttypmod) INTO column_type
    FROM pg_attribute WHERE attrelid = probe AND attname = 'value';
    SELECT coalesce(array_agg(DISTINCT a.attname ORDER BY a.attname), '{}') INTO direct
    FROM pg_rewrite r
    JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
    JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
    WHERE r.ev_class = probe AND d.refobjid = tbl AND d.refobjsubid > 0;
    DROP VIEW pg_temp.openrouter_probe;
    IF column_type = 'unknown' THEN
        column_type := 'text';
    END IF;

    -- transitive inputs: a computed column read by this one brings its own
    SELECT coalesce(array_agg(DISTINCT c ORDER BY c), '{}') INTO inputs
    FROM (SELECT unnest(direct) AS c
          UNION SELECT unnest(cc.input_columns) FROM @extschema@.openrouter_computed_column cc
                WHERE cc.table_oid = tbl AND cc.column_name = ANY (direct)) s;

    SELECT coalesce(max(position), 0) + 1 INTO pos
    FROM @extschema@.openrouter_computed_column WHERE table_oid = tbl;
    INSERT INTO @extschema@.openrouter_computed_column (table_oid, column_name, expression, on_error, input_columns, position)
    VALUES (tbl, column_name, expression, on_error, inputs, pos);

    EXECUTE format('ALTER TABLE %s ADD COLUMN %I %s', tbl, column_name, column_type);
    EXECUTE format('CREATE TRIGGER %I AFTER INSERT ON %s REFERENCING NEW TABLE AS openrouter_new_rows'
                   ' FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.openrouter_computed_column_trigger(%L)',
                   @extschema@.openrouter_trigger_name(pos, column_name, 'ins'), tbl, column_name);
    EXECUTE format('CREATE TRIGGER %I AFTER UPDATE ON %s REFERENCING OLD TABLE AS openrouter_old_rows'
                   ' NEW TABLE AS openrouter_new_rows'
                   ' FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.openrouter_computed_column_trigger(%L)',
                   @extschema@.openrouter_trigger_name(pos, column_name, 'upd'), tbl, column_name);

    -- backfill every existing row, now or with CALL openrouter_backfill()
    IF NOT backfill THEN
        RETURN 0;
    END IF;
    RETURN @extschema@.openrouter_compute_where(tbl, column_name, 'true');
END
$$;

CREATE FUNCTION openrouter_recompute(tbl regclass, column_name name, errors_only boolean DEFAULT false)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    is_jsonb boolean;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM @extschema@.openrouter_computed_column c
                   WHERE c.table_oid = tbl AND c.column_name = openrouter_recompute.column_name) THEN
        RAISE EXCEPTION 'column "%" of relation % is not a computed column', column_name, tbl
            USING ERRCODE = 'undefined_column',
                  HINT = 'See the view openrouter_computed_columns.';
    END IF;
    SELECT atttypid = 'jsonb'::regtype INTO is_jsonb
    FROM pg_attribute WHERE attrelid = tbl AND attname = column_name;
    RETURN @extschema@.openrouter_compute_where(tbl, column_name,
        CASE WHEN NOT errors_only THEN 'true'
             WHEN is_jsonb THEN format('%1$I IS NULL OR %1$I ? ''error''', column_name)
             ELSE format('%I IS NULL', column_name) END);
END
$$;

CREATE FUNCTION openrouter_drop_computed_column(tbl regclass, column_name name)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    cc record;
    dependent name;
BEGIN
    SELECT * INTO cc FROM @extschema@.openrouter_computed_column c
    WHERE c.table_oid = tbl AND c.column_name = openrouter_drop_computed_column.column_name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'column "%" of relation % is not a computed column', column_name, tbl
            USING ERRCODE = 'undefined_column';
    END IF;
    SELECT c.column_name INTO dependent FROM @extschema@.openrouter_computed_column c
    WHERE c.table_oid = tbl AND c.column_name <> cc.column_name
      AND cc.column_name = ANY (c.input_columns) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'computed column "%" depends on column "%"', dependent, column_name
            USING ERRCODE = 'dependent_objects_still_exist',
                  HINT = 'Drop the computed column "' || dependent || '" first.';
    END IF;
    EXECUTE format('DROP TRIGGER IF EXISTS %I ON %s', @extschema@.openrouter_trigger_name(cc.position, cc.column_name, 'ins'), tbl);
    EXECUTE format('DROP TRIGGER IF EXISTS %I ON %s', @extschema@.openrouter_trigger_name(cc.position, cc.column_name, 'upd'), tbl);
    DELETE FROM @extschema@.openrouter_computed_column c WHERE c.table_oid = tbl AND c.column_name = cc.column_name;
    EXECUTE format('ALTER TABLE %s DROP COLUMN %I', tbl, column_name);
END
$$;

-- A batch job over a big table: compute the pending cells (NULL, or with
-- errors_only the failed ones) chunk by chunk, committing each chunk, so that
-- a failure, a cancel or a crash loses one chunk at most and a new CALL
-- resumes where the last one stopped.  Reports progress as it goes.
CREATE PROCEDURE openrouter_backfill(
    tbl regclass, column_name name, chunk_size int DEFAULT 500, errors_only boolean DEFAULT false)
LANGUAGE plpgsql AS $$
DECLARE
    cc record;
    key_columns text;
    is_jsonb boolean;
    pending_filter text;
    total bigint;
    done bigint := 0;
    errors bigint := 0;
    chunk_errors bigint;
    ctids tid[];
    started timestamptz := clock_timestamp();
    rate numeric;
BEGIN
    SELECT * INTO cc FROM @extschema@.openrouter_computed_column c
    WHERE c.table_oid = tbl AND c.column_name = openrouter_backfill.column_name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'column "%" of relation % is not a computed column', column_name, tbl
            USING ERRCODE = 'undefined_column', HINT = 'See the view openrouter_computed_columns.';
    END IF;
    IF chunk_size IS NULL OR chunk_size < 1 THEN
        RAISE EXCEPTION 'chunk_size must be at least 1' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    key_columns := @extschema@.openrouter_primary_key_columns(tbl);
    SELECT atttypid = 'jsonb'::regtype INTO is_jsonb
    FROM pg_attribute WHERE attrelid = tbl AND attname = column_name;
    pending_filter := CASE WHEN errors_only AND is_jsonb THEN format('%1$I IS NULL OR %1$I ? ''error''', column_name)
                           ELSE format('%I IS NULL', column_name) END;

    -- the keys of the pending rows, numbered, kept across the commits below
    IF to_regclass('pg_temp.openrouter_backfill_queue') IS NOT NULL THEN
        DROP TABLE pg_temp.openrouter_backfill_queue;
    END IF;
    EXECUTE format('CREATE TEMPORARY TABLE openrouter_backfill_queue ON COMMIT PRESERVE ROWS AS'
                   ' SELECT row_number() OVER (ORDER BY %s) AS n, %s FROM %s WHERE %s',
                   key_columns, key_columns, tbl, pending_filter);
    SELECT count(*) INTO total FROM pg_temp.openrouter_backfill_queue;
    RAISE NOTICE 'openrouter_backfill: % rows of %.% to compute, in chunks of %',
        total, tbl, column_name, chunk_size;
    COMMIT;

    WHILE done < total LOOP
        EXECUTE format('SELECT array_agg(t.ctid) FROM %s t JOIN pg_temp.openrouter_backfill_queue q USING (%s)'
                       ' WHERE q.n > $1 AND q.n <= $2', tbl, key_columns)
           INTO ctids USING done, done + chunk_size;
        PERFORM @extschema@.openrouter_compute_rows(tbl, column_name, ctids);
        EXECUTE format('SELECT count(*) FROM %s WHERE ctid = ANY ($1) AND (%s)', tbl,
                       CASE WHEN is_jsonb THEN format('%1$I IS NULL OR %1$I ? ''error''', column_name)
                            ELSE format('%I IS NULL', column_name) END)
           INTO chunk_errors USING ctids;
        done := least(total, done + chunk_size);
        errors := errors + chunk_errors;
        COMMIT;
        rate := done / greatest(extract(epoch FROM clock_timestamp() - started), 0.001);
        RAISE NOTICE 'openrouter_backfill: % of % rows (%), % errors, % rows/s, about % s left',
            done, total, round(100.0 * done / total) || '%', errors, round(rate, 1),
            round((total - done) / greatest(rate, 0.001));
    END LOOP;
    DROP TABLE pg_temp.openrouter_backfill_queue;
END
$$;

COMMENT ON PROCEDURE openrouter_backfill(regclass, name, int, boolean) IS
$$Computes a computed column's pending cells (NULL ones; with errors_only also the failed ones) chunk by chunk, committing after each chunk: a failure, cancel or crash loses one chunk of answers at most, and calling it again resumes. Reports progress (rows done of total, errors, rate, time left) as NOTICEs. CALL it outside a transaction block, e.g. from pg_cron.$$;

-- Status of every computed column the current role can see.
CREATE FUNCTION openrouter_computed_column_status(
    OUT table_name regclass, OUT column_name name, OUT expression text, OUT on_error text,
    OUT input_columns name[], OUT total_rows bigint, OUT error_rows bigint, OUT pending_rows bigint)
RETURNS SETOF record
LANGUAGE plpgsql STABLE AS $$
DECLARE
    cc record;
    is_jsonb boolean;
BEGIN
    FOR cc IN SELECT * FROM @extschema@.openrouter_computed_column ORDER BY table_oid::text, position LOOP
        SELECT atttypid = 'jsonb'::regtype INTO is_jsonb
        FROM pg_attribute WHERE attrelid = cc.table_oid AND attname = cc.column_name;
        table_name := cc.table_oid; column_name := cc.column_name;
        expression := cc.expression; on_error := cc.on_error; input_columns := cc.input_columns;
        EXECUTE format('SELECT count(*), count(*) FILTER (WHERE %s), count(*) FILTER (WHERE %I IS NULL) FROM %s',
                       CASE WHEN is_jsonb THEN format('%I ? ''error''', cc.column_name) ELSE 'false' END,
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
        RETURNING c.table_oid, c.column_name, c.position
    LOOP
        IF EXISTS (SELECT 1 FROM pg_catalog.pg_class WHERE oid = gone.table_oid) THEN
            EXECUTE format('DROP TRIGGER IF EXISTS %I ON %s',
                           @extschema@.openrouter_trigger_name(gone.position, gone.column_name, 'ins'),
                           gone.table_oid::regclass);
            EXECUTE format('DROP TRIGGER IF EXISTS %I ON %s',
                           @extschema@.openrouter_trigger_name(gone.position, gone.column_name, 'upd'),
                           gone.table_oid::regclass);
        END IF;
    END LOOP;
END
$$;
CREATE EVENT TRIGGER openrouter_forget_dropped_columns ON sql_drop
    EXECUTE FUNCTION openrouter_forget_dropped_columns();

COMMENT ON FUNCTION openrouter_add_computed_column(regclass, name, text, text, boolean) IS
$$Pixeltable's add_computed_column: adds column_name to the table, typed by the expression (any SQL expression over the row's columns, e.g. openrouter_chat(...) or openrouter_chat(...)->'choices'->0->'message'->>'content'), fills it for every existing row, and from then on computes it for inserted rows and for rows whose input columns change. Every call of one statement runs concurrently (up to openrouter.max_concurrency). on_error 'abort' fails the statement at the first failure; 'ignore' keeps each failure in its cell ({"error": ...} in jsonb columns). The table needs a primary key. With backfill => false existing rows are left NULL, to be filled by CALL openrouter_backfill(), which commits as it goes. Returns the number of rows filled.$$;
COMMENT ON FUNCTION openrouter_recompute(regclass, name, boolean) IS
$$Computes a computed column again for every row, or with errors_only only for the cells that failed (NULL, or {"error": ...} in jsonb columns). Returns the number of rows computed.$$;
COMMENT ON FUNCTION openrouter_drop_computed_column(regclass, name) IS
$$Drops a computed column, its triggers and its definition. Refuses while another computed column reads it.$$;
COMMENT ON FUNCTION openrouter_trigger_name(int, name, text) IS
$$Internal: the name of a computed column's INSERT or UPDATE trigger.$$;
COMMENT ON FUNCTION openrouter_compute_rows(regclass, name, tid[]) IS
$$Internal: computes a computed column for the rows with the given ctids, all their requests concurrently.$$;
COMMENT ON FUNCTION openrouter_compute_where(regclass, name, text) IS
$$Internal: computes a computed column for the rows matching a condition, in chunks.$$;
COMMENT ON FUNCTION openrouter_computed_column_status() IS
$$The computed columns the current role can see, with their row, error and pending counts (the view openrouter_computed_columns).$$;
