-- Aimsio: objects pulled by updatedAt deltas (list, then details of new or changed objects).
CREATE SCHEMA IF NOT EXISTS aimsio;
COMMENT ON SCHEMA aimsio IS 'Aimsio data synced by tributary; filter _deleted_at IS NULL for live rows';

CREATE TABLE aimsio.job_orders (
    guid text NOT NULL,
    dtype text,
    updated_at timestamptz NOT NULL,
    job_id bigint,
    job_guid text,
    job_number text,
    job_name text,
    job_description text,
    job_status text,
    job_type_uname text,
    job_client_code text,
    job_client_guid text,
    job_client_name text,
    job_price_book_name text,
    job_price_book_guid text,
    job_start_date timestamptz,
    job_end_date timestamptz,
    job_created_at timestamptz,
    job_updated_at timestamptz,
    job_show_in_dispatching boolean,
    job_assignee_employee_number text,
    job_assignee_full_name text,
    job_assignee_user_name text,
    job_address text,
    job_location_code text,
    job_location_name text,
    job_location_lat numeric,
    job_location_long numeric,
    job_direction text,
    job_wbs_schedule jsonb,
    raw jsonb NOT NULL,
    _inserted_at timestamptz NOT NULL,
    _changed_at timestamptz NOT NULL,
    _deleted_at timestamptz,
    _run_id bigint NOT NULL,
    PRIMARY KEY (guid)
);
COMMENT ON TABLE aimsio.job_orders IS 'Job orders (GET /rest/api/standard/v1/JobOrder)';
COMMENT ON COLUMN aimsio.job_orders.guid IS 'The object''s id from the list (guid, or id where the list serves that)';
COMMENT ON COLUMN aimsio.job_orders.dtype IS 'Object type from the list';
COMMENT ON COLUMN aimsio.job_orders.updated_at IS 'Last update (epoch ms from the list, or the detail''s own stamp when that is newer), exact to the millisecond';
COMMENT ON COLUMN aimsio.job_orders.job_id IS 'Numeric job id (jobId)';
COMMENT ON COLUMN aimsio.job_orders.job_guid IS 'Job system id (jobGuid)';
COMMENT ON COLUMN aimsio.job_orders.job_number IS 'Job number (user id) (jobNumber)';
COMMENT ON COLUMN aimsio.job_orders.job_name IS 'Job name (jobName)';
COMMENT ON COLUMN aimsio.job_orders.job_description IS 'Description (jobDescription)';
COMMENT ON COLUMN aimsio.job_orders.job_status IS 'Unassigned, Assigned, Active, Finished, Cancelled or Deleted (jobStatus)';
COMMENT ON COLUMN aimsio.job_orders.job_type_uname IS 'Job type (jobTypeUname)';
COMMENT ON COLUMN aimsio.job_orders.job_client_code IS 'Client code (jobClientCode)';
COMMENT ON COLUMN aimsio.job_orders.job_client_guid IS 'Client system id (jobClientGuid)';
COMMENT ON COLUMN aimsio.job_orders.job_client_name IS 'Client name (jobClientName)';
COMMENT ON COLUMN aimsio.job_orders.job_price_book_name IS 'Price book (jobPriceBookName)';
COMMENT ON COLUMN aimsio.job_orders.job_price_book_guid IS 'Price book system id (jobPriceBookGuid)';
COMMENT ON COLUMN aimsio.job_orders.job_start_date IS 'Start (jobStartDate)';
COMMENT ON COLUMN aimsio.job_orders.job_end_date IS 'End (jobEndDate)';
COMMENT ON COLUMN aimsio.job_orders.job_created_at IS 'Created at (jobCreatedAt)';
COMMENT ON COLUMN aimsio.job_orders.job_updated_at IS 'Updated at (the detail''s own stamp) (jobUpdatedAt)';
COMMENT ON COLUMN aimsio.job_orders.job_show_in_dispatching IS 'Shown in dispatching (jobShowInDispatching)';
COMMENT ON COLUMN aimsio.job_orders.job_assignee_employee_number IS 'Assignee employee number (jobAssigneeEmployeeNumber)';
COMMENT ON COLUMN aimsio.job_orders.job_assignee_full_name IS 'Assignee name (jobAssigneeFullName)';
COMMENT ON COLUMN aimsio.job_orders.job_assignee_user_name IS 'Assignee user name (jobAssigneeUserName)';
COMMENT ON COLUMN aimsio.job_orders.job_address IS 'Address (jobAddress)';
COMMENT ON COLUMN aimsio.job_orders.job_location_code IS 'Location code (jobLocationCode)';
COMMENT ON COLUMN aimsio.job_orders.job_location_name IS 'Location name (jobLocationName)';
COMMENT ON COLUMN aimsio.job_orders.job_location_lat IS 'Latitude (jobLocationLat)';
COMMENT ON COLUMN aimsio.job_orders.job_location_long IS 'Longitude (jobLocationLong)';
COMMENT ON COLUMN aimsio.job_orders.job_direction IS 'Directions (jobDirection)';
COMMENT ON COLUMN aimsio.job_orders.job_wbs_schedule IS 'WBS schedule object as served (jobWBSSchedule)';
COMMENT ON COLUMN aimsio.job_orders.raw IS 'The detail object exactly as served (GET one)';
COMMENT ON COLUMN aimsio.job_orders._inserted_at IS 'When tributary first stored this row';
COMMENT ON COLUMN aimsio.job_orders._changed_at IS 'When the content last changed';
COMMENT ON COLUMN aimsio.job_orders._deleted_at IS 'When the object vanished from a complete list or its detail answered 404 (soft delete); NULL while live';
COMMENT ON COLUMN aimsio.job_orders._run_id IS 'The run (tributary.sync_runs.id) that last wrote this row';

CREATE TABLE aimsio.employees (
    guid text NOT NULL,
    dtype text,
    updated_at timestamptz NOT NULL,
    employee_guid text,
    employee_code text,
    employment_type text,
    employee_status_uname text,
    employee_first_name text,
    employee_last_name text,
    employee_nick_name text,
    employee_trade_guid text,
    employee_trade_code text,
    employment_hire_date timestamptz,
    employment_termination_date timestamptz,
    employee_email text,
    employee_phone text,
    employee_created_at timestamptz,
    employee_updated_at timestamptz,
    employee_form_data jsonb,
    raw jsonb NOT NULL,
    _inserted_at timestamptz NOT NULL,
    _changed_at timestamptz NOT NULL,
    _deleted_at timestamptz,
    _run_id bigint NOT NULL,
    PRIMARY KEY (guid)
);
COMMENT ON TABLE aimsio.employees IS 'Employees (GET /rest/api/standard/v1/Employee)';
COMMENT ON COLUMN aimsio.employees.guid IS 'The object''s id from the list (guid, or id where the list serves that)';
COMMENT ON COLUMN aimsio.employees.dtype IS 'Object type from the list';
COMMENT ON COLUMN aimsio.employees.updated_at IS 'Last update (epoch ms from the list, or the detail''s own stamp when that is newer), exact to the millisecond';
COMMENT ON COLUMN aimsio.employees.employee_guid IS 'Employee system id (employeeGuid)';
COMMENT ON COLUMN aimsio.employees.employee_code IS 'Employee code (user id) (employeeCode)';
COMMENT ON COLUMN aimsio.employees.employment_type IS 'Employment type (employmentType)';
COMMENT ON COLUMN aimsio.employees.employee_status_uname IS 'Status (employeeStatusUname)';
COMMENT ON COLUMN aimsio.employees.employee_first_name IS 'First name (employeeFirstName)';
COMMENT ON COLUMN aimsio.employees.employee_last_name IS 'Last name (employeeLastName)';
COMMENT ON COLUMN aimsio.employees.employee_nick_name IS 'Nickname (employeeNickName)';
COMMENT ON COLUMN aimsio.employees.employee_trade_guid IS 'Trade system id (employeeTradeGuid)';
COMMENT ON COLUMN aimsio.employees.employee_trade_code IS 'Trade code (employeeTradeCode)';
COMMENT ON COLUMN aimsio.employees.employment_hire_date IS 'Hired on (employmentHireDate)';
COMMENT ON COLUMN aimsio.employees.employment_termination_date IS 'Terminated on (employmentTerminationDate)';
COMMENT ON COLUMN aimsio.employees.employee_email IS 'E-mail (employeeEmail)';
COMMENT ON COLUMN aimsio.employees.employee_phone IS 'Phone (employeePhone)';
COMMENT ON COLUMN aimsio.employees.employee_created_at IS 'Created at (employeeCreatedAt)';
COMMENT ON COLUMN aimsio.employees.employee_updated_at IS 'Updated at (the detail''s own stamp) (employeeUpdatedAt)';
COMMENT ON COLUMN aimsio.employees.employee_form_data IS 'Custom fields as served (employeeFormData)';
COMMENT ON COLUMN aimsio.employees.raw IS 'The detail object exactly as served (GET one)';
COMMENT ON COLUMN aimsio.employees._inserted_at IS 'When tributary first stored this row';
COMMENT ON COLUMN aimsio.employees._changed_at IS 'When the content last changed';
COMMENT ON COLUMN aimsio.employees._deleted_at IS 'When the object vanished from a complete list or its detail answered 404 (soft delete); NULL while live';
COMMENT ON COLUMN aimsio.employees._run_id IS 'The run (tributary.sync_runs.id) that last wrote this row';

CREATE TABLE aimsio.nrbs (
    guid text NOT NULL,
    dtype text,
    updated_at timestamptz NOT NULL,
    nrb_guid text,
    nrb_external_id text,
    nrb_job_order_number text,
    nrb_name text,
    nrb_type_uname text,
    nrb_account_type text,
    nrb_is_billable boolean,
    nrb_vendor_code text,
    nrb_rate numeric,
    nrb_quantity numeric,
    nrb_vendor_tax numeric,
    nrb_upcharge numeric,
    nrb_po_number text,
    nrb_invoice_number text,
    nrb_invoice_date timestamptz,
    nrb_is_exported boolean,
    raw jsonb NOT NULL,
    _inserted_at timestamptz NOT NULL,
    _changed_at timestamptz NOT NULL,
    _deleted_at timestamptz,
    _run_id bigint NOT NULL,
    PRIMARY KEY (guid)
);
COMMENT ON TABLE aimsio.nrbs IS 'Non-recurring billables (GET /rest/api/standard/v1/NRB)';
COMMENT ON COLUMN aimsio.nrbs.guid IS 'The object''s id from the list (guid, or id where the list serves that)';
COMMENT ON COLUMN aimsio.nrbs.dtype IS 'Object type from the list';
COMMENT ON COLUMN aimsio.nrbs.updated_at IS 'Last update (epoch ms from the list, or the detail''s own stamp when that is newer), exact to the millisecond';
COMMENT ON COLUMN aimsio.nrbs.nrb_guid IS 'NRB system id (nrbGuid)';
COMMENT ON COLUMN aimsio.nrbs.nrb_external_id IS 'External id (nrbExternalId)';
COMMENT ON COLUMN aimsio.nrbs.nrb_job_order_number IS 'Job order number (nrbJobOrderNumber)';
COMMENT ON COLUMN aimsio.nrbs.nrb_name IS 'Name (nrbName)';
COMMENT ON COLUMN aimsio.nrbs.nrb_type_uname IS 'Type (nrbTypeUname)';
COMMENT ON COLUMN aimsio.nrbs.nrb_account_type IS 'Billable or Not Billable (nrbAccountType)';
COMMENT ON COLUMN aimsio.nrbs.nrb_is_billable IS 'Billable (nrbIsBillable)';
COMMENT ON COLUMN aimsio.nrbs.nrb_vendor_code IS 'Vendor code (nrbVendorCode)';
COMMENT ON COLUMN aimsio.nrbs.nrb_rate IS 'Rate (nrbRate)';
COMMENT ON COLUMN aimsio.nrbs.nrb_quantity IS 'Quantity (nrbQuantity)';
COMMENT ON COLUMN aimsio.nrbs.nrb_vendor_tax IS 'Vendor tax (nrbVendorTax)';
COMMENT ON COLUMN aimsio.nrbs.nrb_upcharge IS 'Upcharge (nrbUpcharge)';
COMMENT ON COLUMN aimsio.nrbs.nrb_po_number IS 'Purchase order number (nrbPONumber)';
COMMENT ON COLUMN aimsio.nrbs.nrb_invoice_number IS 'Invoice number (nrbInvoiceNumber)';
COMMENT ON COLUMN aimsio.nrbs.nrb_invoice_date IS 'Invoice date (nrbInvoiceDate)';
COMMENT ON COLUMN aimsio.nrbs.nrb_is_exported IS 'Exported (nrbIsExported)';
COMMENT ON COLUMN aimsio.nrbs.raw IS 'The detail object exactly as served (GET one)';
COMMENT ON COLUMN aimsio.nrbs._inserted_at IS 'When tributary first stored this row';
COMMENT ON COLUMN aimsio.nrbs._changed_at IS 'When the content last changed';
COMMENT ON COLUMN aimsio.nrbs._deleted_at IS 'When the object vanished from a complete list or its detail answered 404 (soft delete); NULL while live';
COMMENT ON COLUMN aimsio.nrbs._run_id IS 'The run (tributary.sync_runs.id) that last wrote this row';

CREATE TABLE aimsio.billable_items (
    guid text NOT NULL,
    dtype text,
    updated_at timestamptz NOT NULL,
    billable_item_guid text,
    billable_item_code text,
    billable_item_name text,
    billable_item_type_uname text,
    billable_item_category text,
    billable_item_description text,
    billable_item_status text,
    billable_item_default_rate numeric,
    raw jsonb NOT NULL,
    _inserted_at timestamptz NOT NULL,
    _changed_at timestamptz NOT NULL,
    _deleted_at timestamptz,
    _run_id bigint NOT NULL,
    PRIMARY KEY (guid)
);
COMMENT ON TABLE aimsio.billable_items IS 'Billable items (GET /rest/api/standard/v1/BillableItem)';
COMMENT ON COLUMN aimsio.billable_items.guid IS 'The object''s id from the list (guid, or id where the list serves that)';
COMMENT ON COLUMN aimsio.billable_items.dtype IS 'Object type from the list';
COMMENT ON COLUMN aimsio.billable_items.updated_at IS 'Last update (epoch ms from the list, or the detail''s own stamp when that is newer), exact to the millisecond';
COMMENT ON COLUMN aimsio.billable_items.billable_item_guid IS 'Billable item system id (billableItemGuid)';
COMMENT ON COLUMN aimsio.billable_items.billable_item_code IS 'Code (billableItemCode)';
COMMENT ON COLUMN aimsio.billable_items.billable_item_name IS 'Name (billableItemName)';
COMMENT ON COLUMN aimsio.billable_items.billable_item_type_uname IS 'labour, equipment, material, service, unit_billing, per_diem, accommodation, mileage or surcharge (billableItemTypeUname)';
COMMENT ON COLUMN aimsio.billable_items.billable_item_category IS 'Category (billableItemCategory)';
COMMENT ON COLUMN aimsio.billable_items.billable_item_description IS 'Description (billableItemDescription)';
COMMENT ON COLUMN aimsio.billable_items.billable_item_status IS 'Status (billableItemStatus)';
COMMENT ON COLUMN aimsio.billable_items.billable_item_default_rate IS 'Default rate (billableItemDefaultRate)';
COMMENT ON COLUMN aimsio.billable_items.raw IS 'The detail object exactly as served (GET one)';
COMMENT ON COLUMN aimsio.billable_items._inserted_at IS 'When tributary first stored this row';
COMMENT ON COLUMN aimsio.billable_items._changed_at IS 'When the content last changed';
COMMENT ON COLUMN aimsio.billable_items._deleted_at IS 'When the object vanished from a complete list or its detail answered 404 (soft delete); NULL while live';
COMMENT ON COLUMN aimsio.billable_items._run_id IS 'The run (tributary.sync_runs.id) that last wrote this row';

CREATE TABLE aimsio.objects (
    entity text NOT NULL,
    guid text NOT NULL,
    dtype text,
    updated_at timestamptz NOT NULL,
    raw jsonb NOT NULL,
    _inserted_at timestamptz NOT NULL,
    _changed_at timestamptz NOT NULL,
    _deleted_at timestamptz,
    _run_id bigint NOT NULL,
    PRIMARY KEY (entity, guid)
);
COMMENT ON TABLE aimsio.objects IS 'Objects of every configured entity without a typed table (Equipment, Invoice, Timecard, ...), kept whole in raw';
COMMENT ON COLUMN aimsio.objects.entity IS 'Entity path name, e.g. Invoice';
COMMENT ON COLUMN aimsio.objects.guid IS 'The object''s id from the list (guid, or id where the list serves that)';
COMMENT ON COLUMN aimsio.objects.dtype IS 'Object type from the list';
COMMENT ON COLUMN aimsio.objects.updated_at IS 'Last update (epoch ms from the list, or the detail''s own stamp when that is newer), exact to the millisecond';
COMMENT ON COLUMN aimsio.objects.raw IS 'The detail object exactly as served (GET one)';
COMMENT ON COLUMN aimsio.objects._inserted_at IS 'When tributary first stored this row';
COMMENT ON COLUMN aimsio.objects._changed_at IS 'When the content last changed';
COMMENT ON COLUMN aimsio.objects._deleted_at IS 'When the object vanished from a complete list or its detail answered 404 (soft delete); NULL while live';
COMMENT ON COLUMN aimsio.objects._run_id IS 'The run (tributary.sync_runs.id) that last wrote this row';
