-- Foreign keys between the synced tables, so that BI tools (Metabase, Superset, DBeaver,
-- Power BI, SQLAlchemy) find the joins. Only where the sync guarantees them: a child row is
-- written in the same transaction as its parent's row (its key starts with the parent's
-- key, taken from the record it is nested in), and rows are never hard-deleted (soft
-- deletes set _deleted_at), so a soft-deleted parent keeps its children and a rejected
-- record keeps its stored rows and children. DEFERRABLE INITIALLY DEFERRED: checked at
-- commit, so the order tables are loaded in within a transaction does not matter.
--
-- Left out, because nothing guarantees them:
-- * aircalc.bom_lines -> aircalc.positions: a line's project_no holds the project's match
--   key (aircalc.match_key), not the project number as stored, and pos_no alone is not a
--   key of aircalc.positions.
-- * aircalc.pos_rows -> aircalc.projects: the listing names every project; a project is
--   fetched later, within the request budget, or never (404).
-- * aircalc.projects.created_by -> aircalc.users: users are looked up after the projects,
--   in another stream that may not run (budget, sources.aircalc.fetch_users).
-- * planningnow.documents.folder_id and planningnow.document_folders.parent_id ->
--   planningnow.document_folders: read from the records of other listings (or other
--   records of the tree), which may reject, lack or not yet have the folder.
-- * aimsio: its entities are separate delta streams whose references are not keys.
-- * _run_id -> tributary.sync_runs: true for every row, but it is bookkeeping; declared, it
--   would make every data table a child of sync_runs in BI diagrams and add a check to
--   every row written. The column comments name it.

ALTER TABLE planningnow.order_positions
    ADD CONSTRAINT order_positions_order_fkey FOREIGN KEY (order_id)
    REFERENCES planningnow.orders (id) DEFERRABLE INITIALLY DEFERRED;
COMMENT ON CONSTRAINT order_positions_order_fkey ON planningnow.order_positions IS 'A position belongs to its order';

ALTER TABLE planningnow.order_position_tasks
    ADD CONSTRAINT order_position_tasks_position_fkey FOREIGN KEY (order_id, position_id)
    REFERENCES planningnow.order_positions (order_id, id) DEFERRABLE INITIALLY DEFERRED;
COMMENT ON CONSTRAINT order_position_tasks_position_fkey ON planningnow.order_position_tasks IS 'A task belongs to its order position';

ALTER TABLE planningnow.offer_positions
    ADD CONSTRAINT offer_positions_offer_fkey FOREIGN KEY (offer_id)
    REFERENCES planningnow.offers (id) DEFERRABLE INITIALLY DEFERRED;
COMMENT ON CONSTRAINT offer_positions_offer_fkey ON planningnow.offer_positions IS 'A position belongs to its offer';

ALTER TABLE planningnow.offer_position_tasks
    ADD CONSTRAINT offer_position_tasks_position_fkey FOREIGN KEY (offer_id, position_id)
    REFERENCES planningnow.offer_positions (offer_id, id) DEFERRABLE INITIALLY DEFERRED;
COMMENT ON CONSTRAINT offer_position_tasks_position_fkey ON planningnow.offer_position_tasks IS 'A task belongs to its offer position';

ALTER TABLE planningnow.work_schedule_positions
    ADD CONSTRAINT work_schedule_positions_work_schedule_fkey FOREIGN KEY (work_schedule_id)
    REFERENCES planningnow.work_schedules (id) DEFERRABLE INITIALLY DEFERRED;
COMMENT ON CONSTRAINT work_schedule_positions_work_schedule_fkey ON planningnow.work_schedule_positions IS 'A position belongs to its work schedule';

ALTER TABLE aircalc.positions
    ADD CONSTRAINT positions_project_fkey FOREIGN KEY (project_no)
    REFERENCES aircalc.projects (project_no) DEFERRABLE INITIALLY DEFERRED;
COMMENT ON CONSTRAINT positions_project_fkey ON aircalc.positions IS 'A position belongs to its project (stored with it in one transaction)';

COMMENT ON COLUMN aircalc.bom_lines.project_no IS 'Project of the position, as compared across systems (aircalc.match_key of its number; joins aircalc.positions on aircalc.match_key(positions.project_no) and pos_no, hence no foreign key)';

-- sqlx's bookkeeping table, created before the migrations run (absent when the migrations
-- are applied by psql, as scripts/sqlx-prepare.sh does).
DO $$
BEGIN
    IF to_regclass('_sqlx_migrations') IS NOT NULL THEN
        COMMENT ON TABLE _sqlx_migrations IS 'Migrations applied to this database (sqlx bookkeeping, written by tributary migrate)';
    END IF;
END
$$;
