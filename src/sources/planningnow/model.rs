//! PlanningNow's record shapes as table specs: which field lands in which typed column of
//! which `planningnow.*` table. This is the one place to correct when a real tenant serves
//! something else (keep `migrations/*_planningnow.sql` in step; a test compares them).

use crate::sync::full_listing::ListingStream;
use crate::sync::table::{ColType::*, Column as C, Table};

fn positions() -> Vec<C> {
    vec![
        C::new("pos_no", Numeric),
        C::new("article_number", Text),
        C::new("article_desc", Text),
        C::new("amount", Numeric),
        C::new("unit", Text),
        C::new("unit_price", Numeric),
        C::new("discount", Numeric),
        C::new("unit_price_disc", Numeric),
        C::new("netto", Numeric),
        C::new("deliv_date", Date),
        C::new("mwst_percent", Numeric),
        C::new("brutto", Numeric),
        C::new("remarks", Text),
    ]
}

fn tasks() -> Vec<C> {
    vec![
        C::new("kalk_id", Int),
        C::new("kalk_type", Int),
        C::new("cost_centre_name", Text),
        C::new("activity_name", Text),
        C::new("min_ruest", Numeric),
        C::new("min_wage", Numeric),
        C::new("min_masch", Numeric),
        C::new("production_start", LocalTimestamp),
        C::new("production_end", LocalTimestamp),
    ]
}

/// Orders and offers share their nesting: positions with tasks, keyed under the parent.
fn document_with_positions(prefix: &'static str, parent: &'static str, columns: Vec<C>) -> Table {
    let (name, positions_table, tasks_table) = match prefix {
        "order" => (
            "planningnow.orders",
            "planningnow.order_positions",
            "planningnow.order_position_tasks",
        ),
        _ => (
            "planningnow.offers",
            "planningnow.offer_positions",
            "planningnow.offer_position_tasks",
        ),
    };
    let tasks = Table {
        name: tasks_table,
        key: vec![
            C::new(parent, Int),
            C::new("position_id", Int),
            C::new("id", Int),
        ],
        inherited: 2,
        columns: tasks(),
        children: vec![],
        recursive: None,
    };
    let positions = Table {
        name: positions_table,
        key: vec![C::new(parent, Int), C::new("id", Int)],
        inherited: 1,
        columns: positions(),
        children: vec![("tasks", tasks)],
        recursive: None,
    };
    Table {
        name,
        key: vec![C::new("id", Int)],
        inherited: 0,
        columns,
        children: vec![("positions", positions)],
        recursive: None,
    }
}

fn flat(name: &'static str, columns: Vec<C>) -> Table {
    Table {
        name,
        key: vec![C::new("id", Int)],
        inherited: 0,
        columns,
        children: vec![],
        recursive: None,
    }
}

/// Every PlanningNow stream, in the order a pass runs them.
pub fn streams() -> Vec<ListingStream> {
    let zu_haenden = C::new("zu_haenden", Text).from(&["zuHaenden", "zu_haenden"]);
    let orders = document_with_positions(
        "order",
        "order_id",
        vec![
            C::new("o_conf_date", Date),
            C::new("employee_no", Int),
            zu_haenden.clone(),
            C::new("addressfield_1", Text),
            C::new("customer_no", Int),
            C::new("project_no", Text),
            C::new("subject", Text),
            C::new("netto", Numeric),
            C::new("ges_netto", Numeric),
            C::new("ges_rabatt", Numeric),
            C::new("pay_term_id", Int),
            C::new("pay_term_text", Text),
            C::new("delivery_date", Date),
            C::new("short_info", Text),
        ],
    );
    let offers = document_with_positions(
        "offer",
        "offer_id",
        vec![
            C::new("offer_date", Date),
            C::new("employee_no", Int),
            zu_haenden,
            C::new("customer_no", Int),
            C::new("project_no", Text),
            C::new("lead_text", Text),
            C::new("followup_text", Text),
            C::new("date_desired", Date),
            C::new("delivery_date", Date),
            C::new("netto", Numeric),
            C::new("ges_netto", Numeric),
            C::new("ges_rabatt", Numeric),
            C::new("info", Text),
            C::new("pay_term_id", Int),
            C::new("pay_term_text", Text),
        ],
    );
    let mut work_schedules = flat(
        "planningnow.work_schedules",
        [
            ("name", Text),
            ("creation_date", Date),
            ("last_change_date", Date),
            ("sum_min_ruest", Numeric),
            ("sum_min", Numeric),
            ("sum_cost_ruest", Numeric),
            ("sum_cost_wage", Numeric),
            ("sum_min_masch", Numeric),
            ("sum_cost_masch", Numeric),
            ("sum_cost_fremdfert", Numeric),
            ("sum_cost", Numeric),
            ("los_stueck", Numeric),
            ("sum_min_wage", Numeric),
            ("costperone", Numeric),
            ("hoursperday", Numeric),
            ("sum_min_setup", Numeric),
            ("sum_cost_setup", Numeric),
            ("wage_factor", Numeric),
        ]
        .into_iter()
        .map(|(n, t)| C::new(n, t))
        .collect(),
    );
    work_schedules.children.push((
        "positions",
        Table {
            name: "planningnow.work_schedule_positions",
            key: vec![
                C::new("work_schedule_id", Int),
                C::new("position_id", Int).from(&["id"]),
            ],
            inherited: 1,
            columns: vec![],
            children: vec![],
            recursive: None,
        },
    ));
    let cost_centres = flat(
        "planningnow.cost_centres",
        vec![
            C::new("name", Text),
            C::new("type", Int),
            C::new("kalk_min_kosten", Numeric).from(&["kalkMinKosten", "kalk_min_kosten"]),
            C::new("nutzungsdauer", Numeric),
            C::new("last_change", LocalTimestamp),
            C::new("last_sync", LocalTimestamp),
        ],
    );
    let documents = flat(
        "planningnow.documents",
        vec![
            C::new("area", Text),
            C::new("number", Text),
            C::new("filename", Text),
            C::new("filetype", Text),
            C::new("full_path", Text),
            C::new("creator", Text),
            C::new("creation_date", Date),
            C::new("do_print", Bool),
            C::new("external", Bool),
            C::new("folder_id", Int),
            C::new("mimetype", Text),
        ],
    );
    let mut folders = flat(
        "planningnow.document_folders",
        vec![
            C::new("name", Text),
            C::new("area", Text),
            C::new("parent_id", Int),
        ],
    );
    folders.recursive = Some("children");
    vec![
        ListingStream {
            name: "orders",
            path: "/api/order",
            envelope: None,
            table: orders,
        },
        ListingStream {
            name: "offers",
            path: "/api/offer",
            envelope: None,
            table: offers,
        },
        ListingStream {
            name: "work_schedules",
            path: "/api/work-schedule",
            envelope: None,
            table: work_schedules,
        },
        ListingStream {
            name: "cost_centres",
            path: "/api/cost-centre",
            envelope: None,
            table: cost_centres,
        },
        ListingStream {
            name: "documents",
            path: "/api/documents",
            envelope: Some("documents"),
            table: documents,
        },
        ListingStream {
            name: "document_folders",
            path: "/api/documents/structure",
            envelope: Some("tree"),
            table: folders,
        },
    ]
}
