//! Aimsio fake data: generation of job orders (with assignee, location and WBS schedule),
//! NRBs (non-recurring billables, decimals of varying scale) and invoices (exact totals).

use serde::Serialize;
use serde_json::Number;

use super::model::{Context, DAY, Stamp, catalogue_guid, day, guid as new_guid};
use crate::rng::Rng;
use crate::values::number;

const CLIENTS: [(&str, &str); 8] = [
    ("C-1001", "Société Énergie Québec"),
    ("C-1002", "Nordström Drilling AB"),
    ("C-1003", "Müller Öl & Gas GmbH"),
    ("C-1004", "Peace River Midstream Ltd."),
    ("C-1005", "東京ガス開発 (Canada) Inc."),
    ("C-1006", "Łukasiewicz Pipelines Sp. z o.o."),
    ("C-1007", "O'Hara & Sons Trucking"),
    ("C-1008", "Cree Nation Energy Services"),
];
const CLIENT_TABLE: u64 = 1;
const PRICE_BOOKS: [&str; 3] = [
    "Standard 2024",
    "Tarif Québec 2025",
    "Frame Agreement – Nordström",
];
const PRICE_BOOK_TABLE: u64 = 3;
/// Locations: code, name, address, latitude and longitude in millionths of a degree.
const LOCATIONS: [(&str, &str, &str, i64, i64); 6] = [
    (
        "AB-GP-04",
        "Grande Prairie Yard",
        "10101 97 Ave, Grande Prairie, AB",
        55_170_691,
        -118_794_712,
    ),
    (
        "AB-FM-16",
        "Fort McMurray Site C",
        "Hwy 63 km 42, Fort McMurray, AB",
        56_726_390,
        -111_381_000,
    ),
    (
        "QC-ME-02",
        "Terminal Montréal-Est",
        "11 Rue Sainte-Catherine E, Montréal-Est, QC",
        45_632_150,
        -73_507_820,
    ),
    (
        "SK-ES-07",
        "Estevan Battery 7",
        "Hwy 39, Estevan, SK",
        49_138_900,
        -102_991_400,
    ),
    (
        "BC-FS-01",
        "Fort St. John Compressor",
        "8128 100 Ave, Fort St. John, BC",
        56_252_400,
        -120_846_400,
    ),
    (
        "AB-CA-HQ",
        "Calgary Shop",
        "1200 – 4 St SW, Calgary, AB",
        51_045_100,
        -114_057_100,
    ),
];
const JOB_NAMES: [&str; 7] = [
    "Pipeline inspection",
    "Réparation de pompe",
    "Wärmetauscher-Wartung",
    "Hydrovac excavation",
    "Tank cleaning – Tank 3",
    "Compressor overhaul",
    "Emergency call-out ⚠",
];
const DIRECTIONS: [&str; 3] = [
    "Turn north at km 42 on Hwy 43, gate code 4711.",
    "Suivre la route 138 est; entrée après le pont.",
    "Access via lease road; 4×4 required in spring.",
];
pub(crate) const JOB_STATUSES: [&str; 6] = [
    "Unassigned",
    "Assigned",
    "Active",
    "Finished",
    "Cancelled",
    "Deleted",
];

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WbsSchedule {
    job_schedule_guid: String,
    job_schedule_budget_entry_option: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct JobOrder {
    job_id: i64,
    job_guid: String,
    job_number: String,
    job_name: String,
    job_description: Option<String>,
    job_status: &'static str,
    job_type_uname: &'static str,
    job_client_code: &'static str,
    job_client_guid: String,
    job_client_name: &'static str,
    job_price_book_name: &'static str,
    job_price_book_guid: String,
    job_start_date: i64,
    job_end_date: Option<i64>,
    job_created_at: i64,
    job_updated_at: i64,
    job_show_in_dispatching: bool,
    job_assignee_employee_number: Option<String>,
    job_assignee_full_name: Option<String>,
    job_assignee_user_name: Option<String>,
    job_address: &'static str,
    job_location_code: &'static str,
    job_location_name: &'static str,
    job_location_lat: Number,
    job_location_long: Number,
    job_direction: Option<&'static str>,
    #[serde(rename = "jobWBSSchedule")]
    job_wbs_schedule: WbsSchedule,
}

pub(crate) fn job_order(
    rng: &mut Rng,
    serial: u64,
    guid: String,
    stamp: Stamp,
    context: &Context,
) -> JobOrder {
    let client = rng.below(CLIENTS.len() as u64) as usize;
    let book = rng.below(PRICE_BOOKS.len() as u64) as usize;
    let (code, location, address, lat, long) = rng.pick(&LOCATIONS);
    let status = rng.pick(&JOB_STATUSES);
    let assignee = match status {
        "Unassigned" => None,
        _ => context.employee(rng),
    };
    let start = day(rng, 0, 540);
    let open = matches!(status, "Unassigned" | "Assigned");
    let name = rng.pick(&JOB_NAMES);
    JobOrder {
        job_id: 20_000 + serial as i64,
        job_guid: guid,
        job_number: format!("J{}", 240_000 + serial),
        job_name: format!("{name} – {location}"),
        job_description: (!rng.one_in(4))
            .then(|| format!("{name}.\nClient: {}", CLIENTS[client].1)),
        job_status: status,
        job_type_uname: rng.pick(&["service_call", "maintenance", "inspection", "emergency"]),
        job_client_code: CLIENTS[client].0,
        job_client_guid: catalogue_guid(CLIENT_TABLE, client),
        job_client_name: CLIENTS[client].1,
        job_price_book_name: PRICE_BOOKS[book],
        job_price_book_guid: catalogue_guid(PRICE_BOOK_TABLE, book),
        job_start_date: start,
        job_end_date: (!open || rng.one_in(2)).then(|| start + rng.range(0, 30) * DAY),
        job_created_at: stamp.created,
        job_updated_at: stamp.updated,
        job_show_in_dispatching: !rng.one_in(4),
        job_assignee_employee_number: assignee.map(|p| p.employee_code.clone()),
        job_assignee_full_name: assignee
            .map(|p| format!("{} {}", p.employee_first_name, p.employee_last_name)),
        job_assignee_user_name: assignee.map(|p| p.employee_code.to_lowercase()),
        job_address: address,
        job_location_code: code,
        job_location_name: location,
        job_location_lat: number(lat + rng.range(-5_000, 5_000), 6),
        job_location_long: number(long + rng.range(-5_000, 5_000), 6),
        job_direction: (!rng.one_in(4)).then(|| rng.pick(&DIRECTIONS)),
        job_wbs_schedule: WbsSchedule {
            job_schedule_guid: new_guid(rng),
            job_schedule_budget_entry_option: rng.pick(&["ByBillableItem", "ByCostCode", "None"]),
        },
    }
}

/// NRB kinds: name, type, rate in cents.
const NRB_KINDS: [(&str, &str, i64); 6] = [
    ("Hotel night – Fort McMurray", "accommodation", 12_550),
    ("Kraftstoff Diesel", "fuel", 15_890),
    ("Crane rental 40 t", "rental", 185_000),
    ("Hôtel – nuitée", "accommodation", 14_990),
    ("Subcontractor – NDT", "subcontract", 98_000),
    ("Parts: gasket kit Ø 150", "material", 4_275),
];

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Nrb {
    nrb_guid: String,
    nrb_external_id: Option<String>,
    nrb_job_order_number: Option<String>,
    nrb_name: String,
    nrb_type_uname: &'static str,
    nrb_account_type: &'static str,
    nrb_is_billable: bool,
    nrb_vendor_code: Option<String>,
    nrb_rate: Number,
    nrb_quantity: Number,
    nrb_vendor_tax: Number,
    nrb_upcharge: Number,
    #[serde(rename = "nrbPONumber")]
    nrb_po_number: Option<String>,
    nrb_invoice_number: Option<String>,
    nrb_invoice_date: Option<i64>,
    nrb_is_exported: bool,
    nrb_updated_at: i64,
}

pub(crate) fn nrb(
    rng: &mut Rng,
    serial: u64,
    guid: String,
    stamp: Stamp,
    context: &Context,
) -> Nrb {
    let (name, kind, rate) = rng.pick(&NRB_KINDS);
    let billable = !rng.one_in(4);
    let exported = rng.one_in(3);
    // Quantities come with two to four decimals.
    let scale = rng.range(2, 4) as u32;
    let quantity = rng.range(1, 40) * 10_i64.pow(scale) / 4;
    Nrb {
        nrb_guid: guid,
        nrb_external_id: rng
            .one_in(2)
            .then(|| format!("EXT-{:06}", rng.below(1_000_000))),
        nrb_job_order_number: context.job(rng).map(|job| job.job_number.clone()),
        nrb_name: format!("{name} ({serial})"),
        nrb_type_uname: kind,
        nrb_account_type: if billable { "Billable" } else { "Not Billable" },
        nrb_is_billable: billable,
        nrb_vendor_code: (!rng.one_in(5)).then(|| format!("V-{:03}", rng.range(1, 60))),
        nrb_rate: number(rate, 2),
        nrb_quantity: number(quantity, scale),
        nrb_vendor_tax: number(rate * 5 / 100, 2),
        nrb_upcharge: number(rng.pick(&[0, 500, 1_000, 1_500]), 2),
        nrb_po_number: rng
            .one_in(2)
            .then(|| format!("PO-{}", rng.range(40_000, 49_999))),
        nrb_invoice_number: exported.then(|| format!("INV-{:06}", rng.range(1, 999))),
        nrb_invoice_date: exported.then(|| day(rng, 0, 540)),
        nrb_is_exported: exported,
        nrb_updated_at: stamp.updated,
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Invoice {
    invoice_guid: String,
    invoice_number: String,
    invoice_status_uname: &'static str,
    invoice_client_code: String,
    invoice_client_name: String,
    invoice_job_order_number: Option<String>,
    invoice_date: i64,
    invoice_due_date: i64,
    invoice_currency: &'static str,
    invoice_subtotal: Number,
    invoice_tax: Number,
    invoice_total: Number,
    invoice_memo: Option<&'static str>,
    invoice_is_exported: bool,
    invoice_created_at: i64,
    invoice_updated_at: i64,
}

pub(crate) fn invoice(
    rng: &mut Rng,
    serial: u64,
    guid: String,
    stamp: Stamp,
    context: &Context,
) -> Invoice {
    let job = context.job(rng);
    let (client_code, client_name) = match job {
        Some(job) => (job.job_client_code.clone(), job.job_client_name.clone()),
        None => {
            let (code, name) = rng.pick(&CLIENTS);
            (code.to_owned(), name.to_owned())
        }
    };
    let date = day(rng, 0, 540);
    let subtotal = rng.range(5_000, 2_500_000);
    // 5 % GST, rounded half up to the cent.
    let tax = (subtotal * 5 + 50) / 100;
    Invoice {
        invoice_guid: guid,
        invoice_number: format!("INV-{:06}", 1_000 + serial),
        invoice_status_uname: rng.pick(&["draft", "approved", "sent", "paid", "void"]),
        invoice_client_code: client_code,
        invoice_client_name: client_name,
        invoice_job_order_number: job.map(|job| job.job_number.clone()),
        invoice_date: date,
        invoice_due_date: date + 30 * DAY,
        invoice_currency: "CAD",
        invoice_subtotal: number(subtotal, 2),
        invoice_tax: number(tax, 2),
        invoice_total: number(subtotal + tax, 2),
        invoice_memo: rng.one_in(2).then(|| {
            rng.pick(&[
                "Net 30 – merci!",
                "Includes standby charges",
                "Rechnung gemäß Rahmenvertrag",
            ])
        }),
        invoice_is_exported: rng.one_in(2),
        invoice_created_at: stamp.created,
        invoice_updated_at: stamp.updated,
    }
}
