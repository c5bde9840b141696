//! PlanningNow fake data: generation of work schedules, cost centres (every 5th with
//! the other spelling of `kalkMinKosten`) and documents filed in the folder tree.

use chrono::Days;
use rust_decimal::Decimal;
use serde::Serialize;

use super::deals::{ACTIVITIES, CUSTOMERS};
use super::model::{COST_CENTRES, FOLDERS, day, fixed, timestamp};
use crate::rng::Rng;

#[derive(Serialize)]
struct IdOnly {
    id: i64,
}

#[derive(Serialize)]
pub(crate) struct WorkSchedule {
    id: i64,
    name: String,
    creation_date: String,
    last_change_date: String,
    sum_min_ruest: String,
    sum_min: String,
    sum_cost_ruest: String,
    sum_cost_wage: String,
    sum_min_masch: String,
    sum_cost_masch: String,
    sum_cost_fremdfert: String,
    sum_cost: String,
    los_stueck: i64,
    sum_min_wage: String,
    costperone: String,
    hoursperday: &'static str,
    sum_min_setup: String,
    sum_cost_setup: String,
    wage_factor: i64,
    positions: Vec<IdOnly>,
}

pub(crate) fn work_schedule(rng: &mut Rng, id: i64) -> WorkSchedule {
    let created = day(rng.range(0, 700));
    let mut amount = |max: i64| Decimal::new(rng.range(0, max), 2);
    let (min_ruest, min_wage, min_masch, min_setup) =
        (amount(6_000), amount(30_000), amount(30_000), amount(3_000));
    let (cost_ruest, cost_wage, cost_masch, cost_setup) =
        (amount(5_000), amount(40_000), amount(60_000), amount(2_000));
    let fremdfert = if rng.one_in(3) {
        Decimal::new(rng.range(1_000, 90_000), 2)
    } else {
        Decimal::ZERO
    };
    let sum_cost = cost_ruest + cost_wage + cost_masch + cost_setup + fremdfert;
    let los_stueck = rng.range(1, 10);
    WorkSchedule {
        id,
        name: format!("{} – Arbeitsplan {id}", rng.pick(&ACTIVITIES)),
        creation_date: created.to_string(),
        last_change_date: (created + Days::new(rng.range(0, 200).unsigned_abs())).to_string(),
        sum_min_ruest: fixed(min_ruest, 2),
        sum_min: fixed(min_ruest + min_wage + min_masch, 2),
        sum_cost_ruest: fixed(cost_ruest, 2),
        sum_cost_wage: fixed(cost_wage, 2),
        sum_min_masch: fixed(min_masch, 2),
        sum_cost_masch: fixed(cost_masch, 2),
        sum_cost_fremdfert: fixed(fremdfert, 2),
        sum_cost: fixed(sum_cost, 2),
        los_stueck,
        sum_min_wage: fixed(min_wage, 2),
        costperone: fixed(sum_cost / Decimal::from(los_stueck), 2),
        hoursperday: rng.pick(&["8.00", "7.50", "16.00"]),
        sum_min_setup: fixed(min_setup, 2),
        sum_cost_setup: fixed(cost_setup, 2),
        wage_factor: rng.range(1, 2),
        positions: (201..=200 + rng.range(1, 5))
            .map(|id| IdOnly { id })
            .collect(),
    }
}

#[derive(Serialize)]
pub(crate) struct CostCentre {
    id: i64,
    name: String,
    #[serde(rename = "type")]
    kind: i64,
    #[serde(rename = "kalkMinKosten", skip_serializing_if = "Option::is_none")]
    kalk_camel: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    kalk_min_kosten: Option<String>,
    nutzungsdauer: String,
    last_change: String,
    last_sync: String,
}

pub(crate) fn cost_centre(rng: &mut Rng, id: i64) -> CostCentre {
    let index = (id - 1).rem_euclid(COST_CENTRES.len() as i64) as usize;
    let round = (id - 1).div_euclid(COST_CENTRES.len() as i64);
    let name = match round {
        0 => COST_CENTRES[index].to_owned(),
        _ => format!("{} {}", COST_CENTRES[index], round + 1),
    };
    let kalk = Some(fixed(Decimal::new(rng.range(500, 4_500), 3), 3));
    let changed = day(rng.range(0, 600));
    let last_change = timestamp(rng, changed);
    CostCentre {
        id,
        name,
        kind: rng.range(1, 2),
        kalk_camel: if id % 5 == 0 { None } else { kalk.clone() },
        kalk_min_kosten: if id % 5 == 0 { kalk } else { None },
        nutzungsdauer: fixed(Decimal::from(rng.range(5, 20)), 2),
        last_sync: if rng.one_in(2) {
            last_change.clone()
        } else {
            timestamp(rng, changed + Days::new(1))
        },
        last_change,
    }
}

#[derive(Serialize)]
pub(crate) struct Document {
    id: i64,
    area: &'static str,
    number: String,
    filename: String,
    filetype: &'static str,
    full_path: String,
    creator: &'static str,
    creation_date: String,
    do_print: bool,
    external: bool,
    folder_id: i64,
    mimetype: &'static str,
}

const FILETYPES: [(&str, &str); 4] = [
    ("pdf", "application/pdf"),
    (
        "docx",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ),
    ("dwg", "image/vnd.dwg"),
    ("jpg", "image/jpeg"),
];
const FILENAMES: [&str; 5] = [
    "technical-drawing",
    "Aufmaß Größe 2",
    "specification",
    "見積書",
    "Übergabe_Protokoll",
];

pub(crate) fn document(rng: &mut Rng, id: i64, orders: &[i64], offers: &[i64]) -> Document {
    let (area, number) = match rng.below(3) {
        0 if !orders.is_empty() => ("order", rng.pick(orders)),
        1 if !offers.is_empty() => ("offer", rng.pick(offers)),
        _ => (
            "customer",
            10_001 + rng.below(CUSTOMERS.len() as u64) as i64,
        ),
    };
    let folders: Vec<i64> = FOLDERS
        .iter()
        .filter(|f| f.2 == area)
        .map(|f| f.0)
        .collect();
    let (filetype, mimetype) = rng.pick(&FILETYPES);
    let filename = format!("{}-{id}", rng.pick(&FILENAMES));
    Document {
        id,
        area,
        number: number.to_string(),
        full_path: format!("/Dokutasche/{area}/{number}/{filename}.{filetype}"),
        filename,
        filetype,
        creator: rng.pick(&["admin", "api_user", "m.müller"]),
        creation_date: day(rng.range(0, 900)).to_string(),
        do_print: rng.one_in(3),
        external: rng.one_in(5),
        folder_id: rng.pick(&folders),
        mimetype,
    }
}
