//! PlanningNow's shared vocabulary: the object kinds, the document folders, the cost
//! centres, and the decimal and date helpers every generator uses.

use chrono::{Days, NaiveDate};
use rust_decimal::{Decimal, RoundingStrategy};

use crate::rng::Rng;

/// The object kinds the fake serves; `name()` is the URL segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Order,
    Offer,
    WorkSchedule,
    CostCentre,
    Document,
}

impl Kind {
    pub(crate) const ALL: [Kind; 5] = [
        Kind::Order,
        Kind::Offer,
        Kind::WorkSchedule,
        Kind::CostCentre,
        Kind::Document,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Order => "order",
            Kind::Offer => "offer",
            Kind::WorkSchedule => "work-schedule",
            Kind::CostCentre => "cost-centre",
            Kind::Document => "document",
        }
    }

    pub(crate) fn parse(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|kind| kind.name() == name)
    }

    pub(crate) fn not_found(self) -> &'static str {
        match self {
            Kind::Order => "Order not found",
            Kind::Offer => "Offer not found",
            Kind::WorkSchedule => "Work schedule not found",
            Kind::CostCentre => "Cost centre not found",
            Kind::Document => "Document not found",
        }
    }

    pub(crate) fn first_id(self) -> i64 {
        match self {
            Kind::Order => 1001,
            Kind::Offer => 5001,
            Kind::WorkSchedule => 101,
            Kind::CostCentre | Kind::Document => 1,
        }
    }
}

/// `value` rounded half away from zero and shown with exactly `dp` decimals.
pub(crate) fn fixed(value: Decimal, dp: u32) -> String {
    let mut value = value.round_dp_with_strategy(dp, RoundingStrategy::MidpointAwayFromZero);
    value.rescale(dp);
    value.to_string()
}

/// Gross amount of `netto` at `mwst_percent` VAT, rounded to cents; `None` on overflow
/// (only possible with stored objects put through the control API).
pub(crate) fn brutto(netto: Decimal, mwst_percent: Decimal) -> Option<String> {
    let factor = Decimal::ONE.checked_add(mwst_percent.checked_div(Decimal::ONE_HUNDRED)?)?;
    Some(fixed(netto.checked_mul(factor)?, 2))
}

/// The names of the cost centres.
pub(crate) const COST_CENTRES: [&str; 12] = [
    "CNC-Fräsen",
    "Qualitätssicherung",
    "Montage Linie 1",
    "Montage Linie 2",
    "Schweißerei",
    "Lackiererei",
    "Elektromontage",
    "Blechbearbeitung",
    "Prüfstand",
    "Versand",
    "Konstruktion",
    "Außenmontage",
];

/// The default folder tree, flat: (id, name, area, parent id).
pub(crate) const FOLDERS: [(i64, &str, &str, Option<i64>); 14] = [
    (1, "Alle", "order", None),
    (2, "Technische Zeichnungen", "order", Some(1)),
    (3, "Revisionen", "order", Some(2)),
    (4, "Verträge", "order", Some(1)),
    (5, "Lieferscheine", "order", Some(1)),
    (6, "Alle", "offer", None),
    (7, "Kalkulation", "offer", Some(6)),
    (8, "Versendet", "offer", Some(6)),
    (9, "Archiv 2024", "offer", Some(8)),
    (10, "Alle", "customer", None),
    (11, "Korrespondenz", "customer", Some(10)),
    (12, "Zertifikate", "customer", Some(10)),
    (13, "ISO 9001", "customer", Some(12)),
    (14, "Übergabeprotokolle", "customer", Some(10)),
];
const BASE_DATE: NaiveDate = match NaiveDate::from_ymd_opt(2024, 1, 1) {
    Some(date) => date,
    None => panic!("valid constant date"),
};

pub(crate) fn day(offset: i64) -> NaiveDate {
    BASE_DATE + Days::new(offset.unsigned_abs())
}

/// An ordinary working-hours timestamp on `date` (never inside a DST switch hour).
pub(crate) fn timestamp(rng: &mut Rng, date: NaiveDate) -> String {
    let (hour, minute) = (rng.range(6, 17), rng.range(0, 59));
    format!("{date} {hour:02}:{minute:02}:{:02}", rng.range(0, 59))
}
