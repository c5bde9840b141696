-- Rows still without a content hash (stored before hashes existed) found by index: the merge
-- that fills their hash asks for `_hash IS NULL` first, which the planner, rightly
-- expecting next to none, answered with a scan of the whole table for every object stored
-- (an aircalc project's store grew with the number of projects). Once every row has its
-- hash these indexes are empty.
DO $$
DECLARE
    t record;
BEGIN
    FOR t IN
        SELECT c.oid::regclass AS tbl, n.nspname, c.relname,
               (SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY k.n)
                FROM pg_index i
                CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n)
                JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                WHERE i.indrelid = c.oid AND i.indisprimary) AS key
        FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_attribute h ON h.attrelid = c.oid AND h.attname = '_hash' AND NOT h.attisdropped
        WHERE c.relkind = 'r' AND n.nspname IN ('planningnow', 'aimsio', 'aircalc')
    LOOP
        EXECUTE format('CREATE INDEX %I ON %s (%s) WHERE _hash IS NULL',
                       t.relname || '_unhashed', t.tbl, t.key);
        EXECUTE format('COMMENT ON INDEX %I.%I IS %L', t.nspname, t.relname || '_unhashed',
                       'Rows stored before content hashes existed, which the next sync compares column by column once; empty afterwards');
    END LOOP;
END
$$;
