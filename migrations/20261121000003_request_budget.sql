-- Persisted request budgets: every request a source sends is recorded here before it is
-- sent, so that sliding-window limits hold across restarts and concurrent processes.
CREATE TABLE tributary.request_ledger (
    id       bigserial PRIMARY KEY,
    source   text NOT NULL,
    sent_at  timestamptz NOT NULL,
    endpoint text NOT NULL
);
CREATE INDEX request_ledger_source_sent_at ON tributary.request_ledger (source, sent_at);
COMMENT ON TABLE tributary.request_ledger IS 'Requests sent per source (retries, errors and token calls included), recorded before sending; pruned once outside the budget window';
COMMENT ON COLUMN tributary.request_ledger.id IS 'Surrogate key';
COMMENT ON COLUMN tributary.request_ledger.source IS 'Source name';
COMMENT ON COLUMN tributary.request_ledger.sent_at IS 'Database time the request was admitted (just before it was sent)';
COMMENT ON COLUMN tributary.request_ledger.endpoint IS 'Method and path, e.g. GET /api/order';

-- Admits one request if fewer than p_limit were admitted in the last p_window: answers the
-- ledger entry (wait NULL), else how long until a slot frees (entry NULL). Serialized per
-- source by an advisory lock, so concurrent processes on one database share the budget
-- exactly. Once the answer arrives the caller moves sent_at to then (tributary.settle_request),
-- so a request that reached the server late still counts from when it may have arrived.
CREATE FUNCTION tributary.reserve_request(p_source text, p_limit integer, p_window interval, p_endpoint text,
                                          OUT wait interval, OUT entry bigint)
LANGUAGE plpgsql AS $$
DECLARE
    now_ts timestamptz;
    used   integer;
    edge   timestamptz;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('tributary:budget:' || p_source, 0));
    now_ts := clock_timestamp();
    DELETE FROM tributary.request_ledger WHERE source = p_source AND sent_at <= now_ts - p_window;
    SELECT count(*) INTO used FROM tributary.request_ledger WHERE source = p_source;
    IF used < p_limit THEN
        INSERT INTO tributary.request_ledger (source, sent_at, endpoint) VALUES (p_source, now_ts, p_endpoint)
            RETURNING id INTO entry;
        RETURN;
    END IF;
    SELECT sent_at INTO edge FROM tributary.request_ledger WHERE source = p_source
        ORDER BY sent_at DESC OFFSET p_limit - 1 LIMIT 1;
    wait := greatest(edge + p_window - now_ts, interval '1 millisecond');
END
$$;
COMMENT ON FUNCTION tributary.reserve_request(text, integer, interval, text) IS 'Admit a request within the sliding-window budget of a source (answers its ledger entry), or tell how long until a slot frees';

CREATE FUNCTION tributary.settle_request(p_entry bigint) RETURNS void
LANGUAGE sql AS $$
    UPDATE tributary.request_ledger SET sent_at = greatest(sent_at, clock_timestamp()) WHERE id = p_entry
$$;
COMMENT ON FUNCTION tributary.settle_request(bigint) IS 'Moves a request''s time to when its answer arrived: the latest moment it can have reached the server';

ALTER TABLE tributary.sync_runs ADD COLUMN throttled bigint NOT NULL DEFAULT 0;
COMMENT ON COLUMN tributary.sync_runs.throttled IS 'Requests the source answered with 429 (someone else spent the shared budget)';
