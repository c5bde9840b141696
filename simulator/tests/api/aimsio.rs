//! Tests of the Aimsio fake over HTTP: Basic auth, list and detail shapes, determinism,
//! the control endpoints (mutate, vanish, stale, forbidden), the statistics' route keys
//! and the default rate limit.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use tributary_simulator::{RunningSimulator, SimOptions, start};

const API: &str = "/rest/api/standard/v1";
const ENTITIES: [&str; 7] = [
    "JobOrder",
    "Employee",
    "Equipment",
    "BillableItem",
    "NRB",
    "Invoice",
    "Timecard",
];

/// A simulator with `objects` per entity; `limited` keeps the default rate limits.
async fn simulator(seed: u64, objects: usize, limited: bool) -> RunningSimulator {
    let mut options = SimOptions {
        seed,
        orders: 10,
        aimsio_objects: objects,
        ..SimOptions::default()
    };
    if !limited {
        options.limits = BTreeMap::new();
    }
    let bind = "127.0.0.1:0".parse().expect("address");
    start(bind, options).await.expect("simulator starts")
}

/// GETs `path` under the API root with the right credentials: status and body text.
async fn get(sim: &RunningSimulator, path: &str) -> (u16, String) {
    let response = reqwest::Client::new()
        .get(format!("{}{API}{path}", sim.aimsio_url()))
        .basic_auth("sim-user", Some("sim-password"))
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

async fn get_json(sim: &RunningSimulator, path: &str) -> Value {
    let (status, body) = get(sim, path).await;
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).expect("JSON")
}

/// Sends a control request to `/_sim/aimsio{path}`: status and JSON body.
async fn control(sim: &RunningSimulator, method: &str, path: &str, body: Value) -> (u16, Value) {
    let url = format!("{}/_sim/aimsio{path}", sim.url());
    let method = method.parse().expect("method");
    let response = reqwest::Client::new()
        .request(method, url)
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON body"))
}

/// The list entries' identifier field.
fn key_of(entity: &str) -> &'static str {
    if matches!(entity, "Employee" | "Timecard") {
        "id"
    } else {
        "guid"
    }
}

fn error(message: &str, status: u16) -> String {
    json!({"error": message, "status_code": status}).to_string()
}

#[tokio::test]
async fn basic_auth_is_required() {
    let sim = simulator(1, 3, false).await;
    assert_eq!(sim.aimsio_url(), format!("http://{}/aimsio", sim.addr()));
    let url = format!("{}{API}/JobOrder", sim.aimsio_url());
    let client = reqwest::Client::new();
    let requests = [
        client.get(&url),
        client.get(&url).basic_auth("sim-user", Some("wrong")),
        client.get(&url).basic_auth("other", Some("sim-password")),
        client.get(&url).basic_auth("sim-user", None::<&str>),
        client.get(&url).header("Authorization", "Basic !!!"),
        client.get(&url).bearer_auth("sim-password"),
    ];
    for request in requests {
        let response = request.send().await.expect("request");
        assert_eq!(response.status(), 401);
        assert!(response.headers().contains_key("www-authenticate"));
        let body = response.text().await.expect("body");
        assert_eq!(body, error("Unauthorized", 401));
    }
    let padless = client
        .get(&url)
        .header("Authorization", "basic c2ltLXVzZXI6c2ltLXBhc3N3b3Jk")
        .send()
        .await
        .expect("request");
    assert_eq!(padless.status(), 200);
    assert_eq!(get(&sim, "/JobOrder").await.0, 200);
    let outside = format!("{}/rest/other", sim.aimsio_url());
    let anonymous = client.get(&outside).send().await.expect("request");
    assert_eq!(anonymous.status(), 401);
    assert_eq!(
        get(&sim, "/JobOrder/a/b").await,
        (404, error("Not found", 404))
    );
    sim.stop().await;
}

#[tokio::test]
async fn lists_and_details_are_deterministic() {
    let (sim, twin, other) = (
        simulator(7, 12, false).await,
        simulator(7, 12, false).await,
        simulator(8, 12, false).await,
    );
    for entity in ENTITIES {
        let path = format!("/{entity}");
        let (status, body) = get(&sim, &path).await;
        assert_eq!((status, &body), (200, &get(&twin, &path).await.1));
        assert_ne!(body, get(&other, &path).await.1);
        let list: Vec<Value> = serde_json::from_str(&body).expect("array");
        assert_eq!(list.len(), 12, "{entity}");
        let key = key_of(entity);
        for item in &list {
            let mut fields: Vec<&String> = item.as_object().expect("object").keys().collect();
            fields.sort_unstable();
            assert_eq!(fields, ["dtype", key, "updatedAt"], "{item}");
            assert_eq!(item["dtype"], entity);
            let updated_at = item["updatedAt"].as_i64().expect("epoch ms");
            assert_ne!(updated_at % 1_000, 0);
            let id = item[key].as_str().expect("string identifier");
            let (status, text) = get(&sim, &format!("/{entity}/{id}")).await;
            assert_eq!(
                (status, &text),
                (200, &get(&twin, &format!("/{entity}/{id}")).await.1)
            );
            let detail: Value = serde_json::from_str(&text).expect("detail");
            let prefix = match entity {
                "JobOrder" => "job".to_owned(),
                "NRB" => "nrb".to_owned(),
                "BillableItem" => "billableItem".to_owned(),
                _ => entity.to_lowercase(),
            };
            assert_eq!(detail[format!("{prefix}Guid")], id);
            assert_eq!(detail[format!("{prefix}UpdatedAt")], updated_at);
        }
    }
    let nrb = get_json(&sim, "/NRB").await;
    let guid = nrb[0]["guid"].as_str().expect("guid");
    let (_, text) = get(&sim, &format!("/NRB/{guid}")).await;
    let rate = text.split("\"nrbRate\":").nth(1).expect("nrbRate");
    let literal: String = rate.chars().take_while(|c| *c != ',').collect();
    assert_eq!(
        literal.split_once('.').map(|(_, cents)| cents.len()),
        Some(2),
        "{literal}"
    );
    assert_eq!(
        get(&sim, "/Nope").await,
        (404, error("Unknown entity", 404))
    );
    assert_eq!(get(&sim, "/jobOrder").await.0, 404);
    assert_eq!(
        get(&sim, "/Nope/x").await,
        (404, error("Unknown entity", 404))
    );
    assert_eq!(
        get(&sim, "/JobOrder/x").await,
        (404, error("Not found", 404))
    );
    for sim in [sim, twin, other] {
        sim.stop().await;
    }
}

/// The list of `entity` as guid (or id) → updatedAt.
async fn listed(sim: &RunningSimulator, entity: &str) -> BTreeMap<String, i64> {
    let list = get_json(sim, &format!("/{entity}")).await;
    let items = list.as_array().expect("array").iter();
    items
        .map(|item| {
            let id = item[key_of(entity)].as_str().expect("id").to_owned();
            (id, item["updatedAt"].as_i64().expect("ms"))
        })
        .collect()
}

fn guids(report: &Value, entity: &str, what: &str) -> Vec<String> {
    let list = report[entity][what].as_array().expect("guids");
    list.iter()
        .map(|g| g.as_str().expect("guid").to_owned())
        .collect()
}

#[tokio::test]
async fn mutate_changes_adds_and_deletes() {
    let sim = simulator(3, 10, false).await;
    let before = listed(&sim, "JobOrder").await;
    let body = json!({"entity": "JobOrder", "change": 3, "add": 1, "delete": 2, "seed": 9});
    let (status, report) = control(&sim, "POST", "/mutate", body).await;
    assert_eq!(status, 200);
    assert_eq!(report.as_object().map(|r| r.len()), Some(1));
    let (changed, added, deleted) = (
        guids(&report, "JobOrder", "changed"),
        guids(&report, "JobOrder", "added"),
        guids(&report, "JobOrder", "deleted"),
    );
    assert_eq!((changed.len(), added.len(), deleted.len()), (3, 1, 2));
    let after = listed(&sim, "JobOrder").await;
    assert_eq!(after.len(), 9);
    for guid in &deleted {
        assert!(!after.contains_key(guid));
        let (status, _) = get(&sim, &format!("/JobOrder/{guid}")).await;
        assert_eq!(status, 404);
    }
    let newest = before.values().max().copied().unwrap_or_default();
    assert!(after[&added[0]] > newest);
    for guid in &changed {
        assert!(after[guid] > before[guid] && after[guid] % 1_000 != 0);
        let detail = get_json(&sim, &format!("/JobOrder/{guid}")).await;
        assert_eq!(detail["jobUpdatedAt"], after[guid]);
        let name = detail["jobName"].as_str().expect("name");
        assert!(name.contains("[rev "), "{name}");
    }
    let (status, all) = control(&sim, "POST", "/mutate", json!({"change": 1})).await;
    assert_eq!(status, 200);
    let names: Vec<&String> = all.as_object().expect("report").keys().collect();
    assert_eq!(names.len(), 7);
    assert!(
        ENTITIES
            .iter()
            .all(|e| guids(&all, e, "changed").len() == 1)
    );
    for bad in [
        json!({"change": -1}),
        json!({"change": 0.5}),
        json!({"entity": "Nope"}),
        json!({"entity": "JobOrder", "fraction": 1}),
        json!({"add": 1_000_000}),
        json!([]),
    ] {
        let (status, body) = control(&sim, "POST", "/mutate", bad.clone()).await;
        assert_eq!(status, 400, "{bad}");
        assert!(body["error"].is_string());
    }
    sim.stop().await;
}

#[tokio::test]
async fn vanish_stale_and_forbidden() {
    let sim = simulator(4, 5, false).await;
    let jobs = listed(&sim, "JobOrder").await;
    let mut guids = jobs.keys();
    let (gone, newer) = (guids.next().expect("job"), guids.next().expect("job"));
    let target = json!({"entity": "JobOrder", "guid": gone});
    assert_eq!(control(&sim, "POST", "/vanish", target).await.0, 200);
    assert!(listed(&sim, "JobOrder").await.contains_key(gone));
    let missing = (404, error("Not found", 404));
    assert_eq!(get(&sim, &format!("/JobOrder/{gone}")).await, missing);
    let employee = listed(&sim, "Employee")
        .await
        .into_keys()
        .next()
        .expect("id");
    let by_id = json!({"entity": "Employee", "id": employee});
    assert_eq!(control(&sim, "POST", "/vanish", by_id).await.0, 200);
    assert_eq!(get(&sim, &format!("/Employee/{employee}")).await.0, 404);

    let at = jobs[newer] + 90_001;
    let body = json!({"entity": "JobOrder", "guid": newer, "detail_updated_at": at});
    assert_eq!(control(&sim, "POST", "/stale", body).await.0, 200);
    assert_eq!(listed(&sim, "JobOrder").await[newer], jobs[newer]);
    let detail = get_json(&sim, &format!("/JobOrder/{newer}")).await;
    assert_eq!(detail["jobUpdatedAt"], at);
    let mark = format!("[rev {at}]");
    assert!(
        detail["jobName"]
            .as_str()
            .is_some_and(|n| n.ends_with(&mark))
    );

    let job = |guid: &str, at: Value| json!({"entity": "JobOrder", "guid": guid, "detail_updated_at": at});
    for (path, bad, status) in [
        (
            "/vanish",
            json!({"entity": "JobOrder", "guid": "nope"}),
            404,
        ),
        ("/vanish", json!({"entity": "Nope", "guid": gone}), 400),
        ("/vanish", json!({"guid": gone}), 400),
        ("/vanish", job(gone, json!(at)), 400),
        ("/stale", json!({"entity": "JobOrder", "guid": newer}), 400),
        ("/stale", job(newer, json!(jobs[newer])), 400),
        ("/stale", job(gone, json!(at)), 404),
        ("/stale", job(newer, json!("soon")), 400),
    ] {
        let answer = control(&sim, "POST", path, bad.clone()).await.0;
        assert_eq!(answer, status, "{path} {bad}");
    }
    for bad in [json!(["Bogus"]), json!({"entity": "Invoice"})] {
        assert_eq!(control(&sim, "PUT", "/forbidden", bad).await.0, 400);
    }

    let invoice = listed(&sim, "Invoice")
        .await
        .into_keys()
        .next()
        .expect("guid");
    let forbid = json!(["Invoice", "NRB"]);
    assert_eq!(control(&sim, "PUT", "/forbidden", forbid).await.0, 200);
    let denied = (403, error("Forbidden", 403));
    assert_eq!(get(&sim, "/Invoice").await, denied);
    assert_eq!(get(&sim, &format!("/Invoice/{invoice}")).await, denied);
    assert_eq!(get(&sim, "/NRB").await.0, 403);
    assert_eq!(get(&sim, "/JobOrder").await.0, 200);
    assert_eq!(control(&sim, "PUT", "/forbidden", json!([])).await.0, 200);
    assert_eq!(get(&sim, "/Invoice").await.0, 200);
    sim.stop().await;
}

#[tokio::test]
async fn stats_keys_and_the_default_limit() {
    let sim = simulator(5, 3, true).await;
    let mut statuses = Vec::new();
    for _ in 0..12 {
        statuses.push(get(&sim, "/Equipment").await);
    }
    let rejected = (429, error("rate limit exceeded", 429));
    assert!(statuses[..10].iter().all(|(status, _)| *status == 200));
    assert_eq!(statuses[10..], [rejected.clone(), rejected]);
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    let list = get_json(&sim, "/Equipment").await;
    let guid = list[0]["guid"].as_str().expect("guid");
    assert_eq!(get(&sim, &format!("/Equipment/{guid}")).await.0, 200);
    let mutate = json!({"entity": "Equipment", "change": 1});
    assert_eq!(control(&sim, "POST", "/mutate", mutate).await.0, 200);
    let stats: Value = reqwest::get(format!("{}/_sim/stats", sim.url()))
        .await
        .expect("stats")
        .json()
        .await
        .expect("JSON");
    let expected = json!({
        "GET /aimsio/rest/api/standard/v1/{entity}": {"200": 11, "429": 2},
        "GET /aimsio/rest/api/standard/v1/{entity}/{guid}": {"200": 1},
    });
    assert_eq!(
        (&stats["requests"], &stats["total"]),
        (&expected, &json!(14))
    );
    let aimsio = &stats["limits"]["aimsio"];
    assert_eq!(
        (&aimsio["violations"], &aimsio["arrivals"]),
        (&json!(2), &json!(14))
    );
    sim.stop().await;
}
