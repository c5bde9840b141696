-- PlanningNow: full listings of orders, offers, work schedules, cost centres and documents.
CREATE SCHEMA IF NOT EXISTS planningnow;
COMMENT ON SCHEMA planningnow IS 'PlanningNow data synced by tributary from full listings; filter _deleted_at IS NULL for live rows';

CREATE TABLE planningnow.orders (
    id bigint NOT NULL,
    o_conf_date date,
    employee_no bigint,
    zu_haenden text,
    addressfield_1 text,
    customer_no bigint,
    project_no text,
    subject text,
    netto numeric,
    ges_netto numeric,
    ges_rabatt numeric,
    pay_term_id bigint,
    pay_term_text text,
    delivery_date date,
    short_info text,
    raw jsonb NOT NULL,
    _inserted_at timestamptz NOT NULL,
    _changed_at timestamptz NOT NULL,
    _deleted_at timestamptz,
    _run_id bigint NOT NULL,
    PRIMARY KEY (id)
);
COMMENT ON TABLE planningnow.orders IS 'Order confirmations (GET /api/order)';
COMMENT ON COLUMN planningnow.orders.id IS 'Order id';
COMMENT ON COLUMN planningnow.orders.o_conf_date IS 'Order confirmation date';
COMMENT ON COLUMN planningnow.orders.employee_no IS 'Responsible employee number';
COMMENT ON COLUMN planningnow.orders.zu_haenden IS 'Attention of (served as zuHaenden on orders)';
COMMENT ON COLUMN planningnow.orders.addressfield_1 IS 'First address line (customer name)';
COMMENT ON COLUMN planningnow.orders.customer_no IS 'Customer number';
COMMENT ON COLUMN planningnow.orders.project_no IS 'Project number as written on the order (joins to aircalc projects)';
COMMENT ON COLUMN planningnow.orders.subject IS 'Subject';
COMMENT ON COLUMN planningnow.orders.netto IS 'Net amount';
COMMENT ON COLUMN planningnow.orders.ges_netto IS 'Total net amount';
COMMENT ON COLUMN planningnow.orders.ges_rabatt IS 'Total discount';
COMMENT ON COLUMN planningnow.orders.pay_term_id IS 'Payment term id';
COMMENT ON COLUMN planningnow.orders.pay_term_text IS 'Payment term';
COMMENT ON COLUMN planningnow.orders.delivery_date IS 'Delivery date';
COMMENT ON COLUMN planningnow.orders.short_info IS 'Short note';
COMMENT ON COLUMN planningnow.orders.raw IS 'The record exactly as served (including positions and tasks)';
COMMENT ON COLUMN planningnow.orders._inserted_at IS 'When tributary first stored this row';
COMMENT ON COLUMN planningnow.orders._changed_at IS 'When the content last changed (a sync of unchanged data does not touch it)';
COMMENT ON COLUMN planningnow.orders._deleted_at IS 'When the row vanished from a complete listing (soft delete); NULL while live; cleared if it comes back';
COMMENT ON COLUMN planningnow.orders._run_id IS 'The run (tributary.sync_runs.id) that last wrote this row';

CREATE TABLE planningnow.order_positions (
    order_id bigint NOT NULL,
    id bigint NOT NULL,
    pos_no numeric,
    article_number text,
    article_desc text,
    amount numeric,
    unit text,
    unit_price numeric,
    discount numeric,
    unit_price_disc numeric,
    netto numeric,
    deliv_date date,
    mwst_percent numeric,
    brutto numeric,
    remarks text,
    raw jsonb NOT NULL,
    _inserted_at timestamptz NOT NULL,
    _changed_at timestamptz NOT NULL,
    _deleted_at timestamptz,
    _run_id bigint NOT NULL,
    PRIMARY KEY (order_id, id)
);
COMMENT ON TABLE planningnow.order_positions IS 'Positions of order confirmations';
COMMENT ON COLUMN planningnow.order_positions.order_id IS 'Order (planningnow.orders.id)';
COMMENT ON COLUMN planningnow.order_positions.id IS 'Position id, unique only within its order';
COMMENT ON COLUMN planningnow.order_positions.pos_no IS 'Position number as shown on the document';
COMMENT ON COLUMN planningnow.order_positions.article_number IS 'Article number';
COMMENT ON COLUMN planningnow.order_positions.article_desc IS 'Article description';
COMMENT ON COLUMN planningnow.order_positions.amount IS 'Quantity';
COMMENT ON COLUMN planningnow.order_positions.unit IS 'Unit of the quantity, e.g. pcs or hrs';
COMMENT ON COLUMN planningnow.order_positions.unit_price IS 'Price per unit before discount';
COMMENT ON COLUMN planningnow.order_positions.discount IS 'Discount (as served, usually percent)';
COMMENT ON COLUMN planningnow.order_positions.unit_price_disc IS 'Price per unit after discount';
COMMENT ON COLUMN planningnow.order_positions.netto IS 'Net amount of the position';
COMMENT ON COLUMN planningnow.order_positions.deliv_date IS 'Delivery date of the position';
COMMENT ON COLUMN planningnow.order_positions.mwst_percent IS 'VAT rate in percent';
COMMENT ON COLUMN planningnow.order_positions.brutto IS 'Gross amount of the position';
COMMENT ON COLUMN planningnow.order_positions.remarks IS 'Remarks';
COMMENT ON COLUMN planningnow.order_positions.raw IS 'The record exactly as served (without its tasks)';
COMMENT ON COLUMN planningnow.order_positions._inserted_at IS 'When tributary first stored this row';
COMMENT ON COLUMN planningnow.order_positions._changed_at IS 'When the content last changed (a sync of unchanged data does not touch it)';
COMMENT ON COLUMN planningnow.order_positions._deleted_at IS 'When the row vanished from a complete listing (soft delete); NULL while live; cleared if it comes back';
COMMENT ON COLUMN planningnow.order_positions._run_id IS 'The run (tributary.sync_runs.id) that last wrote this row';

CREATE TABLE planningnow.order_position_tasks (
    order_id bigint NOT NULL,
    position_id bigint NOT NULL,
    id bigint NOT NULL,
    kalk_id bigint,
    kalk_type bigint,
    cost_centre_name text,
    activity_name text,
    min_ruest numeric,
    min_wage numeric,
    min_masch numeric,
    production_start timestamptz,
    production_end timestamptz,
    raw jsonb NOT NULL,
    _inserted_at timestamptz NOT NULL,
    _changed_at timestamptz NOT NULL,
    _deleted_at timestamptz,
    _run_id bigint NOT NULL,
    PRIMARY KEY (order_id, position_id, id)
);
COMMENT ON TABLE planningnow.order_position_tasks IS 'Tasks of order positions';
COMMENT ON COLUMN planningnow.order_position_tasks.order_id IS 'Order (planningnow.orders.id)';
COMMENT ON COLUMN planningnow.order_position_tasks.position_id IS 'Position (planningnow.order_positions.id within the order)';
COMMENT ON COLUMN planningnow.order_position_tasks.id IS 'Task id, unique only within its position';
COMMENT ON COLUMN planningnow.order_position_tasks.kalk_id IS 'Calculation id';
COMMENT ON COLUMN planningnow.order_position_tasks.kalk_type IS 'Calculation type';
COMMENT ON COLUMN planningnow.order_position_tasks.cost_centre_name IS 'Cost centre doing the work';
COMMENT ON COLUMN planningnow.order_position_tasks.activity_name IS 'Activity';
COMMENT ON COLUMN planningnow.order_position_tasks.min_ruest IS 'Set-up minutes';
COMMENT ON COLUMN planningnow.order_position_tasks.min_wage IS 'Labour minutes';
COMMENT ON COLUMN planningnow.order_position_tasks.min_masch IS 'Machine minutes';
COMMENT ON COLUMN planningnow.order_position_tasks.production_start IS 'Planned production start (served as company local time, converted with sources.planningnow.timezone)';
COMMENT ON COLUMN planningnow.order_position_tasks.production_end IS 'Planned production end (local time converted like production_start)';
COMMENT ON COLUMN planningnow.order_position_tasks.raw IS 'The record exactly as served';
COMMENT ON COLUMN planningnow.order_position_tasks._inserted_at IS 'When tributary first stored this row';
COMMENT ON COLUMN planningnow.order_position_tasks._changed_at IS 'When the content last changed (a sync of unchanged data does not touch it)';
COMMENT ON COLUMN planningnow.order_position_tasks._deleted_at IS 'When the row vanished from a complete listing (soft delete); NULL while live; cleared if it comes back';
COMMENT ON COLUMN planningnow.order_position_tasks._run_id IS 'The run (tributary.sync_runs.id) that last wrote this row';

CREATE TABLE planningnow.offers (
    id bigint NOT NULL,
    offer_date date,
    employee_no bigint,
    zu_haenden text,
    customer_no bigint,
    project_no text,
    lead_text text,
    followup_text text,
    date_desired date,
    delivery_date date,
    netto numeric,
    ges_netto numeric,
    ges_rabatt numeric,
    info text,
    pay_term_id bigint,
    pay_term_text text,
    raw jsonb NOT NULL,
    _inserted_at timestamptz NOT NULL,
    _changed_at timestamptz NOT NULL,
    _deleted_at timestamptz,
    _run_id bigint NOT NULL,
    PRIMARY KEY (id)
);
COMMENT ON TABLE planningnow.offers IS 'Offers (GET /api/offer)';
COMMENT ON COLUMN planningnow.offers.id IS 'Offer id';
COMMENT ON COLUMN planningnow.offers.offer_date IS 'Offer date';
COMMENT ON COLUMN planningnow.offers.employee_no IS 'Responsible employee number';
COMMENT ON COLUMN planningnow.offers.zu_haenden IS 'Attention of (served as zu_haenden on offers)';
COMMENT ON COLUMN planningnow.offers.customer_no IS 'Customer number';
COMMENT ON COLUMN planningnow.offers.project_no IS 'Project number as written on the offer (joins to aircalc projects)';
COMMENT ON COLUMN planningnow.offers.lead_text IS 'Lead text';
COMMENT ON COLUMN planningnow.offers.followup_text IS 'Follow-up text';
COMMENT ON COLUMN planningnow.offers.date_desired IS 'Date the customer desires';
COMMENT ON COLUMN planningnow.offers.delivery_date IS 'Delivery date';
COMMENT ON COLUMN planningnow.offers.netto IS 'Net amount';
COMMENT ON COLUMN planningnow.offers.ges_netto IS 'Total net amount';
COMMENT ON COLUMN planningnow.offers.ges_rabatt IS 'Total discount';
COMMENT ON COLUMN planningnow.offers.info IS 'Additional information';
COMMENT ON COLUMN planningnow.offers.pay_term_id IS 'Payment term id';
COMMENT ON COLUMN planningnow.offers.pay_term_text IS 'Payment term';
COMMENT ON COLUMN planningnow.offers.raw IS 'The record exactly as served (including positions and tasks)';
COMMENT ON COLUMN planningnow.offers._inserted_at IS 'When tributary first stored this row';
COMMENT ON COLUMN planningnow.offers._changed_at IS 'When the content last changed (a sync of unchanged data does not touch it)';
COMMENT ON COLUMN planningnow.offers._deleted_at IS 'When the row vanished from a complete listing (soft delete); NULL while live; cleared if it comes back';
COMMENT ON COLUMN planningnow.offers._run_id IS 'The run (tributary.sync_runs.id) that last wrote this row';

CREATE TABLE planningnow.offer_positions (
    offer_id bigint NOT NULL,
    id bigint NOT NULL,
    pos_no numeric,
    article_number text,
    article_desc text,
    amount numeric,
    unit text,
    unit_price numeric,
    discount numeric,
    unit_price_disc numeric,
    netto numeric,
    deliv_date date,
    mwst_percent numeric,
    brutto numeric,
    remarks text,
    raw jsonb NOT NULL,
    _inserted_at timestamptz NOT NULL,
    _changed_at timestamptz NOT NULL,
    _deleted_at timestamptz,
    _run_id bigint NOT NULL,
    PRIMARY KEY (offer_id, id)
);
COMMENT ON TABLE planningnow.offer_positions IS 'Positions of offers';
COMMENT ON COLUMN planningnow.offer_positions.offer_id IS 'Offer (planningnow.offers.id)';
COMMENT ON COLUMN planningnow.offer_positions.id IS 'Position id, unique only within its offer';
COMMENT ON COLUMN planningnow.offer_positions.pos_no IS 'Position number as shown on the document';
COMMENT ON COLUMN planningnow.offer_positions.article_number IS 'Article number';
COMMENT ON COLUMN planningnow.offer_positions.article_desc IS 'Article description';
COMMENT ON COLUMN planningnow.offer_positions.amount IS 'Quantity';
COMMENT ON COLUMN planningnow.offer_positions.unit IS 'Unit of the quantity, e.g. pcs or hrs';
COMMENT ON COLUMN planningnow.offer_positions.unit_price IS 'Price per unit before discount';
COMMENT ON COLUMN planningnow.offer_positions.discount IS 'Discount (as served, usually percent)';
COMMENT ON COLUMN planningnow.offer_positions.unit_price_disc IS 'Price per unit after discount';
COMMENT ON COLUMN planningnow.offer_positions.netto IS 'Net amount of the position';
COMMENT ON COLUMN planningnow.offer_positions.deliv_date IS 'Delivery date of the position';
COMMENT ON COLUMN planningnow.offer_positions.mwst_percent IS 'VAT rate in percent';
COMMENT ON COLUMN planningnow.offer_positions.brutto IS 'Gross amount of the position';
COMMENT ON COLUMN planningnow.offer_positions.remarks IS 'Remarks';
COMMENT ON COLUMN planningnow.offer_positions.raw IS 'The record exactly as served (without its tasks)';
COMMENT ON COLUMN planningnow.offer_positions._inserted_at IS 'When tributary first stored this row';
COMMENT ON COLUMN planningnow.offer_positions._changed_at IS 'When the content last changed (a sync of unchanged data does not touch it)';
COMMENT ON COLUMN planningnow.offer_positions._deleted_at IS 'When the row vanished from a complete listing (soft delete); NULL while live; cleared if it comes back';
COMMENT ON COLUMN planningnow.offer_positions._run_id IS 'The run (tributary.sync_runs.id) that last wrote this row';

CREATE TABLE planningnow.offer_position_tasks (
    offer_id bigint NOT NULL,
    position_id bigint NOT NULL,
    id bigint NOT NULL,
    kalk_id bigint,
    kalk_type bigint,
    cost_centre_name text,
    activity_name text,
    min_ruest numeric,
    min_wage numeric,
    min_masch numeric,
    production_start timestamptz,
    production_end timestamptz,
    raw jsonb NOT NULL,
    _inserted_at timestamptz NOT NULL,
    _changed_at timestamptz NOT NULL,
    _deleted_at timestamptz,
    _run_id bigint NOT NULL,
    PRIMARY KEY (offer_id, position_id, id)
);
COMMENT ON TABLE planningnow.offer_position_tasks IS 'Tasks of offer positions';
COMMENT ON COLUMN planningnow.offer_position_tasks.offer_id IS 'Offer (planningnow.offers.id)';
COMMENT ON COLUMN planningnow.offer_position_tasks.position_id IS 'Position (planningnow.offer_positions.id within the offer)';
COMMENT ON COLUMN planningnow.offer_position_tasks.id IS 'Task id, unique only within its position';
COMMENT ON COLUMN planningnow.offer_position_tasks.kalk_id IS 'Calculation id';
COMMENT ON COLUMN planningnow.offer_position_tasks.kalk_type IS 'Calculation type';
COMMENT ON COLUMN planningnow.offer_position_tasks.cost_centre_name IS 'Cost centre doing the work';
COMMENT ON COLUMN planningnow.offer_position_tasks.activity_name IS 'Activity';
COMMENT ON COLUMN planningnow.offer_position_tasks.min_ruest IS 'Set-up minutes';
COMMENT ON COLUMN planningnow.offer_position_tasks.min_wage IS 'Labour minutes';
COMMENT ON COLUMN planningnow.offer_position_tasks.min_masch IS 'Machine minutes';
COMMENT ON COLUMN planningnow.offer_position_tasks.production_start IS 'Planned production start (served as company local time, converted with sources.planningnow.timezone)';
COMMENT ON COLUMN planningnow.offer_position_tasks.production_end IS 'Planned production end (local time converted like production_start)';
COMMENT ON COLUMN planningnow.offer_position_tasks.raw IS 'The record exactly as served';
COMMENT ON COLUMN planningnow.offer_position_tasks._inserted_at IS 'When tributary first stored this row';
COMMENT ON COLUMN planningnow.offer_position_tasks._changed_at IS 'When the content last changed (a sync of unchanged data does not touch it)';
COMMENT ON COLUMN planningnow.offer_position_tasks._deleted_at IS 'When the row vanished from a complete listing (soft delete); NULL while live; cleared if it comes back';
COMMENT ON COLUMN planningnow.offer_position_tasks._run_id IS 'The run (tributary.sync_runs.id) that last wrote this row';

CREATE TABLE planningnow.work_schedules (
    id bigint NOT NULL,
    name text,
    creation_date date,
    last_change_date date,
    sum_min_ruest numeric,
    sum_min numeric,
    sum_cost_ruest numeric,
    sum_cost_wage numeric,
    sum_min_masch numeric,
    sum_cost_masch numeric,
    sum_cost_fremdfert numeric,
    sum_cost numeric,
    los_stueck numeric,
    sum_min_wage numeric,
    costperone numeric,
    hoursperday numeric,
    sum_min_setup numeric,
    sum_cost_setup numeric,
    wage_factor numeric,
    raw jsonb NOT NULL,
    _inserted_at timestamptz NOT NULL,
    _changed_at timestamptz NOT NULL,
    _deleted_at timestamptz,
    _run_id bigint NOT NULL,
    PRIMARY KEY (id)
);
COMMENT ON TABLE planningnow.work_schedules IS 'Work schedules (GET /api/work-schedule)';
COMMENT ON COLUMN planningnow.work_schedules.id IS 'Work schedule id';
COMMENT ON COLUMN planningnow.work_schedules.name IS 'Name of the work schedule';
COMMENT ON COLUMN planningnow.work_schedules.creation_date IS 'Created on';
COMMENT ON COLUMN planningnow.work_schedules.last_change_date IS 'Last changed on';
COMMENT ON COLUMN planningnow.work_schedules.sum_min_ruest IS 'Sum of set-up minutes';
COMMENT ON COLUMN planningnow.work_schedules.sum_min IS 'Sum of minutes';
COMMENT ON COLUMN planningnow.work_schedules.sum_cost_ruest IS 'Sum of set-up cost';
COMMENT ON COLUMN planningnow.work_schedules.sum_cost_wage IS 'Sum of labour cost';
COMMENT ON COLUMN planningnow.work_schedules.sum_min_masch IS 'Sum of machine minutes';
COMMENT ON COLUMN planningnow.work_schedules.sum_cost_masch IS 'Sum of machine cost';
COMMENT ON COLUMN planningnow.work_schedules.sum_cost_fremdfert IS 'Sum of outsourced production cost';
COMMENT ON COLUMN planningnow.work_schedules.sum_cost IS 'Total cost';
COMMENT ON COLUMN planningnow.work_schedules.los_stueck IS 'Lot size';
COMMENT ON COLUMN planningnow.work_schedules.sum_min_wage IS 'Sum of labour minutes';
COMMENT ON COLUMN planningnow.work_schedules.costperone IS 'Cost per piece';
COMMENT ON COLUMN planningnow.work_schedules.hoursperday IS 'Working hours per day';
COMMENT ON COLUMN planningnow.work_schedules.sum_min_setup IS 'Sum of setup minutes';
COMMENT ON COLUMN planningnow.work_schedules.sum_cost_setup IS 'Sum of setup cost';
COMMENT ON COLUMN planningnow.work_schedules.wage_factor IS 'Wage factor';
COMMENT ON COLUMN planningnow.work_schedules.raw IS 'The record exactly as served (including position ids)';
COMMENT ON COLUMN planningnow.work_schedules._inserted_at IS 'When tributary first stored this row';
COMMENT ON COLUMN planningnow.work_schedules._changed_at IS 'When the content last changed (a sync of unchanged data does not touch it)';
COMMENT ON COLUMN planningnow.work_schedules._deleted_at IS 'When the row vanished from a complete listing (soft delete); NULL while live; cleared if it comes back';
COMMENT ON COLUMN planningnow.work_schedules._run_id IS 'The run (tributary.sync_runs.id) that last wrote this row';

CREATE TABLE planningnow.work_schedule_positions (
    work_schedule_id bigint NOT NULL,
    position_id bigint NOT NULL,
    raw jsonb NOT NULL,
    _inserted_at timestamptz NOT NULL,
    _changed_at timestamptz NOT NULL,
    _deleted_at timestamptz,
    _run_id bigint NOT NULL,
    PRIMARY KEY (work_schedule_id, position_id)
);
COMMENT ON TABLE planningnow.work_schedule_positions IS 'Positions of work schedules (the API serves only their ids)';
COMMENT ON COLUMN planningnow.work_schedule_positions.work_schedule_id IS 'Work schedule (planningnow.work_schedules.id)';
COMMENT ON COLUMN planningnow.work_schedule_positions.position_id IS 'Position id';
COMMENT ON COLUMN planningnow.work_schedule_positions.raw IS 'The record exactly as served';
COMMENT ON COLUMN planningnow.work_schedule_positions._inserted_at IS 'When tributary first stored this row';
COMMENT ON COLUMN planningnow.work_schedule_positions._changed_at IS 'When the content last changed (a sync of unchanged data does not touch it)';
COMMENT ON COLUMN planningnow.work_schedule_positions._deleted_at IS 'When the row vanished from a complete listing (soft delete); NULL while live; cleared if it comes back';
COMMENT ON COLUMN planningnow.work_schedule_positions._run_id IS 'The run (tributary.sync_runs.id) that last wrote this row';

CREATE TABLE planningnow.cost_centres (
    id bigint NOT NULL,
    name text,
    type bigint,
    kalk_min_kosten numeric,
    nutzungsdauer numeric,
    last_change timestamptz,
    last_sync timestamptz,
    raw jsonb NOT NULL,
    _inserted_at timestamptz NOT NULL,
    _changed_at timestamptz NOT NULL,
    _deleted_at timestamptz,
    _run_id bigint NOT NULL,
    PRIMARY KEY (id)
);
COMMENT ON TABLE planningnow.cost_centres IS 'Cost centres (GET /api/cost-centre)';
COMMENT ON COLUMN planningnow.cost_centres.id IS 'Cost centre id';
COMMENT ON COLUMN planningnow.cost_centres.name IS 'Name of the cost centre';
COMMENT ON COLUMN planningnow.cost_centres.type IS 'Cost centre type';
COMMENT ON COLUMN planningnow.cost_centres.kalk_min_kosten IS 'Calculated cost per minute (served as kalkMinKosten or kalk_min_kosten)';
COMMENT ON COLUMN planningnow.cost_centres.nutzungsdauer IS 'Useful life';
COMMENT ON COLUMN planningnow.cost_centres.last_change IS 'Last change (local time converted with sources.planningnow.timezone)';
COMMENT ON COLUMN planningnow.cost_centres.last_sync IS 'Last sync on the PlanningNow side (local time converted)';
COMMENT ON COLUMN planningnow.cost_centres.raw IS 'The record exactly as served';
COMMENT ON COLUMN planningnow.cost_centres._inserted_at IS 'When tributary first stored this row';
COMMENT ON COLUMN planningnow.cost_centres._changed_at IS 'When the content last changed (a sync of unchanged data does not touch it)';
COMMENT ON COLUMN planningnow.cost_centres._deleted_at IS 'When the row vanished from a complete listing (soft delete); NULL while live; cleared if it comes back';
COMMENT ON COLUMN planningnow.cost_centres._run_id IS 'The run (tributary.sync_runs.id) that last wrote this row';

CREATE TABLE planningnow.documents (
    id bigint NOT NULL,
    area text,
    number text,
    filename text,
    filetype text,
    full_path text,
    creator text,
    creation_date date,
    do_print boolean,
    external boolean,
    folder_id bigint,
    mimetype text,
    raw jsonb NOT NULL,
    _inserted_at timestamptz NOT NULL,
    _changed_at timestamptz NOT NULL,
    _deleted_at timestamptz,
    _run_id bigint NOT NULL,
    PRIMARY KEY (id)
);
COMMENT ON TABLE planningnow.documents IS 'Document metadata (GET /api/documents); files are not downloaded';
COMMENT ON COLUMN planningnow.documents.id IS 'Document id';
COMMENT ON COLUMN planningnow.documents.area IS 'Area the document belongs to, e.g. order';
COMMENT ON COLUMN planningnow.documents.number IS 'Number of the object in that area, e.g. the order id';
COMMENT ON COLUMN planningnow.documents.filename IS 'File name without extension';
COMMENT ON COLUMN planningnow.documents.filetype IS 'File extension';
COMMENT ON COLUMN planningnow.documents.full_path IS 'Path in PlanningNow''s document store';
COMMENT ON COLUMN planningnow.documents.creator IS 'User who uploaded it';
COMMENT ON COLUMN planningnow.documents.creation_date IS 'Uploaded on';
COMMENT ON COLUMN planningnow.documents.do_print IS 'Printed with the document';
COMMENT ON COLUMN planningnow.documents.external IS 'Visible externally';
COMMENT ON COLUMN planningnow.documents.folder_id IS 'Folder (planningnow.document_folders.id)';
COMMENT ON COLUMN planningnow.documents.mimetype IS 'MIME type';
COMMENT ON COLUMN planningnow.documents.raw IS 'The record exactly as served';
COMMENT ON COLUMN planningnow.documents._inserted_at IS 'When tributary first stored this row';
COMMENT ON COLUMN planningnow.documents._changed_at IS 'When the content last changed (a sync of unchanged data does not touch it)';
COMMENT ON COLUMN planningnow.documents._deleted_at IS 'When the row vanished from a complete listing (soft delete); NULL while live; cleared if it comes back';
COMMENT ON COLUMN planningnow.documents._run_id IS 'The run (tributary.sync_runs.id) that last wrote this row';

CREATE TABLE planningnow.document_folders (
    id bigint NOT NULL,
    name text,
    area text,
    parent_id bigint,
    raw jsonb NOT NULL,
    _inserted_at timestamptz NOT NULL,
    _changed_at timestamptz NOT NULL,
    _deleted_at timestamptz,
    _run_id bigint NOT NULL,
    PRIMARY KEY (id)
);
COMMENT ON TABLE planningnow.document_folders IS 'Document folder tree (GET /api/documents/structure), one row per folder';
COMMENT ON COLUMN planningnow.document_folders.id IS 'Folder id';
COMMENT ON COLUMN planningnow.document_folders.name IS 'Folder name';
COMMENT ON COLUMN planningnow.document_folders.area IS 'Area of the folder tree';
COMMENT ON COLUMN planningnow.document_folders.parent_id IS 'Parent folder, NULL for a root';
COMMENT ON COLUMN planningnow.document_folders.raw IS 'The record exactly as served (without its children)';
COMMENT ON COLUMN planningnow.document_folders._inserted_at IS 'When tributary first stored this row';
COMMENT ON COLUMN planningnow.document_folders._changed_at IS 'When the content last changed (a sync of unchanged data does not touch it)';
COMMENT ON COLUMN planningnow.document_folders._deleted_at IS 'When the row vanished from a complete listing (soft delete); NULL while live; cleared if it comes back';
COMMENT ON COLUMN planningnow.document_folders._run_id IS 'The run (tributary.sync_runs.id) that last wrote this row';
