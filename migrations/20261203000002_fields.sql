-- The field catalogue: the JSON paths each stream's records carry, the changes between
-- passes (a field added, removed or retyped), and the columns of the views inferred from it.

CREATE TABLE tributary.fields (
    source        text NOT NULL,
    stream        text NOT NULL,
    path          text NOT NULL,
    types         text[] NOT NULL,
    first_seen    timestamptz NOT NULL DEFAULT clock_timestamp(),
    last_seen     timestamptz NOT NULL DEFAULT clock_timestamp(),
    records       bigint NOT NULL DEFAULT 0,
    mapped_column text,
    removed_at    timestamptz,
    run_id        bigint REFERENCES tributary.sync_runs (id),
    PRIMARY KEY (source, stream, path)
);
COMMENT ON TABLE tributary.fields IS 'The field catalogue: every JSON path the records of a stream carried, with the types seen and the column it lands in';
COMMENT ON COLUMN tributary.fields.source IS 'Source name';
COMMENT ON COLUMN tributary.fields.stream IS 'Stream name';
COMMENT ON COLUMN tributary.fields.path IS 'JSON path in a record: dotted for nested objects, [] for array elements (e.g. positions[].amount)';
COMMENT ON COLUMN tributary.fields.types IS 'JSON types seen at the path, ever: null, boolean, integer, number, string, object, array';
COMMENT ON COLUMN tributary.fields.first_seen IS 'When a pass first saw the path';
COMMENT ON COLUMN tributary.fields.last_seen IS 'When a pass last saw the path';
COMMENT ON COLUMN tributary.fields.records IS 'Records of the stream''s last profiled pass that had the path (see tributary.field_passes.records for how many it saw)';
COMMENT ON COLUMN tributary.fields.mapped_column IS 'schema.table.column the value lands in (a typed column, or a column of an inferred view); NULL when it is only in raw';
COMMENT ON COLUMN tributary.fields.removed_at IS 'When the path was reported removed (no record of the collection carries it any more); NULL while present';
COMMENT ON COLUMN tributary.fields.run_id IS 'Last stream run that saw the path';

CREATE TABLE tributary.field_passes (
    source      text NOT NULL,
    stream      text NOT NULL,
    records     bigint NOT NULL,
    complete    boolean NOT NULL,
    truncated   boolean NOT NULL DEFAULT false,
    run_id      bigint REFERENCES tributary.sync_runs (id),
    profiled_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (source, stream)
);
COMMENT ON TABLE tributary.field_passes IS 'The last pass of each stream that profiled records for the field catalogue (a stream without a row has no baseline yet)';
COMMENT ON COLUMN tributary.field_passes.source IS 'Source name';
COMMENT ON COLUMN tributary.field_passes.stream IS 'Stream name';
COMMENT ON COLUMN tributary.field_passes.records IS 'Records the pass profiled';
COMMENT ON COLUMN tributary.field_passes.complete IS 'Whether the pass saw the whole collection (a full listing) rather than the changed records only';
COMMENT ON COLUMN tributary.field_passes.truncated IS 'Whether the pass met more distinct paths than the catalogue keeps per stream (10 000)';
COMMENT ON COLUMN tributary.field_passes.run_id IS 'The stream run';
COMMENT ON COLUMN tributary.field_passes.profiled_at IS 'When the catalogue was updated from the pass';

CREATE TABLE tributary.schema_changes (
    id         bigserial PRIMARY KEY,
    source     text NOT NULL,
    stream     text NOT NULL,
    path       text NOT NULL,
    kind       text NOT NULL CHECK (kind IN ('added', 'removed', 'retyped')),
    old_types  text[],
    new_types  text[],
    changed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    run_id     bigint REFERENCES tributary.sync_runs (id)
);
CREATE INDEX schema_changes_changed_at ON tributary.schema_changes (changed_at DESC);
COMMENT ON TABLE tributary.schema_changes IS 'A change in what a vendor sends, noticed between two passes of a stream: a field added, removed, or retyped';
COMMENT ON COLUMN tributary.schema_changes.id IS 'Surrogate key';
COMMENT ON COLUMN tributary.schema_changes.source IS 'Source name';
COMMENT ON COLUMN tributary.schema_changes.stream IS 'Stream name';
COMMENT ON COLUMN tributary.schema_changes.path IS 'JSON path (as in tributary.fields)';
COMMENT ON COLUMN tributary.schema_changes.kind IS 'added, removed or retyped';
COMMENT ON COLUMN tributary.schema_changes.old_types IS 'Types known before (NULL for added)';
COMMENT ON COLUMN tributary.schema_changes.new_types IS 'Types after the pass (NULL for removed)';
COMMENT ON COLUMN tributary.schema_changes.changed_at IS 'When tributary noticed the change';
COMMENT ON COLUMN tributary.schema_changes.run_id IS 'Stream run that noticed it';

CREATE TABLE tributary.inferred_columns (
    view        text NOT NULL,
    position    integer NOT NULL,
    column_name text NOT NULL,
    field       text NOT NULL,
    sql_type    text NOT NULL CHECK (sql_type IN ('boolean', 'bigint', 'numeric', 'text')),
    added_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (view, position),
    UNIQUE (view, column_name),
    UNIQUE (view, field)
);
COMMENT ON TABLE tributary.inferred_columns IS 'Columns of the views tributary infers from the field catalogue (e.g. aimsio.timecards), in view order; a column is never removed or retyped';
COMMENT ON COLUMN tributary.inferred_columns.view IS 'The view, schema-qualified';
COMMENT ON COLUMN tributary.inferred_columns.position IS 'Order of the column among the inferred ones';
COMMENT ON COLUMN tributary.inferred_columns.column_name IS 'Column name in the view';
COMMENT ON COLUMN tributary.inferred_columns.field IS 'Top-level field of the record it is read from';
COMMENT ON COLUMN tributary.inferred_columns.sql_type IS 'boolean, bigint, numeric or text: fixed when the column first appeared';
COMMENT ON COLUMN tributary.inferred_columns.added_at IS 'When the column was added to the view';
