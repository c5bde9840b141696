-- History: one row per content version of every data row, written by triggers in the same
-- transaction as the change. A data table `s.t` gets `s.t_history` (its key and typed
-- columns and `raw`, with `_valid_from`, `_valid_to`, `_run_id`, `_deleted`) and
-- `s.t_as_of(timestamptz)`. The engine's contract makes this exact: `_changed_at` moves
-- exactly when a row's content changes (insert, content update, reappearance after a soft
-- delete), an unchanged sync never writes the row, a soft delete sets only `_deleted_at` and
-- `_run_id`, and filling the hash of a pre-hash row moves nothing.

CREATE TABLE tributary.history_enabled (
    schema     text PRIMARY KEY,
    enabled    boolean NOT NULL,
    changed_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
COMMENT ON TABLE tributary.history_enabled IS 'Whether the history tables of a source''s schema are written (sources.<name>.history), as its latest pass set it; a schema without a row keeps history';
COMMENT ON COLUMN tributary.history_enabled.schema IS 'Source name = its schema';
COMMENT ON COLUMN tributary.history_enabled.enabled IS 'History kept (true) or not (false)';
COMMENT ON COLUMN tributary.history_enabled.changed_at IS 'When a pass last switched it: changes made while it was off have no versions of their own';

-- Whether the history of `schema` is kept: read once per statement by the triggers.
CREATE FUNCTION tributary.history_on(schema text) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT enabled FROM tributary.history_enabled h WHERE h.schema = $1), true)
$$;
COMMENT ON FUNCTION tributary.history_on(text) IS 'Whether the history tables of the schema are written (no row: yes)';

-- The parts of a data table its history needs, read from the catalogue: the key columns in
-- key order, and the content columns (key, typed columns, raw) in table order.
CREATE FUNCTION tributary.history_columns(tbl regclass, OUT key_columns text[], OUT content_columns text[])
LANGUAGE sql STABLE AS $$
    SELECT
        (SELECT array_agg(quote_ident(a.attname) ORDER BY k.n)
         FROM pg_index i
         CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n)
         JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
         WHERE i.indrelid = tbl AND i.indisprimary),
        (SELECT array_agg(quote_ident(a.attname) ORDER BY a.attnum)
         FROM pg_attribute a
         WHERE a.attrelid = tbl AND a.attnum > 0 AND NOT a.attisdropped
           AND a.attname NOT IN ('_inserted_at', '_changed_at', '_deleted_at', '_run_id', '_hash'))
$$;
COMMENT ON FUNCTION tributary.history_columns(regclass) IS 'Key columns and content columns (key, typed columns, raw) of a data table, quoted, for its history';

-- Brings the history of a data table up to its current rows: an open version whose row
-- changed or vanished since is closed (at the row's `_changed_at`, or at its `_deleted_at`
-- when the same content was soft-deleted), and every row without a version of its current
-- content gets one (closed, `_deleted`, when the row is soft-deleted). On an empty history
-- this is the first version per row; after the history was switched off, it catches up
-- (the versions between are lost).
CREATE FUNCTION tributary.history_catch_up(tbl regclass) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    hist text;
    cols record;
    content text;
    match text;
    added bigint;
BEGIN
    SELECT format('%I.%I', n.nspname, c.relname || '_history') INTO hist
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = tbl;
    SELECT * INTO cols FROM tributary.history_columns(tbl);
    content := array_to_string(cols.content_columns, ', ');
    SELECT string_agg(format('h.%1$s = t.%1$s', c), ' AND ') INTO match FROM unnest(cols.key_columns) c;
    EXECUTE format(
        'UPDATE %1$s h SET _valid_to = CASE WHEN t._changed_at = h._valid_from THEN t._deleted_at '
        '    ELSE greatest(t._changed_at, h._valid_from) END, '
        '  _deleted = (t._changed_at = h._valid_from) '
        'FROM %2$s t WHERE %3$s AND h._valid_to IS NULL '
        '  AND (t._changed_at <> h._valid_from OR t._deleted_at IS NOT NULL)',
        hist, tbl, match);
    EXECUTE format(
        'INSERT INTO %1$s (%3$s, _valid_from, _valid_to, _run_id, _deleted) '
        'SELECT %4$s, t._changed_at, t._deleted_at, CASE WHEN t._deleted_at IS NULL THEN t._run_id END, '
        '       t._deleted_at IS NOT NULL '
        'FROM %2$s t WHERE NOT EXISTS (SELECT 1 FROM %1$s h WHERE %5$s AND h._valid_from = t._changed_at)',
        hist, tbl, content,
        (SELECT string_agg('t.' || c, ', ') FROM unnest(cols.content_columns) c),
        match);
    GET DIAGNOSTICS added = ROW_COUNT;
    RETURN added;
END
$$;
COMMENT ON FUNCTION tributary.history_catch_up(regclass) IS 'Brings a data table''s history up to its current rows (first versions; or after the history was switched off); returns the versions added';

-- Gives data table `tbl` its history: the table `<tbl>_history`, the triggers that write it,
-- `<tbl>_as_of(timestamptz)`, and the first version of every row. A migration adding a
-- data table calls it once.
CREATE FUNCTION tributary.enable_history(tbl regclass) RETURNS void
LANGUAGE plpgsql AS $fn$
DECLARE
    schema_name text;
    table_name text;
    hist text;
    cols record;
    key_list text;
    content text;
    content_n text;
    set_content text;
    match_n text;
    match_on text;
    match_c text;
    definition text;
    col record;
BEGIN
    SELECT n.nspname, c.relname INTO schema_name, table_name
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = tbl;
    hist := format('%I.%I', schema_name, table_name || '_history');
    SELECT * INTO cols FROM tributary.history_columns(tbl);
    IF cols.key_columns IS NULL THEN
        RAISE EXCEPTION 'enable_history: % has no primary key', tbl;
    END IF;
    key_list := array_to_string(cols.key_columns, ', ');
    content := array_to_string(cols.content_columns, ', ');
    SELECT string_agg('n.' || c, ', ') INTO content_n FROM unnest(cols.content_columns) c;
    SELECT string_agg(format('%1$s = EXCLUDED.%1$s', c), ', ') INTO set_content
    FROM unnest(cols.content_columns) c;
    SELECT string_agg(format('h.%1$s = n.%1$s', c), ' AND ') INTO match_n FROM unnest(cols.key_columns) c;
    SELECT string_agg(format('o.%1$s = n.%1$s', c), ' AND ') INTO match_on FROM unnest(cols.key_columns) c;
    SELECT string_agg(format('h.%1$s = c.%1$s', c), ' AND ') INTO match_c FROM unnest(cols.key_columns) c;

    -- The table: content columns with the data table's types (key columns NOT NULL).
    SELECT string_agg(format('%I %s%s', a.attname, format_type(a.atttypid, a.atttypmod),
                             CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END),
                      ', ' ORDER BY a.attnum)
    INTO definition
    FROM pg_attribute a
    WHERE a.attrelid = tbl AND quote_ident(a.attname) = ANY (cols.content_columns) AND a.attnum > 0
      AND NOT a.attisdropped;
    EXECUTE format(
        'CREATE TABLE %s (%s, _valid_from timestamptz NOT NULL, _valid_to timestamptz, '
        '_run_id bigint, _deleted boolean NOT NULL DEFAULT false, PRIMARY KEY (%s, _valid_from))',
        hist, definition, key_list);
    EXECUTE format('CREATE UNIQUE INDEX %I ON %s (%s) WHERE _valid_to IS NULL',
                   table_name || '_history_open', hist, key_list);
    EXECUTE format('COMMENT ON INDEX %I.%I IS %L', schema_name, table_name || '_history_open',
                   'The open (current) version of each key: at most one');
    EXECUTE format('COMMENT ON TABLE %s IS %L', hist, format(
        'Every content version of %s.%s: one row per version, written in the same transaction as the change; '
        'the row as it was from _valid_from until _valid_to. %I.%I(timestamptz) gives the rows at a time',
        schema_name, table_name, schema_name, table_name || '_as_of'));
    FOR col IN
        SELECT a.attname, col_description(tbl, a.attnum) AS comment
        FROM pg_attribute a
        WHERE a.attrelid = tbl AND quote_ident(a.attname) = ANY (cols.content_columns) AND a.attnum > 0
          AND NOT a.attisdropped
    LOOP
        EXECUTE format('COMMENT ON COLUMN %s.%I IS %L', hist, col.attname, col.comment);
    END LOOP;
    EXECUTE format('COMMENT ON COLUMN %s._valid_from IS %L', hist,
        'When tributary stored this content (the data row''s _changed_at then)');
    EXECUTE format('COMMENT ON COLUMN %s._valid_to IS %L', hist,
        'When this content stopped being current (the next version''s _valid_from, or the soft delete); NULL for the current version');
    EXECUTE format('COMMENT ON COLUMN %s._run_id IS %L', hist,
        'The run (tributary.sync_runs.id) that stored this content; NULL for a version the history migration made of a row already soft-deleted');
    EXECUTE format('COMMENT ON COLUMN %s._deleted IS %L', hist,
        'The version ended because the row vanished from the source (soft delete at _valid_to)');

    -- INSERT: a new open version (an existing open one of the key, which only a data row
    -- removed by hand can leave, is closed first).
    EXECUTE format($f$
        CREATE FUNCTION %1$s() RETURNS trigger LANGUAGE plpgsql AS $t$
        BEGIN
            IF NOT tributary.history_on(%2$L) OR NOT EXISTS (SELECT 1 FROM new_rows) THEN
                RETURN NULL;
            END IF;
            UPDATE %3$s h SET _valid_to = n._changed_at
            FROM new_rows n WHERE %4$s AND h._valid_to IS NULL AND h._valid_from < n._changed_at;
            INSERT INTO %3$s (%5$s, _valid_from, _valid_to, _run_id, _deleted)
            SELECT %6$s, n._changed_at, n._deleted_at, n._run_id, n._deleted_at IS NOT NULL FROM new_rows n
            ON CONFLICT (%7$s, _valid_from) DO UPDATE SET %8$s, _valid_to = EXCLUDED._valid_to,
                _run_id = EXCLUDED._run_id, _deleted = EXCLUDED._deleted;
            RETURN NULL;
        END
        $t$$f$,
        format('%I.%I', schema_name, table_name || '_history_insert'), schema_name, hist,
        match_n, content, content_n, key_list, set_content);
    -- UPDATE: a content change (`_changed_at` moved, or within one transaction another hash)
    -- closes the open version at the new `_changed_at` and opens one; a soft delete closes
    -- it at `_deleted_at`, `_deleted`; anything else (a hash filled in) writes nothing.
    EXECUTE format($f$
        CREATE FUNCTION %1$s() RETURNS trigger LANGUAGE plpgsql AS $t$
        BEGIN
            IF NOT tributary.history_on(%2$L) OR NOT EXISTS (SELECT 1 FROM new_rows) THEN
                RETURN NULL;
            END IF;
            UPDATE %3$s h SET
                _valid_to = CASE WHEN c.changed THEN c._changed_at ELSE c._deleted_at END,
                _deleted = NOT c.changed
            FROM (SELECT n.*, (n._changed_at IS DISTINCT FROM o._changed_at
                               OR (o._hash IS NOT NULL AND n._hash IS NOT NULL AND n._hash <> o._hash)
                               OR (o._deleted_at IS NOT NULL AND n._deleted_at IS NULL)) AS changed,
                         (o._deleted_at IS NULL AND n._deleted_at IS NOT NULL) AS vanished
                  FROM old_rows o JOIN new_rows n ON %4$s) c
            WHERE %5$s AND h._valid_to IS NULL
              AND ((c.changed AND h._valid_from < c._changed_at) OR (NOT c.changed AND c.vanished));
            INSERT INTO %3$s (%6$s, _valid_from, _run_id)
            SELECT %7$s, n._changed_at, n._run_id
            FROM old_rows o JOIN new_rows n ON %4$s
            WHERE n._deleted_at IS NULL
              AND (n._changed_at IS DISTINCT FROM o._changed_at
                   OR (o._hash IS NOT NULL AND n._hash IS NOT NULL AND n._hash <> o._hash)
                   OR o._deleted_at IS NOT NULL)
            ON CONFLICT (%8$s, _valid_from) DO UPDATE SET %9$s, _valid_to = NULL,
                _run_id = EXCLUDED._run_id, _deleted = false;
            RETURN NULL;
        END
        $t$$f$,
        format('%I.%I', schema_name, table_name || '_history_update'), schema_name, hist,
        match_on, match_c, content, content_n, key_list, set_content);
    EXECUTE format('COMMENT ON FUNCTION %I.%I() IS %L', schema_name, table_name || '_history_insert',
        format('Trigger of %s: an inserted row opens a version in %s', tbl, hist));
    EXECUTE format('COMMENT ON FUNCTION %I.%I() IS %L', schema_name, table_name || '_history_update',
        format('Trigger of %s: a content change closes the open version in %s and opens one; a soft delete closes it', tbl, hist));
    EXECUTE format('CREATE TRIGGER history_insert AFTER INSERT ON %s REFERENCING NEW TABLE AS new_rows '
                   'FOR EACH STATEMENT EXECUTE FUNCTION %I.%I()', tbl, schema_name, table_name || '_history_insert');
    EXECUTE format('CREATE TRIGGER history_update AFTER UPDATE ON %s REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows '
                   'FOR EACH STATEMENT EXECUTE FUNCTION %I.%I()', tbl, schema_name, table_name || '_history_update');

    -- Time travel.
    EXECUTE format($f$
        CREATE FUNCTION %1$s(at timestamptz) RETURNS SETOF %2$s LANGUAGE sql STABLE AS
        'SELECT * FROM %2$s WHERE _valid_from <= at AND (_valid_to IS NULL OR _valid_to > at)'
        $f$, format('%I.%I', schema_name, table_name || '_as_of'), hist);
    EXECUTE format('COMMENT ON FUNCTION %I.%I(timestamptz) IS %L', schema_name, table_name || '_as_of',
        format('The rows of %s.%s as tributary held them at the given time (the versions valid then; soft-deleted rows not included), e.g. SELECT * FROM %I.%I(''2026-11-30'')',
               schema_name, table_name, schema_name, table_name || '_as_of'));

    PERFORM tributary.history_catch_up(tbl);
END
$fn$;
COMMENT ON FUNCTION tributary.enable_history(regclass) IS 'Gives a data table its history table, the triggers writing it, its _as_of(timestamptz) function and the first version of each row; a migration adding a data table calls it once';

-- Sets whether the history of a source's schema is kept; switched back on, each table's
-- history catches up with the rows (changes made while it was off have no versions).
CREATE FUNCTION tributary.set_history(schema text, enabled boolean) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    was boolean;
    tbl regclass;
BEGIN
    SELECT h.enabled INTO was FROM tributary.history_enabled h WHERE h.schema = set_history.schema;
    IF was IS NOT DISTINCT FROM set_history.enabled THEN
        RETURN;
    END IF;
    INSERT INTO tributary.history_enabled (schema, enabled) VALUES (set_history.schema, set_history.enabled)
    ON CONFLICT ON CONSTRAINT history_enabled_pkey
    DO UPDATE SET enabled = EXCLUDED.enabled, changed_at = clock_timestamp();
    IF set_history.enabled AND was = false THEN
        FOR tbl IN
            SELECT c.oid FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = set_history.schema AND g.tgname = 'history_update'
        LOOP
            PERFORM tributary.history_catch_up(tbl);
        END LOOP;
    END IF;
END
$$;
COMMENT ON FUNCTION tributary.set_history(text, boolean) IS 'Keeps (true) or stops (false) the history of a source''s schema; a pass calls it at its start with sources.<name>.history';

DO $$
DECLARE
    tbl regclass;
BEGIN
    FOR tbl IN
        SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = '_changed_at'
        WHERE n.nspname IN ('planningnow', 'aimsio', 'aircalc') AND c.relkind = 'r'
        ORDER BY n.nspname, c.relname
    LOOP
        PERFORM tributary.enable_history(tbl);
    END LOOP;
END
$$;
