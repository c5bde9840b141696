//! Aimsio fake data: generation of employees (custom form data, nulls), equipment,
//! billable items (every documented type) and timecards.

use serde::Serialize;
use serde_json::{Number, Value, json};

use super::model::{Context, DAY, Stamp, catalogue_guid, day};
use crate::rng::Rng;
use crate::values::number;

const FIRST_NAMES: [&str; 12] = [
    "Zoë",
    "Łukasz",
    "José",
    "François",
    "Siobhán",
    "Björn",
    "Amélie",
    "Jürgen",
    "Aiyana",
    "Nguyễn",
    "Chloé",
    "Ólafur",
];
const LAST_NAMES: [&str; 12] = [
    "Tremblay",
    "Müller",
    "Nowak",
    "Gagnon",
    "Ødegård",
    "O'Brien",
    "Côté",
    "Sørensen",
    "García",
    "Żółkiewski",
    "山本",
    "MacDonald",
];
const NICK_NAMES: [&str; 5] = ["Zee", "Luke", "Frankie", "Bjössi", "Doc"];
const TRADES: [(&str, &str); 6] = [
    ("ELEC", "Electrician"),
    ("WELD", "Welder"),
    ("OPER", "Equipment Operator"),
    ("LABR", "General Labourer"),
    ("SUPV", "Supervisor"),
    ("HVAC", "HVAC Technician"),
];
const TRADE_TABLE: u64 = 2;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Employee {
    employee_guid: String,
    employee_code: String,
    employment_type: &'static str,
    employee_status_uname: &'static str,
    employee_first_name: &'static str,
    employee_last_name: &'static str,
    employee_nick_name: Option<&'static str>,
    employee_trade_guid: String,
    employee_trade_code: &'static str,
    employment_hire_date: i64,
    employment_termination_date: Option<i64>,
    employee_email: String,
    employee_phone: String,
    employee_created_at: i64,
    employee_updated_at: i64,
    employee_form_data: Value,
}

pub(crate) fn employee(rng: &mut Rng, serial: u64, guid: String, stamp: Stamp) -> Employee {
    let code = format!("E{}", 1000 + serial);
    let trade = rng.below(TRADES.len() as u64) as usize;
    let hire = day(rng, -2_000, 500);
    // Every 8th employee has left.
    let terminated = serial.is_multiple_of(8);
    Employee {
        employee_email: format!("{}@crew.example.com", code.to_lowercase()),
        employee_code: code,
        employee_guid: guid,
        employment_type: rng.pick(&["Full Time", "Full Time", "Part Time", "Contractor"]),
        employee_status_uname: if terminated {
            "terminated"
        } else {
            rng.pick(&["active", "active", "active", "on_leave"])
        },
        employee_first_name: rng.pick(&FIRST_NAMES),
        employee_last_name: rng.pick(&LAST_NAMES),
        employee_nick_name: rng.one_in(3).then(|| rng.pick(&NICK_NAMES)),
        employee_trade_guid: catalogue_guid(TRADE_TABLE, trade),
        employee_trade_code: TRADES[trade].0,
        employment_hire_date: hire,
        employment_termination_date: terminated.then(|| hire + rng.range(30, 400) * DAY),
        employee_phone: format!("+1 403 555 {:04}", rng.range(0, 9_999)),
        employee_created_at: stamp.created,
        employee_updated_at: stamp.updated,
        employee_form_data: json!({
            "shirtSize": rng.pick(&["S", "M", "L", "XL"]),
            "h2sAliveExpiry": (!rng.one_in(4)).then(|| day(rng, 400, 1_200)),
            "emergencyContact": rng.pick(&["Marie Côté +1 403 555 0101", "", "Jens Ødegård"]),
            "safetyOrientationDone": rng.one_in(2),
        }),
    }
}

/// Equipment kinds: type, name, make, model.
const MACHINES: [(&str, &str, &str, &str); 8] = [
    ("truck", "Vacuum Truck 12 m³", "Kenworth", "T880"),
    ("truck", "Hydrovac Unit", "Peterbilt", "567"),
    ("trailer", "Flatbed Trailer 53′", "Manac", "Dropdeck"),
    ("pump", "Centrifugal Pump Ø 150 mm", "Gorman-Rupp", "T6A"),
    ("generator", "Generator 45 kVA", "Caterpillar", "XQ60"),
    ("tool", "Thermal Camera", "FLIR", "E8"),
    ("loader", "Skid Steer Loader", "Bobcat", "S650"),
    ("pickup", "Pickup ¾ ton", "Ford", "F-250"),
];

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Equipment {
    equipment_guid: String,
    equipment_code: String,
    equipment_name: String,
    equipment_type_uname: &'static str,
    equipment_status_uname: &'static str,
    equipment_make: &'static str,
    equipment_model: &'static str,
    equipment_year: i64,
    equipment_serial_number: String,
    equipment_hourly_rate: Number,
    equipment_is_rental: bool,
    equipment_created_at: i64,
    equipment_updated_at: i64,
}

pub(crate) fn equipment(rng: &mut Rng, serial: u64, guid: String, stamp: Stamp) -> Equipment {
    let (kind, name, make, model) = rng.pick(&MACHINES);
    Equipment {
        equipment_guid: guid,
        equipment_code: format!("EQ-{:04}", serial),
        equipment_name: format!("{name} #{serial}"),
        equipment_type_uname: kind,
        equipment_status_uname: rng.pick(&["available", "available", "in_use", "maintenance"]),
        equipment_make: make,
        equipment_model: model,
        equipment_year: rng.range(2008, 2025),
        equipment_serial_number: format!("SN{:08X}", rng.next_u64() >> 32),
        equipment_hourly_rate: number(rng.range(25, 450) * 50, 2),
        equipment_is_rental: rng.one_in(5),
        equipment_created_at: stamp.created,
        equipment_updated_at: stamp.updated,
    }
}

/// Billable item types: type, category, names, default rate range (in units of the
/// scale), scale.
type ItemType = (
    &'static str,
    &'static str,
    [&'static str; 2],
    (i64, i64),
    u32,
);
pub(crate) const ITEM_TYPES: [ItemType; 9] = [
    (
        "labour",
        "Labour",
        ["Journeyman Electrician", "Soudeur – heures"],
        (6_500, 14_500),
        2,
    ),
    (
        "equipment",
        "Equipment",
        ["Vac Truck hourly", "Hydrovac daily"],
        (9_000, 45_000),
        2,
    ),
    (
        "material",
        "Materials",
        ["Câble Teck90 12/3", "Gravel ¾″ crushed"],
        (150, 9_000),
        2,
    ),
    (
        "service",
        "Services",
        ["Site inspection", "Dichtheitsprüfung"],
        (15_000, 90_000),
        2,
    ),
    (
        "unit_billing",
        "Unit Billing",
        ["Per well", "Per metre drilled"],
        (2_000, 50_000),
        2,
    ),
    (
        "per_diem",
        "Per Diem",
        ["Meals – full day", "Meals – half day"],
        (4_500, 9_500),
        2,
    ),
    (
        "accommodation",
        "Accommodation",
        ["Camp room night", "Hôtel – nuitée"],
        (9_000, 22_000),
        2,
    ),
    (
        "mileage",
        "Mileage",
        ["Mileage per km", "Kilométrage"],
        (5_500, 8_500),
        4,
    ),
    (
        "surcharge",
        "Surcharges",
        ["Fuel surcharge", "Night shift ☾"],
        (500, 2_500),
        2,
    ),
];

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BillableItem {
    billable_item_guid: String,
    billable_item_code: String,
    billable_item_name: &'static str,
    billable_item_type_uname: &'static str,
    billable_item_category: &'static str,
    billable_item_description: Option<String>,
    billable_item_status: &'static str,
    billable_item_default_rate: Number,
    billable_item_updated_at: i64,
}

pub(crate) fn billable_item(
    rng: &mut Rng,
    serial: u64,
    guid: String,
    stamp: Stamp,
) -> BillableItem {
    // The types take turns, so that every type is present from nine items on.
    let (kind, category, names, (lo, hi), scale) =
        ITEM_TYPES[(serial - 1) as usize % ITEM_TYPES.len()];
    let name = rng.pick(&names);
    BillableItem {
        billable_item_guid: guid,
        billable_item_code: format!("BI-{serial:04}"),
        billable_item_name: name,
        billable_item_type_uname: kind,
        billable_item_category: category,
        billable_item_description: (!rng.one_in(5)).then(|| format!("{name} ({category})")),
        billable_item_status: rng.pick(&["active", "active", "active", "inactive"]),
        billable_item_default_rate: number(rng.range(lo, hi), scale),
        billable_item_updated_at: stamp.updated,
    }
}

const COMMENTS: [&str; 4] = [
    "Standby 2 h wegen Wetter",
    "Attente du client – accès fermé",
    "Travel to site incl.",
    "雪のため作業中断",
];

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Timecard {
    timecard_guid: String,
    timecard_number: String,
    timecard_employee_code: Option<String>,
    timecard_employee_name: Option<String>,
    timecard_job_order_number: Option<String>,
    timecard_date: i64,
    timecard_status_uname: &'static str,
    timecard_hours: Number,
    timecard_overtime_hours: Number,
    timecard_is_approved: bool,
    timecard_comment: Option<&'static str>,
    timecard_created_at: i64,
    timecard_updated_at: i64,
}

pub(crate) fn timecard(
    rng: &mut Rng,
    serial: u64,
    guid: String,
    stamp: Stamp,
    context: &Context,
) -> Timecard {
    let person = context.employee(rng);
    let status = rng.pick(&["open", "submitted", "approved", "approved", "exported"]);
    Timecard {
        timecard_guid: guid,
        timecard_number: format!("TC-{:05}", serial),
        timecard_employee_code: person.map(|p| p.employee_code.clone()),
        timecard_employee_name: person
            .map(|p| format!("{} {}", p.employee_first_name, p.employee_last_name)),
        timecard_job_order_number: context.job(rng).map(|job| job.job_number.clone()),
        timecard_date: day(rng, 0, 540),
        timecard_status_uname: status,
        timecard_hours: number(rng.range(1, 48) * 25, 2),
        timecard_overtime_hours: number(rng.pick(&[0, 0, 0, 50, 150, 400]) * 5, 2),
        timecard_is_approved: matches!(status, "approved" | "exported"),
        timecard_comment: rng.one_in(3).then(|| rng.pick(&COMMENTS)),
        timecard_created_at: stamp.created,
        timecard_updated_at: stamp.updated,
    }
}
