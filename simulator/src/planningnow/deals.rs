//! PlanningNow fake data: generation of orders and offers (the "deals"), with their
//! positions and tasks, exact decimal sums, Unicode, nulls and the DST edge case.

use chrono::{Days, NaiveDate};
use rust_decimal::Decimal;
use serde::Serialize;

use super::model::{COST_CENTRES, Kind, brutto, day, fixed};
use crate::rng::Rng;

pub(crate) const CUSTOMERS: [&str; 12] = [
    "Müller Lüftungstechnik GmbH",
    "Łódź Klima Sp. z o.o.",
    "東京エアー株式会社",
    "Ærø Ventilation ApS",
    "Société d'Air",
    "Schröder & Söhne KG",
    "Čistý Vzduch s.r.o.",
    "Brødrene Øvergård AS",
    "Αέρας Τεχνική Α.Ε.",
    "Климат-Сервис ООО",
    "Ventilación Peñalara S.L.",
    "Frische Brise GmbH",
];
const CONTACTS: [&str; 8] = [
    "Herr Jürgen Weiß",
    "Frau Zoë Ødegård",
    "Mr. Miller",
    "Łukasz Żółć",
    "田中 太郎",
    "Mme Hélène Chênevert",
    "Dr. Ünal Çelik",
    "Anna-Lena O'Brien",
];
const ARTICLES: [(&str, &str, &str); 8] = [
    ("RLT-100", "Zentrales Lüftungsgerät RLT 100", "pcs"),
    ("WRG-1200", "Wärmerückgewinnung Rotor Ø 1200", "pcs"),
    ("FLT-F7", "Taschenfilter F7 592×592", "pcs"),
    ("BSK-30", "Brandschutzklappe K30", "pcs"),
    ("VENT-EC", "EC-Ventilator 2,2 kW", "pcs"),
    ("DUCT-90", "Luftkanal verzinkt", "m"),
    ("MSR-01", "MSR-Schaltschrank „Kompakt“", "set"),
    ("SRV-H", "Montagestunden", "hrs"),
];
const SUBJECTS: [&str; 5] = [
    "Lüftungsanlage Halle",
    "Klimatisierung Büro",
    "Service & Wartung",
    "Erweiterung RLT-Anlage",
    "Reinraum Zone",
];
const PAY_TERMS: [(i64, &str); 3] = [
    (1, "Net 30 days"),
    (2, "10 Tage 2 % Skonto, 30 Tage netto"),
    (3, "Sofort ohne Abzug"),
];
const REMARKS: [&str; 4] = [
    "Bitte vor Lieferung anrufen",
    "Handle with care, urgent delivery.",
    "Anlieferung über Tor 3 – Überlänge!",
    "配送前にご連絡ください",
];
pub(crate) const ACTIVITIES: [&str; 6] = [
    "Schweißen",
    "Montage",
    "Verkabelung",
    "Prüfung & Abnahme",
    "Zuschnitt",
    "Lackierung",
];

#[derive(Serialize)]
struct Task {
    id: i64,
    kalk_id: i64,
    kalk_type: i64,
    cost_centre_name: &'static str,
    activity_name: &'static str,
    min_ruest: String,
    min_wage: String,
    min_masch: String,
    production_start: String,
    production_end: Option<String>,
}

#[derive(Serialize)]
struct Position {
    id: i64,
    pos_no: i64,
    article_number: &'static str,
    article_desc: &'static str,
    amount: String,
    unit: &'static str,
    unit_price: String,
    discount: &'static str,
    unit_price_disc: String,
    netto: String,
    deliv_date: Option<String>,
    mwst_percent: String,
    brutto: String,
    remarks: Option<&'static str>,
    tasks: Vec<Task>,
}

/// What orders and offers have in common.
struct Deal {
    date: NaiveDate,
    delivery: NaiveDate,
    employee_no: i64,
    contact: Option<&'static str>,
    customer: usize,
    project_no: String,
    subject: String,
    netto: String,
    pay_term: (i64, &'static str),
    positions: Vec<Position>,
}

fn deal(rng: &mut Rng, id: i64, first_id: i64, projects: i64) -> Deal {
    let date = day(rng.range(0, 900));
    let delivery = date + Days::new(rng.range(14, 120).unsigned_abs());
    let customer = rng.below(CUSTOMERS.len() as u64) as usize;
    let subject = format!("{} {}", rng.pick(&SUBJECTS), rng.range(1, 12));
    // Every 7th order or offer has no contact person.
    let contact = if (id - first_id + 1) % 7 == 0 {
        None
    } else {
        Some(rng.pick(&CONTACTS))
    };
    // The first order carries the DST edge cases.
    let dst_case = first_id == Kind::Order.first_id() && id == first_id;
    let mut total = Decimal::ZERO;
    let positions = (1..=rng.range(1, 4))
        .map(|pos| {
            let (article_number, article_desc, unit) = rng.pick(&ARTICLES);
            let amount = Decimal::from(rng.range(1, 80));
            let unit_price = Decimal::new(rng.range(50, 500_000), 2);
            let netto = amount * unit_price;
            total += netto;
            let mwst = Decimal::from(rng.pick(&[19, 19, 19, 7, 0]));
            let dst_task = dst_case && pos == 1;
            let mut tasks: Vec<Task> = (0..rng.range(i64::from(dst_task), 3))
                .map(|t| task(rng, 101 + t, date, delivery))
                .collect();
            if dst_task && let Some(first) = tasks.first_mut() {
                // Europe/Berlin: 02:30 does not exist on 30 March, occurs twice on 26 October.
                first.production_start = "2025-03-30 02:30:00".to_owned();
                first.production_end = Some("2025-10-26 02:30:00".to_owned());
            }
            Position {
                id: pos,
                pos_no: pos * 10,
                article_number,
                article_desc,
                amount: fixed(amount, 2),
                unit,
                unit_price: fixed(unit_price, 2),
                discount: "0.00",
                unit_price_disc: fixed(unit_price, 2),
                netto: fixed(netto, 2),
                deliv_date: (!rng.one_in(6)).then(|| delivery.to_string()),
                mwst_percent: fixed(mwst, 2),
                brutto: brutto(netto, mwst).expect("generated amounts are small"),
                remarks: rng.one_in(4).then(|| rng.pick(&REMARKS)),
                tasks,
            }
        })
        .collect();
    Deal {
        date,
        delivery,
        employee_no: rng.range(100, 130),
        contact,
        customer,
        project_no: format!("PRJ-{:05}", rng.range(1, projects)),
        subject,
        netto: fixed(total, 2),
        pay_term: rng.pick(&PAY_TERMS),
        positions,
    }
}

fn task(rng: &mut Rng, id: i64, from: NaiveDate, to: NaiveDate) -> Task {
    let span = (to - from).num_days().max(0);
    let date = from + Days::new(rng.range(0, span).unsigned_abs());
    let (hour, minute) = (rng.range(6, 14), rng.pick(&[0, 15, 30, 45]));
    let end_hour = hour + rng.range(1, 9);
    Task {
        id,
        kalk_id: rng.range(1, 9),
        kalk_type: rng.range(1, 2),
        cost_centre_name: rng.pick(&COST_CENTRES),
        activity_name: rng.pick(&ACTIVITIES),
        min_ruest: fixed(Decimal::new(rng.range(0, 12_000), 2), 2),
        min_wage: fixed(Decimal::new(rng.range(50, 60_000), 2), 2),
        min_masch: fixed(Decimal::new(rng.range(0, 60_000), 2), 2),
        production_start: format!("{date} {hour:02}:{minute:02}:00"),
        production_end: (!rng.one_in(8)).then(|| format!("{date} {end_hour:02}:{minute:02}:00")),
    }
}

#[derive(Serialize)]
pub(crate) struct Order {
    id: i64,
    o_conf_date: String,
    employee_no: i64,
    #[serde(rename = "zuHaenden")]
    zu_haenden: Option<&'static str>,
    addressfield_1: &'static str,
    customer_no: i64,
    project_no: String,
    subject: String,
    netto: String,
    ges_netto: String,
    ges_rabatt: &'static str,
    pay_term_id: i64,
    pay_term_text: &'static str,
    delivery_date: String,
    positions: Vec<Position>,
}

pub(crate) fn order(rng: &mut Rng, id: i64, projects: i64) -> Order {
    let deal = deal(rng, id, Kind::Order.first_id(), projects);
    Order {
        id,
        o_conf_date: deal.date.to_string(),
        employee_no: deal.employee_no,
        zu_haenden: deal.contact,
        addressfield_1: CUSTOMERS[deal.customer],
        customer_no: 10_001 + deal.customer as i64,
        project_no: deal.project_no,
        subject: deal.subject,
        ges_netto: deal.netto.clone(),
        netto: deal.netto,
        ges_rabatt: "0.00",
        pay_term_id: deal.pay_term.0,
        pay_term_text: deal.pay_term.1,
        delivery_date: deal.delivery.to_string(),
        positions: deal.positions,
    }
}

#[derive(Serialize)]
pub(crate) struct Offer {
    id: i64,
    offer_date: String,
    employee_no: i64,
    zu_haenden: Option<&'static str>,
    customer_no: i64,
    project_no: String,
    lead_text: String,
    followup_text: Option<&'static str>,
    date_desired: String,
    delivery_date: String,
    netto: String,
    ges_netto: String,
    ges_rabatt: &'static str,
    info: Option<String>,
    pay_term_id: i64,
    pay_term_text: &'static str,
    positions: Vec<Position>,
}

pub(crate) fn offer(rng: &mut Rng, id: i64, projects: i64) -> Offer {
    let deal = deal(rng, id, Kind::Offer.first_id(), projects);
    let desired = deal.date + Days::new(rng.range(20, 90).unsigned_abs());
    Offer {
        id,
        offer_date: deal.date.to_string(),
        employee_no: deal.employee_no,
        zu_haenden: deal.contact,
        customer_no: 10_001 + deal.customer as i64,
        project_no: deal.project_no,
        lead_text: format!("Angebot {}: {}", CUSTOMERS[deal.customer], deal.subject),
        followup_text: rng
            .one_in(3)
            .then_some("Nachfassen in zwei Wochen – Rückruf erbeten"),
        date_desired: desired.to_string(),
        delivery_date: deal.delivery.to_string(),
        ges_netto: deal.netto.clone(),
        netto: deal.netto,
        ges_rabatt: "0.00",
        info: (!rng.one_in(3)).then(|| format!("Preise gültig bis {desired}")),
        pay_term_id: deal.pay_term.0,
        pay_term_text: deal.pay_term.1,
        positions: deal.positions,
    }
}
