//! Tests of the simulated aircalc NEXT data: determinism, the assumed shapes of projects,
//! rows, BOMs and users, exact decimal literals, ISO-8601 timestamps, mutation and the
//! insertion of projects; and that the HTTP endpoints serve exactly the generated data.

use std::collections::BTreeSet;

use bytes::Bytes;
use serde_json::{Value, json};

use super::data::Store;
use super::model::parse_iso;
use super::mutate::{Plan, apply};
use super::units::{UNIT_TYPES, users};
use crate::options::SimOptions;
use crate::server::{RunningSimulator, start};

fn parse(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).expect("stored JSON")
}

/// Every project, parsed, by number.
fn projects(store: &Store) -> Vec<Value> {
    let numbers = store.numbers();
    let stored = numbers.iter().map(|no| store.project(no).expect("listed"));
    stored.map(|bytes| parse(bytes)).collect()
}

fn rows(store: &Store) -> Vec<Value> {
    match parse(&store.rows()) {
        Value::Array(rows) => rows,
        other => panic!("rows are no array: {other}"),
    }
}

fn keys(value: &Value) -> Vec<&str> {
    let object = value.as_object().expect("object");
    object.keys().map(String::as_str).collect()
}

/// Decimals of a JSON number as served (the literal is kept).
fn scale(value: &Value) -> Option<usize> {
    let text = value.as_number()?.to_string();
    Some(
        text.split_once('.')
            .map_or(0, |(_, fraction)| fraction.len()),
    )
}

fn is_integer(value: &Value) -> bool {
    value.is_i64() && scale(value) == Some(0)
}

/// An ISO-8601 timestamp with milliseconds and Berlin's offset, in epoch milliseconds.
fn instant(value: &Value) -> i64 {
    let text = value.as_str().expect("timestamp text");
    let (_, offset) = text.split_at(23);
    assert!(["+01:00", "+02:00"].contains(&offset), "{text}");
    assert_eq!(text.as_bytes()[19], b'.', "{text}");
    parse_iso(text).expect("ISO-8601")
}

fn price(project: &Value, pos_no: &str) -> Value {
    let positions = project["positions"].as_array().expect("positions");
    let position = positions.iter().find(|p| p["posNo"] == pos_no);
    position.expect("position")["ahu"]["priceNet"].clone()
}

#[test]
fn same_seed_gives_identical_data() {
    let (a, b, c) = (
        Store::generate(7, 30),
        Store::generate(7, 30),
        Store::generate(8, 30),
    );
    assert_eq!(a.numbers(), b.numbers());
    assert_eq!(a.rows(), b.rows());
    assert_ne!(a.rows(), c.rows());
    let fewer = Store::generate(7, 10);
    for no in a.numbers() {
        assert_eq!(a.project(&no), b.project(&no), "{no}");
        assert_ne!(a.project(&no), c.project(&no), "{no}");
        let first = format!("{no}-01");
        assert_eq!(a.bom(&first).expect("BOM"), b.bom(&first).expect("BOM"));
    }
    for no in fewer.numbers() {
        assert_eq!(fewer.project(&no), a.project(&no), "{no}");
    }
}

#[test]
fn projects_have_the_assumed_shape() {
    let store = Store::generate(3, 30);
    let expected: Vec<String> = (1..=30).map(|n| format!("PRJ-{n:05}")).collect();
    assert_eq!(store.numbers(), expected);
    let (mut refs, mut pos_nos, mut literals) = (BTreeSet::new(), BTreeSet::new(), Vec::new());
    for project in projects(&store) {
        let no = project["projectNo"].as_str().expect("projectNo");
        let mut fields = keys(&project);
        fields.sort_unstable();
        let shape = [
            "createdAt",
            "createdBy",
            "customerName",
            "externalRef",
            "name",
        ];
        let rest = ["positions", "projectNo", "updatedAt"];
        assert_eq!(fields, [&shape[..], &rest[..]].concat(), "{no}");
        let external_ref = project["externalRef"].as_str().expect("externalRef");
        assert!(
            external_ref
                .strip_prefix("EXT-")
                .is_some_and(|n| n.parse::<u32>().is_ok())
        );
        assert!(
            refs.insert(external_ref.to_owned()),
            "{external_ref} repeats"
        );
        assert!(
            project["name"]
                .as_str()
                .is_some_and(|name| !name.is_empty())
        );
        assert!(
            project["customerName"]
                .as_str()
                .is_some_and(|name| !name.is_empty())
        );
        assert!((1..=8).contains(&project["createdBy"].as_i64().expect("user id")));
        assert!(instant(&project["createdAt"]) <= instant(&project["updatedAt"]));
        let positions = project["positions"].as_array().expect("positions");
        assert!((1..=4).contains(&positions.len()), "{no}");
        for (index, position) in positions.iter().enumerate() {
            let pos_no = position["posNo"].as_str().expect("posNo");
            assert_eq!(pos_no, format!("{no}-{:02}", index + 1));
            assert!(pos_nos.insert(pos_no.to_owned()));
            assert_eq!(
                keys(position),
                ["ahu", "description", "externalRef", "posNo", "quantity"]
            );
            assert!(is_integer(&position["quantity"]));
            let ahu = &position["ahu"];
            let integers = [
                "airflowExtract",
                "airflowSupply",
                "heightMm",
                "lengthMm",
                "widthMm",
            ];
            let mut expected = [&integers[..], &["priceNet", "unitType", "weightKg"]].concat();
            expected.sort_unstable();
            assert_eq!(keys(ahu), expected);
            assert!(
                integers.iter().all(|field| is_integer(&ahu[field])),
                "{ahu}"
            );
            assert!(UNIT_TYPES.contains(&ahu["unitType"].as_str().expect("unitType")));
            assert_eq!(scale(&ahu["weightKg"]), Some(1), "{ahu}");
            assert_eq!(scale(&ahu["priceNet"]), Some(2), "{ahu}");
            literals.push(ahu["priceNet"].to_string());
        }
    }
    // Trailing zeros are served as written, which a float would lose.
    assert!(literals.iter().any(|literal| literal.ends_with('0')));
    let text = String::from_utf8(store.project("PRJ-00001").expect("project").to_vec());
    assert!(text.expect("UTF-8").contains(r#""priceNet":"#));
}

#[test]
fn rows_boms_and_users_follow_the_projects() {
    let store = Store::generate(5, 12);
    let rows = rows(&store);
    let mut at = 0;
    for project in projects(&store) {
        for position in project["positions"].as_array().expect("positions") {
            let expected = json!({
                "projectNo": project["projectNo"], "projectExternalRef": project["externalRef"],
                "posNo": position["posNo"], "posExternalRef": position["externalRef"],
                "description": position["description"], "quantity": position["quantity"],
                "unitType": position["ahu"]["unitType"], "updatedAt": project["updatedAt"],
            });
            assert_eq!(rows[at], expected);
            at += 1;
            let pos_no = position["posNo"].as_str().expect("posNo");
            let bom = parse(&store.bom(pos_no).expect("BOM"));
            assert_eq!(keys(&bom), ["lines", "posNo"]);
            assert_eq!(bom["posNo"], pos_no);
            let lines = bom["lines"].as_array().expect("lines");
            assert!((2..=6).contains(&lines.len()));
            for (index, line) in lines.iter().enumerate() {
                let fields = ["articleNo", "description", "lineNo", "quantity", "unit"];
                assert_eq!(keys(line), fields);
                assert_eq!(line["lineNo"], json!(index + 1));
                assert!(line["quantity"].is_number() && line["unit"].is_string());
            }
        }
        let external_ref = project["externalRef"].as_str().expect("externalRef");
        assert_eq!(
            store.by_external_ref(external_ref).map(|b| parse(b)),
            Some(project)
        );
    }
    assert_eq!(at, rows.len());
    assert_eq!(store.bom("PRJ-00001-99"), None);
    assert_eq!(store.by_external_ref("EXT-1"), None);
    let found = serde_json::to_value(users(&[8, 2, 99, 2, 0])).expect("users");
    let ids: Vec<&Value> = found
        .as_array()
        .expect("users")
        .iter()
        .map(|u| &u["id"])
        .collect();
    assert_eq!(ids, [&json!(2), &json!(8)]);
    assert_eq!(keys(&found[0]), ["email", "id", "name"]);
    assert!(
        found[1]["name"]
            .as_str()
            .is_some_and(|name| !name.is_ascii())
    );
    assert!(users(&[]).is_empty());
}

fn plan(body: &str) -> Plan {
    Plan::parse(body.as_bytes()).expect("valid plan")
}

#[test]
fn mutate_changes_adds_and_deletes() {
    let mut store = Store::generate(9, 10);
    let before = projects(&store);
    let newest = before.iter().map(|p| instant(&p["updatedAt"])).max();
    let report = apply(
        &mut store,
        &plan(r#"{"change":2,"add":1,"delete":1,"seed":3}"#),
    );
    let (changed, added, deleted) = (&report.changed, &report.added, &report.deleted);
    assert_eq!(
        (changed.len(), added, deleted.len()),
        (2, &vec!["PRJ-00011".to_owned()], 1)
    );
    assert_eq!(store.project(&deleted[0]), None);
    let rows = rows(&store);
    assert!(rows.iter().all(|row| row["projectNo"] != json!(deleted[0])));
    for no in changed {
        let old = before
            .iter()
            .find(|p| p["projectNo"] == json!(no))
            .expect("old");
        let new = parse(store.project(no).expect("changed"));
        assert!(instant(&new["updatedAt"]) > instant(&old["updatedAt"]));
        assert!(instant(&new["updatedAt"]) > newest.expect("projects"));
        let name = new["name"].as_str().expect("name");
        assert_eq!(
            name,
            format!("{} [rev 1]", old["name"].as_str().expect("name"))
        );
        let pos_nos = old["positions"].as_array().expect("positions").iter();
        let pos_nos: Vec<&str> = pos_nos
            .map(|p| p["posNo"].as_str().expect("posNo"))
            .collect();
        let repriced = pos_nos
            .iter()
            .filter(|pos| price(old, pos) != price(&new, pos));
        assert_eq!(repriced.count(), 1, "{no}");
        assert!(
            pos_nos
                .iter()
                .all(|pos| scale(&price(&new, pos)) == Some(2))
        );
        assert_eq!(
            old["positions"].as_array().map(Vec::len),
            new["positions"].as_array().map(Vec::len)
        );
        let shown = rows.iter().filter(|row| row["projectNo"] == json!(no));
        let shown: Vec<&Value> = shown.map(|row| &row["updatedAt"]).collect();
        assert!(!shown.is_empty() && shown.iter().all(|at| **at == new["updatedAt"]));
    }
    let again = apply(&mut store, &plan(r#"{"change":100}"#));
    assert_eq!(again.changed.len(), 10);
    let renamed = parse(store.project(&changed[0]).expect("project"));
    let name = renamed["name"].as_str().expect("name");
    assert!(
        name.ends_with(" [rev 2]") && !name.contains("[rev 1]"),
        "{name}"
    );

    let mut small = Store::generate(9, 3);
    let gone = apply(&mut small, &plan(r#"{"delete":5,"change":1}"#));
    assert_eq!((gone.deleted.len(), gone.changed.len()), (3, 0));
    assert_eq!(
        apply(&mut small, &plan(r#"{"add":2}"#)).added,
        ["PRJ-00004", "PRJ-00005"]
    );
    assert_eq!(apply(&mut small, &plan("  ")).added.len(), 0);
}

#[test]
fn inserted_projects_are_kept_verbatim() {
    let mut store = Store::generate(2, 3);
    let body = r#"{ "projectNo": "PRJ-00002", "externalRef": "EXT-X",
        "updatedAt": "2025-01-02T03:04:05.678+01:00",
        "positions": [ {"posNo": "P-1", "quantity": 1.5}, {"description": "ohne Nummer"} ] }"#;
    assert_eq!(store.insert(Bytes::from(body)).as_deref(), Ok("PRJ-00002"));
    assert_eq!(
        store.project("PRJ-00002").map(|b| &b[..]),
        Some(body.as_bytes())
    );
    assert_eq!(
        store.by_external_ref("EXT-X").map(|b| &b[..]),
        Some(body.as_bytes())
    );
    let rows: Vec<Value> = rows(&store)
        .into_iter()
        .filter(|r| r["projectNo"] == "PRJ-00002")
        .collect();
    let null = Value::Null;
    let at = json!("2025-01-02T03:04:05.678+01:00");
    assert_eq!(rows.len(), 2);
    assert_eq!(
        (
            &rows[0]["posNo"],
            &rows[0]["quantity"],
            &rows[0]["updatedAt"]
        ),
        (&json!("P-1"), &json!(1.5), &at)
    );
    assert_eq!(
        (
            &rows[1]["posNo"],
            &rows[1]["unitType"],
            &rows[1]["description"]
        ),
        (&null, &null, &json!("ohne Nummer"))
    );
    assert!(store.bom("P-1").is_some());
    assert_eq!(store.bom("PRJ-00002-01"), None);
    assert_eq!(
        store
            .insert(Bytes::from(r#"{"projectNo":"PRJ-00090"}"#))
            .as_deref(),
        Ok("PRJ-00090")
    );
    assert_eq!(store.numbers().len(), 4);
    let report = apply(&mut store, &plan(r#"{"add":1}"#));
    assert_eq!(report.added, ["PRJ-00091"]);
    for bad in [
        "",
        "[]",
        "{}",
        r#"{"projectNo":""}"#,
        r#"{"projectNo":"A","positions":{}}"#,
        r#"{"projectNo":"A","positions":[1]}"#,
        "{\"projectNo\":",
    ] {
        assert!(store.insert(Bytes::from(bad)).is_err(), "{bad}");
    }
}

#[test]
fn mutate_rejects_bad_input() {
    for bad in [
        r#"{"change":-1}"#,
        r#"{"add":0.5}"#,
        r#"{"fraction":1}"#,
        r#"{"add":1000000}"#,
        "[]",
        "{",
    ] {
        assert!(Plan::parse(bad.as_bytes()).is_err(), "{bad}");
    }
}

/// A fresh access token, for the client credentials of the default options.
async fn token(sim: &RunningSimulator) -> String {
    let form = "grant_type=client_credentials&client_id=sim-client&client_secret=sim-secret";
    let response = reqwest::Client::new()
        .post(sim.aircalc_token_url())
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .expect("request");
    let body: Value = response.json().await.expect("JSON body");
    body["access_token"].as_str().expect("token").to_owned()
}

/// GETs `path` under the external API with the bearer `token`: status and body text.
async fn get(sim: &RunningSimulator, token: &str, path: &str) -> (u16, String) {
    let response = reqwest::Client::new()
        .get(format!("{}{path}", sim.aircalc_url()))
        .bearer_auth(token)
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

async fn get_json(sim: &RunningSimulator, token: &str, path: &str) -> Value {
    let (status, body) = get(sim, token, path).await;
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).expect("JSON")
}

fn error(message: &str, status: u16) -> String {
    json!({"error": message, "status_code": status}).to_string()
}

const ROWS: &str = "/pos-rows-aggregated/v0";

#[tokio::test]
async fn endpoints_serve_the_stored_data() {
    let options = SimOptions {
        seed: 4,
        orders: 10,
        aimsio_objects: 1,
        aircalc_projects: 6,
        ..SimOptions::default()
    };
    let bind = "127.0.0.1:0".parse().expect("address");
    let sim = start(bind, options).await.expect("simulator starts");
    let token = token(&sim).await;
    let store = Store::generate(4, 6);
    let (status, rows) = get(&sim, &token, ROWS).await;
    assert_eq!((status, rows.as_bytes()), (200, &store.rows()[..]));
    let rows: Vec<Value> = serde_json::from_str(&rows).expect("rows");
    for row in &rows {
        let project_no = row["projectNo"].as_str().expect("projectNo");
        let path = format!("/project-by-no/v0/{project_no}");
        let (status, project) = get(&sim, &token, &path).await;
        let stored = store.project(project_no).expect("stored");
        assert_eq!((status, project.as_bytes()), (200, &stored[..]));
        let external_ref = row["projectExternalRef"].as_str().expect("ref");
        let path = format!("/project-by-external-ref/v0/{external_ref}");
        assert_eq!(get(&sim, &token, &path).await.1, project);
        let pos_no = row["posNo"].as_str().expect("posNo");
        let bom = get_json(&sim, &token, &format!("/ahu-bom-by-pos-no/v0/{pos_no}")).await;
        assert_eq!(bom["posNo"], pos_no);
    }
    let users = get_json(&sim, &token, "/users-by-id/v0?ids=2,%201,99").await;
    assert_eq!(users[0]["id"], 1);
    assert_eq!((users[1]["id"].as_i64(), users.get(2)), (Some(2), None));
    assert_eq!(get_json(&sim, &token, "/users-by-id/v0").await, json!([]));
    let bad_ids = (400, error("ids must be comma-separated integers", 400));
    assert_eq!(get(&sim, &token, "/users-by-id/v0?ids=1,x").await, bad_ids);
    let project_missing = (404, error("Project not found", 404));
    for path in [
        "/project-by-no/v0/PRJ-99999",
        "/project-by-no/v0/prj-00001",
        "/project-by-external-ref/v0/EXT-0",
    ] {
        assert_eq!(get(&sim, &token, path).await, project_missing, "{path}");
    }
    let path = "/ahu-bom-by-pos-no/v0/PRJ-00001-99";
    assert_eq!(
        get(&sim, &token, path).await,
        (404, error("Position not found", 404))
    );
    sim.stop().await;
}
