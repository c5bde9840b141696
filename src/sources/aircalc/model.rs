//! aircalc's record shapes (assumed, see shared/api/README.md) as table specs. The one place
//! to correct when a real account serves something else (keep `migrations/*_aircalc.sql` in
//! step; a test compares them).

use crate::sync::full_listing::ListingStream;
use crate::sync::refresh::Parts;
use crate::sync::table::{ColType::*, Column as C, Table};

/// Field under which a BOM line gets the project of its position.
pub const BOM_PROJECT: &str = "__project_no";

fn table(name: &'static str, key: Vec<C>, inherited: usize, columns: Vec<C>) -> Table {
    Table {
        name,
        key,
        inherited,
        columns,
        children: vec![],
        recursive: None,
    }
}

/// A project with its positions (GET project-by-no/v0/{projectNo}).
pub fn projects() -> Table {
    let positions = table(
        "aircalc.positions",
        vec![
            C::new("project_no", Text),
            C::new("pos_no", Text).from(&["posNo"]),
        ],
        1,
        vec![
            C::new("external_ref", Text).from(&["externalRef"]),
            C::new("description", Text),
            C::new("quantity", Numeric),
            C::new("unit_type", Text).from(&["ahu.unitType"]),
            C::new("airflow_supply", Numeric).from(&["ahu.airflowSupply"]),
            C::new("airflow_extract", Numeric).from(&["ahu.airflowExtract"]),
            C::new("width_mm", Numeric).from(&["ahu.widthMm"]),
            C::new("height_mm", Numeric).from(&["ahu.heightMm"]),
            C::new("length_mm", Numeric).from(&["ahu.lengthMm"]),
            C::new("weight_kg", Numeric).from(&["ahu.weightKg"]),
            C::new("price_net", Numeric).from(&["ahu.priceNet"]),
        ],
    );
    let mut projects = table(
        "aircalc.projects",
        vec![C::new("project_no", Text).from(&["projectNo"])],
        0,
        vec![
            C::new("external_ref", Text).from(&["externalRef"]),
            C::new("name", Text),
            C::new("customer_name", Text).from(&["customerName"]),
            C::new("created_by", Int).from(&["createdBy"]),
            C::new("created_at", LocalTimestamp).from(&["createdAt"]),
            C::new("updated_at", LocalTimestamp).from(&["updatedAt"]),
        ],
    );
    projects.children.push(("positions", positions));
    projects
}

/// Lines of a position's bill of materials (GET ahu-bom-by-pos-no/v0/{posNo}).
pub fn bom_lines() -> Table {
    table(
        "aircalc.bom_lines",
        vec![
            C::new("pos_no", Text),
            C::new("line_no", Int).from(&["lineNo"]),
        ],
        1,
        vec![
            C::new("project_no", Text).from(&[BOM_PROJECT]),
            C::new("article_no", Text).from(&["articleNo"]),
            C::new("description", Text),
            C::new("quantity", Numeric),
            C::new("unit", Text),
        ],
    )
}

/// Each position's bill of materials, fetched with its project.
pub fn boms() -> Parts {
    Parts {
        name: "bom",
        of: "positions",
        named_by: "posNo",
        path: "/ahu-bom-by-pos-no/v0/",
        lines: "lines",
        line_key: "lineNo",
        object_field: BOM_PROJECT,
        table: bom_lines(),
    }
}

/// Users by id (GET users-by-id/v0?ids=…).
pub fn users() -> Table {
    table(
        "aircalc.users",
        vec![C::new("id", Int)],
        0,
        vec![C::new("name", Text), C::new("email", Text)],
    )
}

/// The one listing of every project's positions (GET pos-rows-aggregated/v0).
pub fn pos_rows() -> ListingStream {
    ListingStream {
        name: "pos_rows",
        path: "/pos-rows-aggregated/v0",
        envelope: None,
        table: table(
            "aircalc.pos_rows",
            vec![
                C::new("project_no", Text).from(&["projectNo"]),
                C::new("pos_no", Text).from(&["posNo"]),
            ],
            0,
            vec![
                C::new("project_external_ref", Text).from(&["projectExternalRef"]),
                C::new("pos_external_ref", Text).from(&["posExternalRef"]),
                C::new("description", Text),
                C::new("quantity", Numeric),
                C::new("unit_type", Text).from(&["unitType"]),
                C::new("updated_at", LocalTimestamp).from(&["updatedAt"]),
            ],
        ),
    }
}

/// Every table spec, for the schema check.
pub fn all_tables() -> Vec<Table> {
    vec![projects(), bom_lines(), users(), pos_rows().table]
}
