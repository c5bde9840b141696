//! aircalc NEXT fake objects: the generated projects (positions with AHU data), the
//! bills of materials, the fixed users and the catalogues they draw on.
//!
//! Airflows (m³/h) and dimensions (mm) are integers, `weightKg` a number with one
//! decimal, `priceNet` one with two (served as written: `12345.50`, a float would say
//! `12345.5`), text is Unicode. A project's `externalRef` is unique (`EXT-4711` style),
//! its positions are numbered `<projectNo>-01`, …; a BOM has 2–6 lines and follows from
//! the seed and the position number alone.

use bytes::Bytes;
use serde::Serialize;
use serde_json::Number;

use super::model::{Stamp, iso, to_bytes};
use crate::rng::Rng;
use crate::values::number;

/// The random stream of the bills of materials.
const BOM_STREAM: u64 = 0xB0_0000;

pub(crate) const UNIT_TYPES: [&str; 4] = ["AHU", "Compact", "Rooftop", "Module"];

/// The users, `(name, email)`; user `i + 1` is entry `i`.
const USERS: [(&str, &str); 8] = [
    ("Jürgen Weiß", "juergen.weiss@aircalc.example"),
    ("Zoë Ødegård", "zoe.odegard@aircalc.example"),
    ("Łukasz Wójcik", "lukasz.wojcik@aircalc.example"),
    ("Ana Peña Núñez", "ana.pena@aircalc.example"),
    ("François Lefèvre", "francois.lefevre@aircalc.example"),
    ("Ayşe Yılmaz", "ayse.yilmaz@aircalc.example"),
    ("Björn Åström", "bjorn.astrom@aircalc.example"),
    ("Μαρία Παπαδοπούλου", "maria.papadopoulou@aircalc.example"),
];

const NAMES: [&str; 8] = [
    "Neubau Bürogebäude „Nordstern“",
    "Sanierung Grundschule Am Anger",
    "Klinikum Süd – OP-Trakt",
    "Rechenzentrum Frankfurt West",
    "Hotel Zürichsee, Wellnessbereich",
    "Logistikzentrum Łódź",
    "Schwimmhalle Köln-Mülheim",
    "Laborgebäude C (BSL-2)",
];

const CUSTOMERS: [&str; 7] = [
    "Müller Klimatechnik GmbH",
    "Société d'Aération Genève SA",
    "Økoventil A/S",
    "Wentylacja Kraków Sp. z o.o.",
    "Gebr. Schäfer Lüftungsbau KG",
    "Hôpital Saint-Éloi",
    "Nordwind Haustechnik AG",
];

const DESCRIPTIONS: [&str; 7] = [
    "Zu-/Abluftgerät Büro 2. OG",
    "Zuluftgerät Küche",
    "Abluftgerät Tiefgarage",
    "RLT-Anlage OP 1–3",
    "Dachgerät Halle B",
    "Lüftungsgerät Aula (WRG 78 %)",
    "Kompaktgerät Serverraum",
];

/// BOM parts: description, unit and the quantity's decimals.
const PARTS: [(&str, &str, u32); 8] = [
    ("Ventilator EC 3,0 kW", "Stk", 0),
    ("Rotationswärmetauscher Ø 1 600 mm", "Stk", 0),
    ("Taschenfilter ePM1 ≥ 55 %", "Stk", 0),
    ("Paneel 50 mm, Mineralwolle", "m²", 2),
    ("Grundrahmen verzinkt", "m", 2),
    ("Kältemittel R32", "kg", 1),
    ("Schalldämpfer 1 200 mm", "Stk", 0),
    ("Jalousieklappe mit Stellantrieb 24 V", "Stk", 0),
];

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ProjectOut {
    project_no: String,
    external_ref: String,
    name: String,
    customer_name: &'static str,
    created_by: i64,
    created_at: String,
    updated_at: String,
    positions: Vec<Position>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Position {
    pos_no: String,
    external_ref: String,
    description: &'static str,
    quantity: i64,
    ahu: Ahu,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Ahu {
    unit_type: &'static str,
    airflow_supply: i64,
    airflow_extract: i64,
    width_mm: i64,
    height_mm: i64,
    length_mm: i64,
    weight_kg: Number,
    price_net: Number,
}

pub(crate) fn project_no(number: u64) -> String {
    format!("PRJ-{number:05}")
}

/// The JSON of project `number`, with 1–4 positions.
pub(crate) fn project(rng: &mut Rng, number: u64, stamp: Stamp) -> Bytes {
    let no = project_no(number);
    // Unique: the ranges of different numbers do not overlap.
    let external_ref = format!("EXT-{}", 4_700 + 3 * number + rng.below(3));
    let positions = (1..=rng.range(1, 4))
        .map(|index| Position {
            pos_no: format!("{no}-{index:02}"),
            external_ref: format!("{external_ref}.{index:02}"),
            description: rng.pick(&DESCRIPTIONS),
            quantity: rng.range(1, 3),
            ahu: ahu(rng),
        })
        .collect();
    let project = ProjectOut {
        project_no: no,
        external_ref,
        name: format!("{} – BA {}", rng.pick(&NAMES), rng.range(1, 3)),
        customer_name: rng.pick(&CUSTOMERS),
        created_by: rng.range(1, USERS.len() as i64),
        created_at: iso(stamp.created),
        updated_at: iso(stamp.updated),
        positions,
    };
    to_bytes(&project)
}

fn ahu(rng: &mut Rng) -> Ahu {
    let supply = rng.range(20, 800) * 50;
    Ahu {
        unit_type: rng.pick(&UNIT_TYPES),
        airflow_supply: supply,
        airflow_extract: (supply - rng.range(0, 20) * 50).max(0),
        width_mm: rng.range(60, 300) * 10,
        height_mm: rng.range(50, 280) * 10,
        length_mm: rng.range(150, 1_200) * 10,
        weight_kg: number(rng.range(2_000, 90_000), 1),
        price_net: number(price_cents(rng), 2),
    }
}

/// A net price in cents, often a round number of tens or hundreds of cents.
pub(crate) fn price_cents(rng: &mut Rng) -> i64 {
    let cents = rng.range(800_000, 25_000_000);
    match rng.below(3) {
        0 => cents / 100 * 100,
        1 => cents / 10 * 10,
        _ => cents,
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Bom<'a> {
    pos_no: &'a str,
    lines: Vec<BomLine>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BomLine {
    line_no: i64,
    article_no: String,
    description: &'static str,
    quantity: Number,
    unit: &'static str,
}

/// The 2–6 lines BOM of `pos_no`.
pub(crate) fn bom(seed: u64, pos_no: &str) -> Bytes {
    // FNV-1a, so that the BOM depends on the position number only.
    let hash = pos_no
        .bytes()
        .fold(0xCBF2_9CE4_8422_2325_u64, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01B3)
        });
    let mut rng = Rng::new(seed).fork(BOM_STREAM).fork(hash);
    let lines = (1..=rng.range(2, 6))
        .map(|line_no| {
            let (description, unit, scale) = rng.pick(&PARTS);
            let quantity = match scale {
                0 => number(rng.range(1, 8), 0),
                _ => number(rng.range(5, 4_000), scale),
            };
            BomLine {
                line_no,
                article_no: format!("AC-{:06}", rng.range(100_000, 999_999)),
                description,
                quantity,
                unit,
            }
        })
        .collect();
    to_bytes(&Bom { pos_no, lines })
}

#[derive(Serialize)]
pub(crate) struct User {
    id: i64,
    name: &'static str,
    email: &'static str,
}

/// The known users among `ids`, by id ascending, each once.
pub(crate) fn users(ids: &[i64]) -> Vec<User> {
    let known = USERS.iter().zip(1..);
    let wanted = known.filter(|(_, id)| ids.contains(id));
    wanted
        .map(|(&(name, email), id)| User { id, name, email })
        .collect()
}
