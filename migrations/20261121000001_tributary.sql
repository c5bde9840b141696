-- tributary's own bookkeeping: runs, checkpoints and rejected records.
CREATE SCHEMA IF NOT EXISTS tributary;
COMMENT ON SCHEMA tributary IS 'tributary bookkeeping: sync runs, checkpoints, rejected records';

CREATE TABLE tributary.sync_runs (
    id              bigserial PRIMARY KEY,
    parent_id       bigint REFERENCES tributary.sync_runs (id),
    source          text NOT NULL,
    stream          text,
    trigger         text NOT NULL,
    started_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at     timestamptz,
    status          text NOT NULL DEFAULT 'running'
                    CHECK (status IN ('running', 'succeeded', 'failed', 'budget_exhausted', 'cancelled')),
    records_fetched bigint NOT NULL DEFAULT 0,
    requests        bigint NOT NULL DEFAULT 0,
    rows_inserted   bigint NOT NULL DEFAULT 0,
    rows_updated    bigint NOT NULL DEFAULT 0,
    rows_unchanged  bigint NOT NULL DEFAULT 0,
    rows_deleted    bigint NOT NULL DEFAULT 0,
    rows_rejected   bigint NOT NULL DEFAULT 0,
    table_counts    jsonb NOT NULL DEFAULT '{}',
    error           text
);
CREATE INDEX sync_runs_source_stream_started ON tributary.sync_runs (source, stream, started_at DESC);
COMMENT ON TABLE tributary.sync_runs IS 'One row per sync pass of a source (stream NULL) and one per stream of that pass (parent_id points at the pass)';
COMMENT ON COLUMN tributary.sync_runs.id IS 'Run id; synced rows name the run that last wrote them in _run_id';
COMMENT ON COLUMN tributary.sync_runs.parent_id IS 'For a stream run: the source pass it belongs to';
COMMENT ON COLUMN tributary.sync_runs.source IS 'Source name: planningnow, aimsio or aircalc';
COMMENT ON COLUMN tributary.sync_runs.stream IS 'Stream (endpoint) name, NULL for the row of the whole pass';
COMMENT ON COLUMN tributary.sync_runs.trigger IS 'What started the run: cli, demo, bench or schedule';
COMMENT ON COLUMN tributary.sync_runs.started_at IS 'When the run started';
COMMENT ON COLUMN tributary.sync_runs.finished_at IS 'When the run ended, NULL while running';
COMMENT ON COLUMN tributary.sync_runs.status IS 'running, succeeded, failed, budget_exhausted or cancelled';
COMMENT ON COLUMN tributary.sync_runs.records_fetched IS 'Top-level records received from the source';
COMMENT ON COLUMN tributary.sync_runs.requests IS 'HTTP requests sent, retries included';
COMMENT ON COLUMN tributary.sync_runs.rows_inserted IS 'Rows inserted, over all tables of the stream';
COMMENT ON COLUMN tributary.sync_runs.rows_updated IS 'Rows whose content changed (or that came back after a soft delete)';
COMMENT ON COLUMN tributary.sync_runs.rows_unchanged IS 'Rows received identical to what was stored; not rewritten';
COMMENT ON COLUMN tributary.sync_runs.rows_deleted IS 'Rows soft-deleted (gone from a complete listing)';
COMMENT ON COLUMN tributary.sync_runs.rows_rejected IS 'Top-level records that could not be normalized (see tributary.rejects)';
COMMENT ON COLUMN tributary.sync_runs.table_counts IS 'Per table: {"inserted","updated","unchanged","deleted"}';
COMMENT ON COLUMN tributary.sync_runs.error IS 'Why the run failed, NULL when it did not';

CREATE TABLE tributary.checkpoints (
    source     text NOT NULL,
    stream     text NOT NULL,
    cursor     jsonb NOT NULL,
    run_id     bigint REFERENCES tributary.sync_runs (id),
    updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (source, stream)
);
COMMENT ON TABLE tributary.checkpoints IS 'Where each stream stands; written in the same transaction as the data it describes';
COMMENT ON COLUMN tributary.checkpoints.source IS 'Source name';
COMMENT ON COLUMN tributary.checkpoints.stream IS 'Stream name';
COMMENT ON COLUMN tributary.checkpoints.cursor IS 'Source-specific position, e.g. {"complete_listing_at": ..., "records": ...}';
COMMENT ON COLUMN tributary.checkpoints.run_id IS 'Run that wrote the checkpoint';
COMMENT ON COLUMN tributary.checkpoints.updated_at IS 'When the checkpoint was written';

CREATE TABLE tributary.rejects (
    id          bigserial PRIMARY KEY,
    source      text NOT NULL,
    stream      text NOT NULL,
    record_key  text NOT NULL,
    payload     jsonb NOT NULL,
    error       text NOT NULL,
    run_id      bigint REFERENCES tributary.sync_runs (id),
    first_seen  timestamptz NOT NULL DEFAULT clock_timestamp(),
    last_seen   timestamptz NOT NULL DEFAULT clock_timestamp(),
    resolved_at timestamptz,
    UNIQUE (source, stream, record_key)
);
COMMENT ON TABLE tributary.rejects IS 'Source records that could not be normalized; the rest of their listing was applied';
COMMENT ON COLUMN tributary.rejects.id IS 'Surrogate key';
COMMENT ON COLUMN tributary.rejects.source IS 'Source name';
COMMENT ON COLUMN tributary.rejects.stream IS 'Stream name';
COMMENT ON COLUMN tributary.rejects.record_key IS 'The record''s id as served, or md5:<hash of payload> when it has none';
COMMENT ON COLUMN tributary.rejects.payload IS 'The record exactly as served';
COMMENT ON COLUMN tributary.rejects.error IS 'Why it was rejected (field and value)';
COMMENT ON COLUMN tributary.rejects.run_id IS 'Last run that rejected it';
COMMENT ON COLUMN tributary.rejects.first_seen IS 'First run that rejected it';
COMMENT ON COLUMN tributary.rejects.last_seen IS 'Last run that rejected it';
COMMENT ON COLUMN tributary.rejects.resolved_at IS 'When a later listing no longer rejected it (fixed at the source or gone); NULL while open';
