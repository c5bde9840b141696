//! Tests of the simulated Aimsio data: determinism, identifiers and timestamps, the
//! documented fields, exact decimal literals, and mutation.

use std::collections::{BTreeMap, BTreeSet};

use rust_decimal::Decimal;
use serde_json::Value;

use super::crew::ITEM_TYPES;
use super::data::{Entity, Store};
use super::jobs::JOB_STATUSES;
use super::mutate::{Plan, Refusal, Reshape, apply, reshape, stale, vanish};
use crate::values::number;

/// Every object of `entity`: key → (listed updatedAt, parsed detail).
fn objects(store: &Store, entity: Entity) -> BTreeMap<String, (i64, Value)> {
    let parse = |bytes: &[u8]| serde_json::from_slice(bytes).expect("stored JSON");
    store
        .objects(entity)
        .iter()
        .map(|(key, object)| {
            let detail = object.detail.as_deref().map_or(Value::Null, parse);
            (key.clone(), (object.updated_at, detail))
        })
        .collect()
}

fn is_guid(text: &str) -> bool {
    let dashes: Vec<usize> = text.match_indices('-').map(|(at, _)| at).collect();
    text.len() == 36
        && dashes == [8, 13, 18, 23]
        && text
            .chars()
            .all(|c| c == '-' || matches!(c, '0'..='9' | 'a'..='f'))
}

/// Decimals of a JSON number as served (the literal is kept).
fn scale(value: &Value) -> usize {
    let Value::Number(number) = value else {
        panic!("not a number: {value}");
    };
    let text = number.to_string();
    text.split_once('.')
        .map_or(0, |(_, fraction)| fraction.len())
}

fn dec(value: &Value) -> Decimal {
    value.to_string().parse().expect("decimal")
}

#[test]
fn same_seed_gives_identical_data() {
    let (a, b, c) = (
        Store::generate(7, 40),
        Store::generate(7, 40),
        Store::generate(8, 40),
    );
    for entity in Entity::ALL {
        let (ours, twin) = (a.objects(entity), b.objects(entity));
        assert_eq!(ours.len(), 40, "{entity:?}");
        assert!(ours.keys().eq(twin.keys()), "{entity:?}");
        for (key, object) in ours {
            assert_eq!(object.updated_at, twin[key].updated_at);
            assert_eq!(object.detail, twin[key].detail);
        }
        assert!(!ours.keys().eq(c.objects(entity).keys()), "{entity:?}");
    }
    let empty = Store::generate(7, 0);
    assert!(Entity::ALL.iter().all(|&e| empty.objects(e).is_empty()));
}

#[test]
fn keys_and_timestamps_agree() {
    let store = Store::generate(42, 40);
    for entity in Entity::ALL {
        for (key, (updated_at, detail)) in objects(&store, entity) {
            assert!(is_guid(&key), "{key}");
            let prefix = entity.prefix();
            assert_eq!(detail[format!("{prefix}Guid")], key.as_str());
            assert_eq!(detail[entity.updated_field()], updated_at);
            assert_ne!(updated_at % 1_000, 0, "{entity:?} {key}");
            let created = &detail[format!("{prefix}CreatedAt")];
            assert!(created.is_null() || created.as_i64() <= Some(updated_at));
        }
    }
}

#[test]
fn details_carry_the_documented_fields() {
    let store = Store::generate(42, 40);
    let documented: [(Entity, &str); 4] = [
        (
            Entity::JobOrder,
            "jobId jobGuid jobNumber jobName jobDescription jobStatus jobTypeUname jobClientCode \
             jobClientGuid jobClientName jobPriceBookName jobPriceBookGuid jobStartDate jobEndDate \
             jobCreatedAt jobUpdatedAt jobShowInDispatching jobAssigneeEmployeeNumber \
             jobAssigneeFullName jobAssigneeUserName jobAddress jobLocationCode jobLocationName \
             jobLocationLat jobLocationLong jobDirection jobWBSSchedule",
        ),
        (
            Entity::Employee,
            "employeeGuid employeeCode employmentType employeeStatusUname employeeFirstName \
             employeeLastName employeeNickName employeeTradeGuid employeeTradeCode \
             employmentHireDate employmentTerminationDate employeeEmail employeePhone \
             employeeCreatedAt employeeUpdatedAt employeeFormData",
        ),
        (
            Entity::Nrb,
            "nrbGuid nrbExternalId nrbJobOrderNumber nrbName nrbTypeUname nrbAccountType \
             nrbIsBillable nrbVendorCode nrbRate nrbQuantity nrbVendorTax nrbUpcharge nrbPONumber \
             nrbInvoiceNumber nrbInvoiceDate nrbIsExported nrbUpdatedAt",
        ),
        (
            Entity::BillableItem,
            "billableItemGuid billableItemCode billableItemName billableItemTypeUname \
             billableItemCategory billableItemDescription billableItemStatus \
             billableItemDefaultRate billableItemUpdatedAt",
        ),
    ];
    for (entity, fields) in documented {
        for (_, detail) in objects(&store, entity).values() {
            for field in fields.split_whitespace() {
                assert!(detail.get(field).is_some(), "{field} missing in {detail}");
            }
        }
    }
    let jobs = objects(&store, Entity::JobOrder);
    let mut unicode = false;
    for (_, job) in jobs.values() {
        assert!(JOB_STATUSES.contains(&job["jobStatus"].as_str().expect("status")));
        assert!(job["jobId"].is_i64() && job["jobShowInDispatching"].is_boolean());
        assert_eq!(
            (
                scale(&job["jobLocationLat"]),
                scale(&job["jobLocationLong"])
            ),
            (6, 6)
        );
        assert!(job["jobWBSSchedule"]["jobScheduleGuid"].is_string());
        let assigned = job["jobAssigneeEmployeeNumber"].is_string();
        assert_eq!(assigned, job["jobStatus"] != "Unassigned", "{job}");
        unicode |= !job["jobName"].as_str().expect("name").is_ascii();
    }
    assert!(unicode);
    let employees = objects(&store, Entity::Employee);
    let count = |key: &str| employees.values().filter(|(_, e)| e[key].is_null()).count();
    assert!(count("employeeNickName") > 0 && count("employeeNickName") < 40);
    assert!(count("employmentTerminationDate") > 20);
    assert!(
        employees
            .values()
            .all(|(_, e)| e["employeeFormData"].is_object())
    );
    let mut rates = BTreeSet::new();
    for (_, nrb) in objects(&store, Entity::Nrb).values() {
        let billable = nrb["nrbIsBillable"].as_bool().expect("bool");
        let account = if billable { "Billable" } else { "Not Billable" };
        assert_eq!(nrb["nrbAccountType"], account);
        for key in ["nrbRate", "nrbVendorTax", "nrbUpcharge"] {
            assert_eq!(scale(&nrb[key]), 2, "{key} in {nrb}");
        }
        assert!((2..=4).contains(&scale(&nrb["nrbQuantity"])));
        rates.insert(nrb["nrbRate"].to_string());
    }
    assert!(rates.contains("125.50"), "{rates:?}");
    let types: BTreeSet<String> = objects(&store, Entity::BillableItem)
        .values()
        .map(|(_, item)| item["billableItemTypeUname"].to_string())
        .collect();
    assert_eq!(types.len(), ITEM_TYPES.len());
    for (_, invoice) in objects(&store, Entity::Invoice).values() {
        let sum = dec(&invoice["invoiceSubtotal"]) + dec(&invoice["invoiceTax"]);
        assert_eq!(dec(&invoice["invoiceTotal"]), sum);
    }
}

#[test]
fn numbers_keep_their_literal() {
    let served = serde_json::to_string(&[number(12_550, 2), number(-114_057_100, 6)]);
    assert_eq!(served.expect("JSON"), "[125.50,-114.057100]");
    let parsed: Value = serde_json::from_str(r#"{"rate":125.50}"#).expect("JSON");
    assert_eq!(parsed.to_string(), r#"{"rate":125.50}"#);
}

fn plan(body: &str) -> Plan {
    Plan::parse(body.as_bytes()).expect("valid plan")
}

#[test]
fn mutate_counts_and_moves_time_forward() {
    let mut store = Store::generate(3, 40);
    let before = objects(&store, Entity::JobOrder);
    let newest = before.values().map(|(at, _)| *at).max().expect("objects");
    let body = r#"{"entity":"JobOrder","change":3,"add":1,"delete":2,"seed":9}"#;
    let report = apply(&mut store, &plan(body));
    assert_eq!(report.keys().copied().collect::<Vec<_>>(), ["JobOrder"]);
    let done = &report["JobOrder"];
    let sizes = (done.changed.len(), done.added.len(), done.deleted.len());
    assert_eq!(sizes, (3, 1, 2));
    let after = objects(&store, Entity::JobOrder);
    assert_eq!(after.len(), 39);
    assert!(done.deleted.iter().all(|key| !after.contains_key(key)));
    for key in &done.changed {
        let ((old, _), (new, detail)) = (&before[key], &after[key]);
        assert!(new > old && new % 1_000 != 0, "{old} -> {new}");
        assert_eq!(detail["jobUpdatedAt"], *new);
        let name = detail["jobName"].as_str().expect("name");
        assert!(name.ends_with(&format!(" [rev {new}]")), "{name}");
    }
    let (added, _) = &after[&done.added[0]];
    assert!(*added > newest && added % 1_000 != 0);
    let unchanged = before
        .keys()
        .filter(|key| !done.changed.contains(key) && !done.deleted.contains(key));
    assert!(unchanged.into_iter().all(|key| before[key] == after[key]));
    // The same seed again still adds new objects; a twin store follows the same steps.
    let mut twin = Store::generate(3, 40);
    apply(&mut twin, &plan(body));
    let again = apply(&mut store, &plan(body));
    assert_ne!(again["JobOrder"].added, done.added);
    assert_eq!(
        apply(&mut twin, &plan(body))["JobOrder"].added,
        again["JobOrder"].added
    );
    let all = apply(&mut store, &plan(r#"{"change":100,"delete":1}"#));
    assert_eq!(all.len(), 7);
    assert_eq!(all["Employee"].changed.len(), 39);
    assert_eq!(all["JobOrder"].changed.len(), 37);
}

#[test]
fn vanished_and_stale_details() {
    let mut store = Store::generate(5, 4);
    let keys: Vec<String> = store.objects(Entity::Nrb).keys().cloned().collect();
    vanish(&mut store, Entity::Nrb, &keys[0]).expect("vanish");
    assert!(store.objects(Entity::Nrb)[&keys[0]].detail.is_none());
    assert_eq!(
        vanish(&mut store, Entity::Nrb, "nope"),
        Err(Refusal::NotFound)
    );
    let listed = store.objects(Entity::Nrb)[&keys[1]].updated_at;
    assert!(matches!(
        stale(&mut store, Entity::Nrb, &keys[1], listed),
        Err(Refusal::Invalid(_))
    ));
    let at = listed + 60_123;
    stale(&mut store, Entity::Nrb, &keys[1], at).expect("stale");
    assert_eq!(
        stale(&mut store, Entity::Nrb, &keys[0], at),
        Err(Refusal::NotFound)
    );
    let now = objects(&store, Entity::Nrb);
    assert_eq!(now[&keys[1]].0, listed);
    assert_eq!(now[&keys[1]].1["nrbUpdatedAt"], at);
    // A change moves both past the stale detail; vanished objects are not changed.
    let report = apply(&mut store, &plan(r#"{"entity":"NRB","change":4}"#));
    assert_eq!(report["NRB"].changed.len(), 3);
    assert!(store.objects(Entity::Nrb)[&keys[1]].updated_at > at);
    let gone = apply(&mut store, &plan(r#"{"entity":"NRB","delete":4}"#));
    assert_eq!(gone["NRB"].deleted.len(), 4);
    let added = apply(&mut store, &plan(r#"{"entity":"Timecard","add":2}"#));
    assert_eq!(added["Timecard"].added.len(), 2);
}

#[test]
fn mutate_rejects_bad_input() {
    assert!(Plan::parse(b" ").is_ok());
    for bad in [
        r#"{"change":-1}"#,
        r#"{"change":0.5}"#,
        r#"{"entity":"jobOrder"}"#,
        r#"{"kinds":["JobOrder"]}"#,
        r#"{"add":100001}"#,
        "[1]",
        "{",
    ] {
        assert!(Plan::parse(bad.as_bytes()).is_err(), "{bad}");
    }
}

#[test]
fn reshape_sets_unsets_and_stringifies_every_detail_and_stamps_it_later() {
    let mut store = Store::generate(3, 5);
    let before = objects(&store, Entity::Timecard);
    let latest = before.values().map(|(at, _)| *at).max().unwrap();
    let plan: Reshape = serde_json::from_value(serde_json::json!({
        "set": {"timecardSite": "North"},
        "unset": ["timecardComment"],
        "stringify": ["timecardHours"],
    }))
    .unwrap();
    let changed = reshape(&mut store, Entity::Timecard, &plan);
    assert_eq!(changed.len(), 5);
    let after = objects(&store, Entity::Timecard);
    let mut stamps = BTreeSet::new();
    for (key, (at, detail)) in &after {
        assert!(*at > latest && at % 1_000 != 0, "{key}: {at}");
        assert!(stamps.insert(*at));
        assert_eq!(detail["timecardUpdatedAt"], Value::from(*at));
        assert_eq!(detail["timecardSite"], "North");
        assert!(detail.get("timecardComment").is_none());
        let hours = &before[key].1["timecardHours"];
        assert_eq!(detail["timecardHours"], Value::String(hours.to_string()));
    }
    assert_eq!(
        objects(&store, Entity::Equipment),
        objects(&Store::generate(3, 5), Entity::Equipment)
    );
    let one = after.keys().next().unwrap().clone();
    let only: Reshape =
        serde_json::from_value(serde_json::json!({"unset": ["timecardNumber"], "keys": [one]}))
            .unwrap();
    assert_eq!(
        reshape(&mut store, Entity::Timecard, &only),
        vec![one.clone()]
    );
    let last = objects(&store, Entity::Timecard);
    for (key, (at, detail)) in &last {
        assert_eq!(detail.get("timecardNumber").is_none(), *key == one, "{key}");
        assert_eq!(*at > after[key].0, *key == one, "{key}");
    }
}
