-- Each value is stored once: a parent row's `raw` no longer repeats the nested arrays whose
-- elements are rows of their own (an order's positions and their tasks). These views put a
-- record back together as the source served it: the parent's `raw` with its live children's
-- (those that vanished with a soft-deleted parent included), arrays in key order.

CREATE VIEW planningnow.order_records AS
SELECT o.id, o._deleted_at,
       o.raw || jsonb_build_object('positions', coalesce((
           SELECT jsonb_agg(p.raw || jsonb_build_object('tasks', coalesce((
                      SELECT jsonb_agg(t.raw ORDER BY t.id) FROM planningnow.order_position_tasks t
                      WHERE t.order_id = p.order_id AND t.position_id = p.id
                        AND t._deleted_at IS NOT DISTINCT FROM o._deleted_at), '[]'::jsonb)) ORDER BY p.id)
           FROM planningnow.order_positions p
           WHERE p.order_id = o.id AND p._deleted_at IS NOT DISTINCT FROM o._deleted_at), '[]'::jsonb)) AS record
FROM planningnow.orders o;
COMMENT ON VIEW planningnow.order_records IS 'Each order as PlanningNow served it: orders.raw with its positions and their tasks put back (arrays in key order)';
COMMENT ON COLUMN planningnow.order_records.id IS 'Order id (planningnow.orders.id)';
COMMENT ON COLUMN planningnow.order_records._deleted_at IS 'When the order vanished from the listing; NULL while live';
COMMENT ON COLUMN planningnow.order_records.record IS 'The whole order: its own fields, positions and tasks';

CREATE VIEW planningnow.offer_records AS
SELECT o.id, o._deleted_at,
       o.raw || jsonb_build_object('positions', coalesce((
           SELECT jsonb_agg(p.raw || jsonb_build_object('tasks', coalesce((
                      SELECT jsonb_agg(t.raw ORDER BY t.id) FROM planningnow.offer_position_tasks t
                      WHERE t.offer_id = p.offer_id AND t.position_id = p.id
                        AND t._deleted_at IS NOT DISTINCT FROM o._deleted_at), '[]'::jsonb)) ORDER BY p.id)
           FROM planningnow.offer_positions p
           WHERE p.offer_id = o.id AND p._deleted_at IS NOT DISTINCT FROM o._deleted_at), '[]'::jsonb)) AS record
FROM planningnow.offers o;
COMMENT ON VIEW planningnow.offer_records IS 'Each offer as PlanningNow served it: offers.raw with its positions and their tasks put back (arrays in key order)';
COMMENT ON COLUMN planningnow.offer_records.id IS 'Offer id (planningnow.offers.id)';
COMMENT ON COLUMN planningnow.offer_records._deleted_at IS 'When the offer vanished from the listing; NULL while live';
COMMENT ON COLUMN planningnow.offer_records.record IS 'The whole offer: its own fields, positions and tasks';

CREATE VIEW planningnow.work_schedule_records AS
SELECT w.id, w._deleted_at,
       w.raw || jsonb_build_object('positions', coalesce((
           SELECT jsonb_agg(p.raw ORDER BY p.position_id)
           FROM planningnow.work_schedule_positions p
           WHERE p.work_schedule_id = w.id AND p._deleted_at IS NOT DISTINCT FROM w._deleted_at), '[]'::jsonb)) AS record
FROM planningnow.work_schedules w;
COMMENT ON VIEW planningnow.work_schedule_records IS 'Each work schedule as PlanningNow served it: work_schedules.raw with its positions put back (in key order)';
COMMENT ON COLUMN planningnow.work_schedule_records.id IS 'Work schedule id (planningnow.work_schedules.id)';
COMMENT ON COLUMN planningnow.work_schedule_records._deleted_at IS 'When the work schedule vanished from the listing; NULL while live';
COMMENT ON COLUMN planningnow.work_schedule_records.record IS 'The whole work schedule with its positions';

CREATE VIEW aircalc.project_records AS
SELECT pr.project_no, pr._deleted_at,
       pr.raw || jsonb_build_object('positions', coalesce((
           SELECT jsonb_agg(p.raw ORDER BY p.pos_no)
           FROM aircalc.positions p
           WHERE p.project_no = pr.project_no AND p._deleted_at IS NOT DISTINCT FROM pr._deleted_at), '[]'::jsonb)) AS record
FROM aircalc.projects pr;
COMMENT ON VIEW aircalc.project_records IS 'Each project as project-by-no served it: projects.raw with its positions put back (in key order)';
COMMENT ON COLUMN aircalc.project_records.project_no IS 'Project number as aircalc spells it (aircalc.projects.project_no)';
COMMENT ON COLUMN aircalc.project_records._deleted_at IS 'When aircalc stopped knowing the project; NULL while live';
COMMENT ON COLUMN aircalc.project_records.record IS 'The whole project with its positions';
