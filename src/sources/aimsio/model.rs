//! Aimsio's record shapes as table specs: the four entities with typed tables (their
//! documented, entity-prefixed fields in snake_case) and `aimsio.objects` for every other
//! entity. The one place to correct when a real account serves something else (keep
//! `migrations/*_aimsio.sql` in step; a test compares them).

use crate::sync::delta::{LIST_DTYPE, LIST_UPDATED_AT};
use crate::sync::table::{ColType, ColType::*, Column, Table};

/// Entities with a typed table: (entity, table, [(column, type, field)]).
type Typed = (
    &'static str,
    &'static str,
    &'static [(&'static str, ColType, &'static str)],
);

const TYPED: &[Typed] = &[
    (
        "JobOrder",
        "aimsio.job_orders",
        &[
            ("job_id", Int, "jobId"),
            ("job_guid", Text, "jobGuid"),
            ("job_number", Text, "jobNumber"),
            ("job_name", Text, "jobName"),
            ("job_description", Text, "jobDescription"),
            ("job_status", Text, "jobStatus"),
            ("job_type_uname", Text, "jobTypeUname"),
            ("job_client_code", Text, "jobClientCode"),
            ("job_client_guid", Text, "jobClientGuid"),
            ("job_client_name", Text, "jobClientName"),
            ("job_price_book_name", Text, "jobPriceBookName"),
            ("job_price_book_guid", Text, "jobPriceBookGuid"),
            ("job_start_date", EpochMillis, "jobStartDate"),
            ("job_end_date", EpochMillis, "jobEndDate"),
            ("job_created_at", EpochMillis, "jobCreatedAt"),
            ("job_updated_at", EpochMillis, "jobUpdatedAt"),
            ("job_show_in_dispatching", Bool, "jobShowInDispatching"),
            (
                "job_assignee_employee_number",
                Text,
                "jobAssigneeEmployeeNumber",
            ),
            ("job_assignee_full_name", Text, "jobAssigneeFullName"),
            ("job_assignee_user_name", Text, "jobAssigneeUserName"),
            ("job_address", Text, "jobAddress"),
            ("job_location_code", Text, "jobLocationCode"),
            ("job_location_name", Text, "jobLocationName"),
            ("job_location_lat", Numeric, "jobLocationLat"),
            ("job_location_long", Numeric, "jobLocationLong"),
            ("job_direction", Text, "jobDirection"),
            ("job_wbs_schedule", Json, "jobWBSSchedule"),
        ],
    ),
    (
        "Employee",
        "aimsio.employees",
        &[
            ("employee_guid", Text, "employeeGuid"),
            ("employee_code", Text, "employeeCode"),
            ("employment_type", Text, "employmentType"),
            ("employee_status_uname", Text, "employeeStatusUname"),
            ("employee_first_name", Text, "employeeFirstName"),
            ("employee_last_name", Text, "employeeLastName"),
            ("employee_nick_name", Text, "employeeNickName"),
            ("employee_trade_guid", Text, "employeeTradeGuid"),
            ("employee_trade_code", Text, "employeeTradeCode"),
            ("employment_hire_date", EpochMillis, "employmentHireDate"),
            (
                "employment_termination_date",
                EpochMillis,
                "employmentTerminationDate",
            ),
            ("employee_email", Text, "employeeEmail"),
            ("employee_phone", Text, "employeePhone"),
            ("employee_created_at", EpochMillis, "employeeCreatedAt"),
            ("employee_updated_at", EpochMillis, "employeeUpdatedAt"),
            ("employee_form_data", Json, "employeeFormData"),
        ],
    ),
    (
        "NRB",
        "aimsio.nrbs",
        &[
            ("nrb_guid", Text, "nrbGuid"),
            ("nrb_external_id", Text, "nrbExternalId"),
            ("nrb_job_order_number", Text, "nrbJobOrderNumber"),
            ("nrb_name", Text, "nrbName"),
            ("nrb_type_uname", Text, "nrbTypeUname"),
            ("nrb_account_type", Text, "nrbAccountType"),
            ("nrb_is_billable", Bool, "nrbIsBillable"),
            ("nrb_vendor_code", Text, "nrbVendorCode"),
            ("nrb_rate", Numeric, "nrbRate"),
            ("nrb_quantity", Numeric, "nrbQuantity"),
            ("nrb_vendor_tax", Numeric, "nrbVendorTax"),
            ("nrb_upcharge", Numeric, "nrbUpcharge"),
            ("nrb_po_number", Text, "nrbPONumber"),
            ("nrb_invoice_number", Text, "nrbInvoiceNumber"),
            ("nrb_invoice_date", EpochMillis, "nrbInvoiceDate"),
            ("nrb_is_exported", Bool, "nrbIsExported"),
        ],
    ),
    (
        "BillableItem",
        "aimsio.billable_items",
        &[
            ("billable_item_guid", Text, "billableItemGuid"),
            ("billable_item_code", Text, "billableItemCode"),
            ("billable_item_name", Text, "billableItemName"),
            ("billable_item_type_uname", Text, "billableItemTypeUname"),
            ("billable_item_category", Text, "billableItemCategory"),
            ("billable_item_description", Text, "billableItemDescription"),
            ("billable_item_status", Text, "billableItemStatus"),
            (
                "billable_item_default_rate",
                Numeric,
                "billableItemDefaultRate",
            ),
        ],
    ),
];

/// The columns every Aimsio table has before its typed ones.
fn list_columns() -> Vec<Column> {
    vec![
        Column::new("dtype", Text).from(&[LIST_DTYPE]),
        Column::new("updated_at", EpochMillis).from(&[LIST_UPDATED_AT]),
    ]
}

/// The table an entity lands in; the bool says whether it is `aimsio.objects`, keyed by
/// entity first.
pub fn table_for(entity: &str) -> (Table, bool) {
    match TYPED.iter().find(|(name, _, _)| *name == entity) {
        Some((_, table, fields)) => {
            let mut columns = list_columns();
            columns.extend(
                fields.iter().map(|(name, ty, field)| {
                    Column::new(name, *ty).from(std::slice::from_ref(field))
                }),
            );
            (
                Table {
                    name: table,
                    key: vec![Column::new("guid", Text)],
                    inherited: 0,
                    columns,
                    children: vec![],
                    recursive: None,
                },
                false,
            )
        }
        None => (
            Table {
                name: "aimsio.objects",
                key: vec![Column::new("entity", Text), Column::new("guid", Text)],
                inherited: 1,
                columns: list_columns(),
                children: vec![],
                recursive: None,
            },
            true,
        ),
    }
}

/// Every table spec, for the schema check.
pub fn all_tables() -> Vec<Table> {
    TYPED
        .iter()
        .map(|(entity, _, _)| table_for(entity).0)
        .chain([table_for("Invoice").0])
        .collect()
}

/// The view inferred for an entity stored in `aimsio.objects`: its name in snake case and
/// plural (`Timecard` → `aimsio.timecards`, `Equipment` → `aimsio.equipment`).
pub fn view_for(entity: &str) -> String {
    let snake = crate::sync::catalogue::snake_case(entity);
    let plural = if ["equipment", "staff", "data", "information", "personnel"]
        .iter()
        .any(|w| snake.ends_with(w))
        || snake.ends_with('s')
    {
        snake
    } else if let Some(stem) = snake
        .strip_suffix('y')
        .filter(|s| !s.ends_with(['a', 'e', 'i', 'o', 'u']))
    {
        format!("{stem}ies")
    } else if ["x", "ch", "sh"].iter().any(|e| snake.ends_with(e)) {
        format!("{snake}es")
    } else {
        format!("{snake}s")
    };
    format!("aimsio.{plural}")
}

#[cfg(test)]
mod view_tests {
    use super::view_for;

    #[test]
    fn entity_views_are_snake_case_plurals() {
        assert_eq!(view_for("Timecard"), "aimsio.timecards");
        assert_eq!(view_for("Invoice"), "aimsio.invoices");
        assert_eq!(view_for("Equipment"), "aimsio.equipment");
        assert_eq!(
            view_for("WorkOrderCategory"),
            "aimsio.work_order_categories"
        );
        assert_eq!(view_for("Tax"), "aimsio.taxes");
        assert_eq!(view_for("Day"), "aimsio.days");
    }
}
