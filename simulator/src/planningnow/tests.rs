//! Tests of the simulated PlanningNow data: determinism, sizes, exact sums, the awkward
//! details (ids, nulls, Unicode, DST, spellings), the folder tree, and mutation.

use std::collections::{BTreeMap, HashSet};

use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::Value;

use super::data::Store;
use super::model::Kind;
use super::mutate::{Plan, apply};

fn objects(store: &Store, kind: Kind) -> BTreeMap<i64, Value> {
    let parse = |bytes: &[u8]| serde_json::from_slice(bytes).expect("stored JSON");
    store
        .objects(kind)
        .iter()
        .map(|(id, b)| (*id, parse(b)))
        .collect()
}

fn dec(value: &Value) -> Decimal {
    value
        .as_str()
        .expect("decimal string")
        .parse()
        .expect("decimal")
}

fn scale(value: &Value) -> usize {
    let text = value.as_str().expect("decimal string");
    text.split_once('.')
        .map_or(0, |(_, fraction)| fraction.len())
}

fn tasks(object: &Value) -> impl Iterator<Item = &Value> {
    object["positions"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|p| p["tasks"].as_array().into_iter().flatten())
}

/// Checks that positions multiply out and that the totals are their exact sum.
fn assert_sums(object: &Value) {
    let mut total = Decimal::ZERO;
    for position in object["positions"].as_array().expect("positions") {
        for key in ["amount", "unit_price", "netto", "brutto", "mwst_percent"] {
            assert_eq!(scale(&position[key]), 2, "{key} in {position}");
        }
        let netto = dec(&position["netto"]);
        assert_eq!(
            netto,
            dec(&position["amount"]) * dec(&position["unit_price"])
        );
        let gross = netto * (Decimal::ONE + dec(&position["mwst_percent"]) / Decimal::ONE_HUNDRED);
        let gross = gross.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
        assert_eq!(dec(&position["brutto"]), gross);
        total += netto;
    }
    assert_eq!(dec(&object["netto"]), total);
    assert_eq!(object["netto"], object["ges_netto"]);
    assert_eq!(scale(&object["netto"]), 2);
}

#[test]
fn same_seed_gives_identical_bytes() {
    let (a, b, c) = (
        Store::generate(7, 300),
        Store::generate(7, 300),
        Store::generate(8, 300),
    );
    for kind in Kind::ALL {
        assert_eq!(a.objects(kind), b.objects(kind), "{kind:?}");
    }
    assert_eq!(a.tree, b.tree);
    assert_ne!(a.objects(Kind::Order), c.objects(Kind::Order));
}

#[test]
fn sizes_and_ids_follow_the_order_count() {
    let store = Store::generate(1, 200);
    let ids = |kind| store.objects(kind).keys().copied().collect::<Vec<i64>>();
    assert_eq!(ids(Kind::Order), (1001..=1200).collect::<Vec<_>>());
    assert_eq!(ids(Kind::Offer), (5001..=5100).collect::<Vec<_>>());
    assert_eq!(ids(Kind::WorkSchedule), (101..=110).collect::<Vec<_>>());
    assert_eq!(ids(Kind::CostCentre), (1..=12).collect::<Vec<_>>());
    assert_eq!(ids(Kind::Document), (1..=100).collect::<Vec<_>>());
    let tiny = Store::generate(1, 0);
    let counts: Vec<usize> = Kind::ALL.iter().map(|k| tiny.objects(*k).len()).collect();
    assert_eq!(counts, [0, 1, 2, 12, 1]);
}

#[test]
fn money_sums_are_exact() {
    let store = Store::generate(11, 400);
    for kind in [Kind::Order, Kind::Offer] {
        for object in objects(&store, kind).values() {
            let positions = object["positions"].as_array().expect("positions");
            assert!((1..=4).contains(&positions.len()));
            assert_sums(object);
        }
    }
    for (id, centre) in objects(&store, Kind::CostCentre) {
        let (camel, snake) = (&centre["kalkMinKosten"], &centre["kalk_min_kosten"]);
        let kalk = if id % 5 == 0 { snake } else { camel };
        assert_eq!(scale(kalk), 3, "{centre}");
        assert!(if id % 5 == 0 {
            camel.is_null()
        } else {
            snake.is_null()
        });
    }
}

#[test]
fn position_and_task_ids_repeat_across_orders() {
    let orders = objects(&Store::generate(5, 100), Kind::Order);
    assert!(orders.values().all(|o| o["positions"][0]["id"] == 1));
    let with_task_101 = orders
        .values()
        .filter(|o| tasks(o).any(|t| t["id"] == 101))
        .count();
    assert!(with_task_101 > 10);
}

#[test]
fn awkward_details_are_present() {
    let store = Store::generate(42, 200);
    let orders = objects(&store, Kind::Order);
    let dst: Vec<&Value> = tasks(&orders[&1001])
        .filter(|t| t["production_start"] == "2025-03-30 02:30:00")
        .collect();
    assert_eq!(dst.len(), 1);
    assert_eq!(dst[0]["production_end"], "2025-10-26 02:30:00");
    let odd_hours = orders
        .values()
        .flat_map(tasks)
        .flat_map(|t| [&t["production_start"], &t["production_end"]])
        .filter(|ts| ts.as_str().is_some_and(|ts| ts.contains(" 02:")))
        .count();
    assert_eq!(odd_hours, 2);
    for (id, order) in &orders {
        assert_eq!(order["zuHaenden"].is_null(), (id - 1000) % 7 == 0);
        assert!(order.get("zu_haenden").is_none());
    }
    for (id, offer) in objects(&store, Kind::Offer) {
        assert_eq!(offer["zu_haenden"].is_null(), (id - 5000) % 7 == 0);
    }
    let companies: HashSet<&str> = orders
        .values()
        .filter_map(|o| o["addressfield_1"].as_str())
        .collect();
    for name in [
        "Müller Lüftungstechnik GmbH",
        "東京エアー株式会社",
        "Łódź Klima Sp. z o.o.",
    ] {
        assert!(companies.contains(name), "{name}");
    }
    let mut projects = HashSet::new();
    let shared = orders
        .values()
        .filter(|o| !projects.insert(o["project_no"].clone()))
        .count();
    assert!(shared > 0);
    let positions: Vec<&Value> = orders
        .values()
        .flat_map(|o| o["positions"].as_array())
        .flatten()
        .collect();
    assert!(positions.iter().any(|p| p["remarks"].is_null()));
    assert!(positions.iter().any(|p| p["deliv_date"].is_null()));
    assert!(
        orders
            .values()
            .flat_map(tasks)
            .any(|t| t["production_end"].is_null())
    );
}

fn folders(nodes: &[Value], depth: usize, out: &mut Vec<(i64, String, usize)>) {
    for node in nodes {
        let area = node["area"].as_str().expect("area").to_owned();
        out.push((node["id"].as_i64().expect("id"), area, depth));
        folders(
            node["children"].as_array().expect("children"),
            depth + 1,
            out,
        );
    }
}

#[test]
fn documents_point_into_the_folder_tree() {
    let store = Store::generate(9, 200);
    let roots: Vec<&str> = store
        .tree
        .iter()
        .filter_map(|r| r["area"].as_str())
        .collect();
    assert_eq!(roots, ["order", "offer", "customer"]);
    for root in &store.tree {
        assert_eq!(root["name"], "Alle");
        assert!((2..=3).contains(&root["children"].as_array().map_or(0, Vec::len)));
    }
    let mut all = Vec::new();
    folders(&store.tree, 0, &mut all);
    let ids: HashSet<i64> = all.iter().map(|f| f.0).collect();
    assert_eq!(ids.len(), all.len());
    assert_eq!(all.iter().filter(|f| f.2 == 2).count(), 3);
    let orders = store.objects(Kind::Order);
    for document in objects(&store, Kind::Document).values() {
        let folder = all
            .iter()
            .find(|f| document["folder_id"] == f.0)
            .expect("folder");
        assert_eq!(document["area"], folder.1.as_str());
        let number: i64 = document["number"]
            .as_str()
            .expect("string")
            .parse()
            .expect("number");
        assert!(document["area"] != "order" || orders.contains_key(&number));
    }
}

#[test]
fn mutate_counts_and_keeps_sums() {
    let body = br#"{"change":0.1,"add":0.05,"delete":0.05,"seed":7,"kinds":["order","offer"]}"#;
    let plan = Plan::parse(body).expect("valid plan");
    let mut store = Store::generate(3, 200);
    let before = objects(&store, Kind::Order);
    let report = apply(&mut store, &plan);
    assert_eq!(
        report.keys().copied().collect::<Vec<_>>(),
        ["offer", "order"]
    );
    let (orders, offers) = (&report["order"], &report["offer"]);
    assert_eq!(
        (
            orders.deleted.len(),
            orders.changed.len(),
            orders.added.len()
        ),
        (10, 20, 10)
    );
    assert_eq!(
        (
            offers.deleted.len(),
            offers.changed.len(),
            offers.added.len()
        ),
        (5, 10, 5)
    );
    assert_eq!(orders.added, (1201..=1210).collect::<Vec<_>>());
    assert!(orders.changed.iter().all(|id| !orders.deleted.contains(id)));
    let after = objects(&store, Kind::Order);
    assert_eq!(after.len(), 200);
    assert!(orders.deleted.iter().all(|id| !after.contains_key(id)));
    let multi = |id: &i64| before[id]["positions"].as_array().map_or(0, Vec::len) >= 2;
    assert_eq!(
        orders.positions_removed.len(),
        orders.changed.iter().filter(|id| multi(id)).count()
    );
    for (order, position) in &orders.positions_removed {
        let old = before[order]["positions"].as_array().expect("positions");
        assert_eq!(old.last().expect("position")["id"], *position);
        assert_eq!(
            after[order]["positions"].as_array().map(Vec::len),
            Some(old.len() - 1)
        );
    }
    for id in &orders.changed {
        assert_ne!(after[id]["subject"], before[id]["subject"]);
        assert_sums(&after[id]);
    }
    let mut again = Store::generate(3, 200);
    let report_again = apply(&mut again, &plan);
    assert_eq!(format!("{report:?}"), format!("{report_again:?}"));
    assert_eq!(again.objects(Kind::Order), store.objects(Kind::Order));
}

#[test]
fn mutate_rejects_bad_input() {
    for body in [
        &br#"{"change":2}"#[..],
        br#"{"delete":-0.1}"#,
        br#"{"kinds":["order","bogus"]}"#,
        br#"{"chnage":0.1}"#,
        br#"{"change":"0.1"}"#,
        b"not json",
    ] {
        assert!(
            Plan::parse(body).is_err(),
            "{}",
            String::from_utf8_lossy(body)
        );
    }
    assert!(Plan::parse(b"").is_ok());
}

#[test]
fn mutate_survives_odd_stored_objects() {
    let huge = "79228162514264337593543950335";
    let mut store = Store::generate(1, 3);
    let order = format!(
        r#"{{"id":1001,"netto":"abc","positions":[{{"id":1,"amount":"{huge}","unit_price":"2","netto":"{huge}","mwst_percent":"x","tasks":[{{"min_wage":"{huge}"}},7]}},{{"id":2,"netto":"{huge}"}}]}}"#
    );
    let schedule =
        format!(r#"{{"id":101,"sum_cost":"{huge}","sum_cost_fremdfert":"1","los_stueck":0}}"#);
    store.objects_mut(Kind::Order).insert(1001, order.into());
    store.objects_mut(Kind::Order).insert(1002, "[1]".into());
    store
        .objects_mut(Kind::WorkSchedule)
        .insert(101, schedule.into());
    let plan = Plan::parse(br#"{"change":1}"#).expect("valid plan");
    let report = apply(&mut store, &plan);
    assert_eq!(report["order"].changed, [1001, 1003]);
    assert!(report["order"].positions_removed.contains(&(1001, 2)));
    assert!(report["work-schedule"].changed.contains(&101));
    assert_eq!(store.objects(Kind::Order)[&1002], "[1]");
}
