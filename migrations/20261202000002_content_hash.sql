-- A content hash per row: a sync compares it in Rust with the hash of what the source
-- serves now, so an unchanged row is never sent to PostgreSQL again. Existing rows get
-- theirs on first use (NULL until then: compared column by column once).

ALTER TABLE aimsio.billable_items ADD COLUMN _hash bigint;
COMMENT ON COLUMN aimsio.billable_items._hash IS 'Hash of the row''s content as last stored (key, columns, raw), to detect changes without comparing them; NULL until the first sync after the upgrade';
ALTER TABLE aimsio.employees ADD COLUMN _hash bigint;
COMMENT ON COLUMN aimsio.employees._hash IS 'Hash of the row''s content as last stored (key, columns, raw), to detect changes without comparing them; NULL until the first sync after the upgrade';
ALTER TABLE aimsio.job_orders ADD COLUMN _hash bigint;
COMMENT ON COLUMN aimsio.job_orders._hash IS 'Hash of the row''s content as last stored (key, columns, raw), to detect changes without comparing them; NULL until the first sync after the upgrade';
ALTER TABLE aimsio.nrbs ADD COLUMN _hash bigint;
COMMENT ON COLUMN aimsio.nrbs._hash IS 'Hash of the row''s content as last stored (key, columns, raw), to detect changes without comparing them; NULL until the first sync after the upgrade';
ALTER TABLE aimsio.objects ADD COLUMN _hash bigint;
COMMENT ON COLUMN aimsio.objects._hash IS 'Hash of the row''s content as last stored (key, columns, raw), to detect changes without comparing them; NULL until the first sync after the upgrade';
ALTER TABLE aircalc.bom_lines ADD COLUMN _hash bigint;
COMMENT ON COLUMN aircalc.bom_lines._hash IS 'Hash of the row''s content as last stored (key, columns, raw), to detect changes without comparing them; NULL until the first sync after the upgrade';
ALTER TABLE aircalc.pos_rows ADD COLUMN _hash bigint;
COMMENT ON COLUMN aircalc.pos_rows._hash IS 'Hash of the row''s content as last stored (key, columns, raw), to detect changes without comparing them; NULL until the first sync after the upgrade';
ALTER TABLE aircalc.positions ADD COLUMN _hash bigint;
COMMENT ON COLUMN aircalc.positions._hash IS 'Hash of the row''s content as last stored (key, columns, raw), to detect changes without comparing them; NULL until the first sync after the upgrade';
ALTER TABLE aircalc.projects ADD COLUMN _hash bigint;
COMMENT ON COLUMN aircalc.projects._hash IS 'Hash of the row''s content as last stored (key, columns, raw), to detect changes without comparing them; NULL until the first sync after the upgrade';
ALTER TABLE aircalc.users ADD COLUMN _hash bigint;
COMMENT ON COLUMN aircalc.users._hash IS 'Hash of the row''s content as last stored (key, columns, raw), to detect changes without comparing them; NULL until the first sync after the upgrade';
ALTER TABLE planningnow.cost_centres ADD COLUMN _hash bigint;
COMMENT ON COLUMN planningnow.cost_centres._hash IS 'Hash of the row''s content as last stored (key, columns, raw), to detect changes without comparing them; NULL until the first sync after the upgrade';
ALTER TABLE planningnow.document_folders ADD COLUMN _hash bigint;
COMMENT ON COLUMN planningnow.document_folders._hash IS 'Hash of the row''s content as last stored (key, columns, raw), to detect changes without comparing them; NULL until the first sync after the upgrade';
ALTER TABLE planningnow.documents ADD COLUMN _hash bigint;
COMMENT ON COLUMN planningnow.documents._hash IS 'Hash of the row''s content as last stored (key, columns, raw), to detect changes without comparing them; NULL until the first sync after the upgrade';
ALTER TABLE planningnow.offer_position_tasks ADD COLUMN _hash bigint;
COMMENT ON COLUMN planningnow.offer_position_tasks._hash IS 'Hash of the row''s content as last stored (key, columns, raw), to detect changes without comparing them; NULL until the first sync after the upgrade';
ALTER TABLE planningnow.offer_positions ADD COLUMN _hash bigint;
COMMENT ON COLUMN planningnow.offer_positions._hash IS 'Hash of the row''s content as last stored (key, columns, raw), to detect changes without comparing them; NULL until the first sync after the upgrade';
ALTER TABLE planningnow.offers ADD COLUMN _hash bigint;
COMMENT ON COLUMN planningnow.offers._hash IS 'Hash of the row''s content as last stored (key, columns, raw), to detect changes without comparing them; NULL until the first sync after the upgrade';
ALTER TABLE planningnow.order_position_tasks ADD COLUMN _hash bigint;
COMMENT ON COLUMN planningnow.order_position_tasks._hash IS 'Hash of the row''s content as last stored (key, columns, raw), to detect changes without comparing them; NULL until the first sync after the upgrade';
ALTER TABLE planningnow.order_positions ADD COLUMN _hash bigint;
COMMENT ON COLUMN planningnow.order_positions._hash IS 'Hash of the row''s content as last stored (key, columns, raw), to detect changes without comparing them; NULL until the first sync after the upgrade';
ALTER TABLE planningnow.orders ADD COLUMN _hash bigint;
COMMENT ON COLUMN planningnow.orders._hash IS 'Hash of the row''s content as last stored (key, columns, raw), to detect changes without comparing them; NULL until the first sync after the upgrade';
ALTER TABLE planningnow.work_schedule_positions ADD COLUMN _hash bigint;
COMMENT ON COLUMN planningnow.work_schedule_positions._hash IS 'Hash of the row''s content as last stored (key, columns, raw), to detect changes without comparing them; NULL until the first sync after the upgrade';
ALTER TABLE planningnow.work_schedules ADD COLUMN _hash bigint;
COMMENT ON COLUMN planningnow.work_schedules._hash IS 'Hash of the row''s content as last stored (key, columns, raw), to detect changes without comparing them; NULL until the first sync after the upgrade';

-- aircalc refreshes one project at a time and finds its rows by the project's match key.
CREATE INDEX positions_match_key ON aircalc.positions (aircalc.match_key(project_no));
CREATE INDEX pos_rows_match_key ON aircalc.pos_rows (aircalc.match_key(project_no));
