-- What each root record of a full listing looked like when its rows were last written: a
-- digest of its bytes and the shape of its fields. A record listed again with the same digest
-- is not parsed: its rows are as they were, and the catalogue counts it under its shape.

CREATE TABLE tributary.listed_records (
    source text NOT NULL,
    stream text NOT NULL,
    key    text NOT NULL,
    digest bytea NOT NULL,
    shape  bigint NOT NULL,
    PRIMARY KEY (source, stream, key)
);
COMMENT ON TABLE tributary.listed_records IS 'Per root record of a full-listing stream, a digest of the bytes its stored rows were written from: a record listed again unchanged is not parsed. Delete a stream''s rows here to have its next pass parse every record again';
COMMENT ON COLUMN tributary.listed_records.source IS 'Source name';
COMMENT ON COLUMN tributary.listed_records.stream IS 'Stream name';
COMMENT ON COLUMN tributary.listed_records.key IS 'The record''s root key, as COPY text (columns separated by a tab)';
COMMENT ON COLUMN tributary.listed_records.digest IS '128-bit xxh3 of the record''s bytes, seeded with the tributary version, the table definitions and the time zone (a new version or definition parses everything once)';
COMMENT ON COLUMN tributary.listed_records.shape IS 'The set of JSON paths and types the record carries, as a 64-bit hash (0: unknown): an unparsed record is counted in the field catalogue like the parsed one of the same shape';
