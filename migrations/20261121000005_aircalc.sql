-- aircalc NEXT: projects refreshed within 200 requests per 10 minutes, and the views that join
-- them to PlanningNow.
CREATE SCHEMA IF NOT EXISTS aircalc;
COMMENT ON SCHEMA aircalc IS 'aircalc NEXT data synced by tributary; filter _deleted_at IS NULL for live rows';

CREATE TABLE aircalc.projects (
    project_no text NOT NULL,
    external_ref text,
    name text,
    customer_name text,
    created_by bigint,
    created_at timestamptz,
    updated_at timestamptz,
    raw jsonb NOT NULL,
    _inserted_at timestamptz NOT NULL,
    _changed_at timestamptz NOT NULL,
    _deleted_at timestamptz,
    _run_id bigint NOT NULL,
    PRIMARY KEY (project_no)
);
COMMENT ON TABLE aircalc.projects IS 'Projects (GET project-by-no/v0/{projectNo}), refreshed within the request budget';
COMMENT ON COLUMN aircalc.projects.project_no IS 'Project number as aircalc writes it';
COMMENT ON COLUMN aircalc.projects.external_ref IS 'External reference (e.g. the ERP''s number)';
COMMENT ON COLUMN aircalc.projects.name IS 'Project name';
COMMENT ON COLUMN aircalc.projects.customer_name IS 'Customer';
COMMENT ON COLUMN aircalc.projects.created_by IS 'User id of the creator (aircalc.users.id)';
COMMENT ON COLUMN aircalc.projects.created_at IS 'Created at';
COMMENT ON COLUMN aircalc.projects.updated_at IS 'Last change in aircalc';
COMMENT ON COLUMN aircalc.projects.raw IS 'The object exactly as served (positions included)';
COMMENT ON COLUMN aircalc.projects._inserted_at IS 'When tributary first stored this row';
COMMENT ON COLUMN aircalc.projects._changed_at IS 'When the content last changed';
COMMENT ON COLUMN aircalc.projects._deleted_at IS 'When the row vanished from aircalc (soft delete); NULL while live';
COMMENT ON COLUMN aircalc.projects._run_id IS 'The run (tributary.sync_runs.id) that last wrote this row';

CREATE TABLE aircalc.positions (
    project_no text NOT NULL,
    pos_no text NOT NULL,
    external_ref text,
    description text,
    quantity numeric,
    unit_type text,
    airflow_supply numeric,
    airflow_extract numeric,
    width_mm numeric,
    height_mm numeric,
    length_mm numeric,
    weight_kg numeric,
    price_net numeric,
    raw jsonb NOT NULL,
    _inserted_at timestamptz NOT NULL,
    _changed_at timestamptz NOT NULL,
    _deleted_at timestamptz,
    _run_id bigint NOT NULL,
    PRIMARY KEY (project_no, pos_no)
);
COMMENT ON TABLE aircalc.positions IS 'Positions of projects with their air-handling-unit meta';
COMMENT ON COLUMN aircalc.positions.project_no IS 'Project (aircalc.projects.project_no)';
COMMENT ON COLUMN aircalc.positions.pos_no IS 'Position number';
COMMENT ON COLUMN aircalc.positions.external_ref IS 'External reference of the position';
COMMENT ON COLUMN aircalc.positions.description IS 'Description';
COMMENT ON COLUMN aircalc.positions.quantity IS 'Number of units';
COMMENT ON COLUMN aircalc.positions.unit_type IS 'AHU unit type';
COMMENT ON COLUMN aircalc.positions.airflow_supply IS 'Supply airflow';
COMMENT ON COLUMN aircalc.positions.airflow_extract IS 'Extract airflow';
COMMENT ON COLUMN aircalc.positions.width_mm IS 'Width in mm';
COMMENT ON COLUMN aircalc.positions.height_mm IS 'Height in mm';
COMMENT ON COLUMN aircalc.positions.length_mm IS 'Length in mm';
COMMENT ON COLUMN aircalc.positions.weight_kg IS 'Weight in kg';
COMMENT ON COLUMN aircalc.positions.price_net IS 'Net price of the AHU';
COMMENT ON COLUMN aircalc.positions.raw IS 'The object exactly as served (its ahu object included)';
COMMENT ON COLUMN aircalc.positions._inserted_at IS 'When tributary first stored this row';
COMMENT ON COLUMN aircalc.positions._changed_at IS 'When the content last changed';
COMMENT ON COLUMN aircalc.positions._deleted_at IS 'When the row vanished from aircalc (soft delete); NULL while live';
COMMENT ON COLUMN aircalc.positions._run_id IS 'The run (tributary.sync_runs.id) that last wrote this row';

CREATE TABLE aircalc.bom_lines (
    pos_no text NOT NULL,
    line_no bigint NOT NULL,
    project_no text,
    article_no text,
    description text,
    quantity numeric,
    unit text,
    raw jsonb NOT NULL,
    _inserted_at timestamptz NOT NULL,
    _changed_at timestamptz NOT NULL,
    _deleted_at timestamptz,
    _run_id bigint NOT NULL,
    PRIMARY KEY (pos_no, line_no)
);
COMMENT ON TABLE aircalc.bom_lines IS 'Bill of materials per position (GET ahu-bom-by-pos-no/v0/{posNo}); only with sources.aircalc.fetch_bom';
COMMENT ON COLUMN aircalc.bom_lines.pos_no IS 'Position (aircalc.positions.pos_no)';
COMMENT ON COLUMN aircalc.bom_lines.line_no IS 'Line number';
COMMENT ON COLUMN aircalc.bom_lines.project_no IS 'Project of the position';
COMMENT ON COLUMN aircalc.bom_lines.article_no IS 'Article number';
COMMENT ON COLUMN aircalc.bom_lines.description IS 'Description';
COMMENT ON COLUMN aircalc.bom_lines.quantity IS 'Quantity';
COMMENT ON COLUMN aircalc.bom_lines.unit IS 'Unit';
COMMENT ON COLUMN aircalc.bom_lines.raw IS 'The object exactly as served';
COMMENT ON COLUMN aircalc.bom_lines._inserted_at IS 'When tributary first stored this row';
COMMENT ON COLUMN aircalc.bom_lines._changed_at IS 'When the content last changed';
COMMENT ON COLUMN aircalc.bom_lines._deleted_at IS 'When the row vanished from aircalc (soft delete); NULL while live';
COMMENT ON COLUMN aircalc.bom_lines._run_id IS 'The run (tributary.sync_runs.id) that last wrote this row';

CREATE TABLE aircalc.users (
    id bigint NOT NULL,
    name text,
    email text,
    raw jsonb NOT NULL,
    _inserted_at timestamptz NOT NULL,
    _changed_at timestamptz NOT NULL,
    _deleted_at timestamptz,
    _run_id bigint NOT NULL,
    PRIMARY KEY (id)
);
COMMENT ON TABLE aircalc.users IS 'aircalc users who created projects (GET users-by-id/v0)';
COMMENT ON COLUMN aircalc.users.id IS 'User id';
COMMENT ON COLUMN aircalc.users.name IS 'Name';
COMMENT ON COLUMN aircalc.users.email IS 'E-mail';
COMMENT ON COLUMN aircalc.users.raw IS 'The object exactly as served';
COMMENT ON COLUMN aircalc.users._inserted_at IS 'When tributary first stored this row';
COMMENT ON COLUMN aircalc.users._changed_at IS 'When the content last changed';
COMMENT ON COLUMN aircalc.users._deleted_at IS 'When the row vanished from aircalc (soft delete); NULL while live';
COMMENT ON COLUMN aircalc.users._run_id IS 'The run (tributary.sync_runs.id) that last wrote this row';

CREATE TABLE aircalc.pos_rows (
    project_no text NOT NULL,
    pos_no text NOT NULL,
    project_external_ref text,
    pos_external_ref text,
    description text,
    quantity numeric,
    unit_type text,
    updated_at timestamptz,
    raw jsonb NOT NULL,
    _inserted_at timestamptz NOT NULL,
    _changed_at timestamptz NOT NULL,
    _deleted_at timestamptz,
    _run_id bigint NOT NULL,
    PRIMARY KEY (project_no, pos_no)
);
COMMENT ON TABLE aircalc.pos_rows IS 'Rows of GET pos-rows-aggregated/v0 as served: one per position across all projects; the listing that discovers projects and their changes';
COMMENT ON COLUMN aircalc.pos_rows.project_no IS 'Project number';
COMMENT ON COLUMN aircalc.pos_rows.pos_no IS 'Position number';
COMMENT ON COLUMN aircalc.pos_rows.project_external_ref IS 'External reference of the project';
COMMENT ON COLUMN aircalc.pos_rows.pos_external_ref IS 'External reference of the position';
COMMENT ON COLUMN aircalc.pos_rows.description IS 'Description';
COMMENT ON COLUMN aircalc.pos_rows.quantity IS 'Quantity';
COMMENT ON COLUMN aircalc.pos_rows.unit_type IS 'Unit type';
COMMENT ON COLUMN aircalc.pos_rows.updated_at IS 'Last change of the row';
COMMENT ON COLUMN aircalc.pos_rows.raw IS 'The object exactly as served';
COMMENT ON COLUMN aircalc.pos_rows._inserted_at IS 'When tributary first stored this row';
COMMENT ON COLUMN aircalc.pos_rows._changed_at IS 'When the content last changed';
COMMENT ON COLUMN aircalc.pos_rows._deleted_at IS 'When the row vanished from aircalc (soft delete); NULL while live';
COMMENT ON COLUMN aircalc.pos_rows._run_id IS 'The run (tributary.sync_runs.id) that last wrote this row';

CREATE FUNCTION aircalc.match_key(project_no text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE RETURNS NULL ON NULL INPUT
AS $$ SELECT upper(btrim(project_no, E' \t\r\n\f')) $$;
COMMENT ON FUNCTION aircalc.match_key(text) IS 'A project number as compared across systems: surrounding whitespace removed, upper case';
CREATE INDEX projects_match_no ON aircalc.projects (aircalc.match_key(project_no));
CREATE INDEX projects_match_ref ON aircalc.projects (aircalc.match_key(external_ref));

CREATE TABLE aircalc.project_refresh (
    project_no      text PRIMARY KEY,
    fetch_no        text NOT NULL,
    first_seen_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    last_fetched_at timestamptz,
    rows_updated_at timestamptz,
    not_found_at    timestamptz
);
COMMENT ON TABLE aircalc.project_refresh IS 'Refresh bookkeeping per known project number: what was fetched when, and which numbers aircalc does not know';
COMMENT ON COLUMN aircalc.project_refresh.project_no IS 'Project number as compared across systems (aircalc.match_key)';
COMMENT ON COLUMN aircalc.project_refresh.fetch_no IS 'The number as asked of aircalc: its own spelling from pos-rows-aggregated when known, else as written where it was found';
COMMENT ON COLUMN aircalc.project_refresh.first_seen_at IS 'When tributary first discovered the number';
COMMENT ON COLUMN aircalc.project_refresh.last_fetched_at IS 'Last successful fetch of the project';
COMMENT ON COLUMN aircalc.project_refresh.rows_updated_at IS 'Latest change (content or removal) of its pos-rows-aggregated rows seen at that fetch';
COMMENT ON COLUMN aircalc.project_refresh.not_found_at IS 'When aircalc last answered 404 for it (asked again after sources.aircalc.not_found_retry_days)';

CREATE SCHEMA IF NOT EXISTS analytics;
COMMENT ON SCHEMA analytics IS 'Views across sources, for analysts';

CREATE FUNCTION aircalc.matching_project(p_project_no text)
RETURNS TABLE (project_no text, name text, customer_name text, matched_by text,
               positions bigint, units numeric, ahu_net_price numeric)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT ap.project_no, ap.name, ap.customer_name,
           CASE WHEN aircalc.match_key(ap.project_no) = aircalc.match_key(p_project_no)
                THEN 'project_no' ELSE 'external_ref' END,
           (SELECT count(*) FROM aircalc.positions x
            WHERE x.project_no = ap.project_no AND x._deleted_at IS NULL),
           (SELECT coalesce(sum(x.quantity), 0) FROM aircalc.positions x
            WHERE x.project_no = ap.project_no AND x._deleted_at IS NULL),
           (SELECT sum(x.price_net * coalesce(x.quantity, 1)) FROM aircalc.positions x
            WHERE x.project_no = ap.project_no AND x._deleted_at IS NULL)
    FROM aircalc.projects ap
    WHERE ap._deleted_at IS NULL
      AND aircalc.match_key(p_project_no) <> ''
      AND (aircalc.match_key(ap.project_no) = aircalc.match_key(p_project_no)
           OR aircalc.match_key(ap.external_ref) = aircalc.match_key(p_project_no))
    ORDER BY aircalc.match_key(ap.project_no) = aircalc.match_key(p_project_no) DESC, ap.project_no
    LIMIT 1
$$;
COMMENT ON FUNCTION aircalc.matching_project(text) IS 'The live aircalc project a number written elsewhere names (by project number ignoring case and surrounding whitespace, else by external reference), with its position count, units and summed AHU net price';

CREATE VIEW analytics.order_projects AS
SELECT o.id AS order_id,
       o.project_no,
       p.project_no AS aircalc_project_no,
       p.matched_by,
       o.o_conf_date AS order_date,
       o.netto AS order_netto,
       o.ges_netto AS order_ges_netto,
       o.addressfield_1 AS order_customer,
       p.name AS project_name,
       p.customer_name AS project_customer,
       coalesce(p.positions, 0) AS positions,
       coalesce(p.units, 0) AS units,
       p.ahu_net_price
FROM planningnow.orders o
LEFT JOIN LATERAL aircalc.matching_project(o.project_no) p ON true
WHERE o._deleted_at IS NULL;
COMMENT ON VIEW analytics.order_projects IS 'One row per live PlanningNow order with the aircalc project it names (matched on project number ignoring case and surrounding whitespace, else on the project''s external reference); aircalc columns are NULL when nothing matches';
COMMENT ON COLUMN analytics.order_projects.order_id IS 'planningnow.orders.id';
COMMENT ON COLUMN analytics.order_projects.project_no IS 'Project number as written on the order';
COMMENT ON COLUMN analytics.order_projects.aircalc_project_no IS 'The matching aircalc project, NULL when none matches';
COMMENT ON COLUMN analytics.order_projects.matched_by IS 'project_no or external_ref: how the match was made';
COMMENT ON COLUMN analytics.order_projects.order_date IS 'Order confirmation date';
COMMENT ON COLUMN analytics.order_projects.order_netto IS 'Net amount of the order';
COMMENT ON COLUMN analytics.order_projects.order_ges_netto IS 'Total net amount of the order';
COMMENT ON COLUMN analytics.order_projects.order_customer IS 'Customer as written on the order (addressfield_1)';
COMMENT ON COLUMN analytics.order_projects.project_name IS 'aircalc project name';
COMMENT ON COLUMN analytics.order_projects.project_customer IS 'aircalc customer';
COMMENT ON COLUMN analytics.order_projects.positions IS 'Live positions of the aircalc project';
COMMENT ON COLUMN analytics.order_projects.units IS 'Units over those positions (sum of quantity)';
COMMENT ON COLUMN analytics.order_projects.ahu_net_price IS 'Summed AHU net price over those positions (price_net times quantity)';

CREATE VIEW analytics.offer_projects AS
SELECT o.id AS offer_id,
       o.project_no,
       p.project_no AS aircalc_project_no,
       p.matched_by,
       o.offer_date,
       o.netto AS offer_netto,
       o.ges_netto AS offer_ges_netto,
       p.name AS project_name,
       p.customer_name AS project_customer,
       coalesce(p.positions, 0) AS positions,
       coalesce(p.units, 0) AS units,
       p.ahu_net_price
FROM planningnow.offers o
LEFT JOIN LATERAL aircalc.matching_project(o.project_no) p ON true
WHERE o._deleted_at IS NULL;
COMMENT ON VIEW analytics.offer_projects IS 'One row per live PlanningNow offer with the aircalc project it names (matched like analytics.order_projects)';
COMMENT ON COLUMN analytics.offer_projects.offer_id IS 'planningnow.offers.id';
COMMENT ON COLUMN analytics.offer_projects.project_no IS 'Project number as written on the offer';
COMMENT ON COLUMN analytics.offer_projects.aircalc_project_no IS 'The matching aircalc project, NULL when none matches';
COMMENT ON COLUMN analytics.offer_projects.matched_by IS 'project_no or external_ref: how the match was made';
COMMENT ON COLUMN analytics.offer_projects.offer_date IS 'Offer date';
COMMENT ON COLUMN analytics.offer_projects.offer_netto IS 'Net amount of the offer';
COMMENT ON COLUMN analytics.offer_projects.offer_ges_netto IS 'Total net amount of the offer';
COMMENT ON COLUMN analytics.offer_projects.project_name IS 'aircalc project name';
COMMENT ON COLUMN analytics.offer_projects.project_customer IS 'aircalc customer';
COMMENT ON COLUMN analytics.offer_projects.positions IS 'Live positions of the aircalc project';
COMMENT ON COLUMN analytics.offer_projects.units IS 'Units over those positions (sum of quantity)';
COMMENT ON COLUMN analytics.offer_projects.ahu_net_price IS 'Summed AHU net price over those positions (price_net times quantity)';
