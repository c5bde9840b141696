//! Tests of the aircalc NEXT fake over HTTP: the token endpoint (form and Basic
//! credentials), bearer tokens and their expiry, the endpoints' answers and 404s, the
//! control endpoints, the statistics' route keys and the default rate limit. That the
//! endpoints serve exactly the generated data is tested inside the crate, next to it.

use std::time::Duration;

use serde_json::{Value, json};

use tributary_simulator::{RunningSimulator, SimOptions, start};

const FORM: &str = "grant_type=client_credentials&client_id=sim-client&client_secret=sim-secret";
const ROWS: &str = "/pos-rows-aggregated/v0";
/// `Authorization` values that carry no valid bearer token.
const NO_TOKEN: [&str; 4] = [
    "",
    "Bearer",
    "Bearer nope",
    "Basic c2ltLWNsaWVudDpzaW0tc2VjcmV0",
];

/// A simulator with 6 aircalc projects, the default limits and tokens valid `ttl_secs`.
async fn simulator(seed: u64, ttl_secs: u64) -> RunningSimulator {
    let options = SimOptions {
        seed,
        orders: 10,
        aimsio_objects: 1,
        aircalc_projects: 6,
        aircalc_token_ttl_secs: ttl_secs,
        ..SimOptions::default()
    };
    let bind = "127.0.0.1:0".parse().expect("address");
    start(bind, options).await.expect("simulator starts")
}

/// POSTs `body` (a form) to the token endpoint: status, `Cache-Control` and JSON body.
async fn ask_token(
    sim: &RunningSimulator,
    body: &str,
    basic: Option<(&str, &str)>,
) -> (u16, Option<String>, Value) {
    let mut request = reqwest::Client::new()
        .post(sim.aircalc_token_url())
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body.to_owned());
    if let Some((id, secret)) = basic {
        request = request.basic_auth(id, Some(secret));
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let cache = response.headers().get("cache-control");
    let cache = cache.map(|value| value.to_str().expect("ASCII").to_owned());
    (status, cache, response.json().await.expect("JSON body"))
}

/// A fresh access token.
async fn token(sim: &RunningSimulator) -> String {
    let (status, _, body) = ask_token(sim, FORM, None).await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().expect("token").to_owned()
}

/// GETs `path` under the external API with `authorization`: status and body text.
async fn call(sim: &RunningSimulator, authorization: &str, path: &str) -> (u16, String) {
    let response = reqwest::Client::new()
        .get(format!("{}{path}", sim.aircalc_url()))
        .header("Authorization", authorization)
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

/// GETs `path` with the bearer `token`: status and body text.
async fn get(sim: &RunningSimulator, token: &str, path: &str) -> (u16, String) {
    call(sim, &format!("Bearer {token}"), path).await
}

async fn get_json(sim: &RunningSimulator, token: &str, path: &str) -> Value {
    let (status, body) = get(sim, token, path).await;
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).expect("JSON")
}

/// Sends a control request to `/_sim/aircalc{path}`: status and JSON body.
async fn control(sim: &RunningSimulator, method: &str, path: &str, body: String) -> (u16, Value) {
    let url = format!("{}/_sim/aircalc{path}", sim.url());
    let method = method.parse().expect("method");
    let request = reqwest::Client::new().request(method, url).body(body);
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON body"))
}

fn error(message: &str, status: u16) -> String {
    json!({"error": message, "status_code": status}).to_string()
}

#[tokio::test]
async fn tokens_come_for_form_or_basic_credentials() {
    let (sim, twin) = (simulator(1, 3600).await, simulator(1, 3600).await);
    let base = format!("http://{}/aircalc", sim.addr());
    assert_eq!(sim.aircalc_url(), format!("{base}/external"));
    assert_eq!(sim.aircalc_token_url(), format!("{base}/oauth/token"));
    let (status, cache, body) = ask_token(&sim, FORM, None).await;
    assert_eq!((status, cache.as_deref()), (200, Some("no-store")));
    let first = body["access_token"].as_str().expect("token").to_owned();
    assert_eq!(
        body,
        json!({"access_token": first, "token_type": "Bearer", "expires_in": 3600})
    );
    assert!(first.len() >= 32 && first.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(token(&twin).await, first);
    let grant = "grant_type=client_credentials";
    let (status, _, body) = ask_token(&sim, grant, Some(("sim-client", "sim-secret"))).await;
    assert_eq!(status, 200);
    let second = body["access_token"].as_str().expect("token");
    assert_ne!(second, first);
    for token in [&first, second] {
        assert_eq!(get(&sim, token, ROWS).await.0, 200);
    }
    let with_id = format!("{grant}&client_id=sim-client");
    let basic = Some(("sim-client", "sim-secret"));
    assert_eq!(ask_token(&sim, &with_id, basic).await.0, 200);

    let invalid_client = (401, json!({"error": "invalid_client"}));
    let wrong_secret = FORM.replace("sim-secret", "nope");
    let wrong_id = format!("{grant}&client_id=other");
    for (body, basic) in [
        (wrong_secret.as_str(), None),
        (grant, None),
        ("grant_type=client_credentials&client_id=sim-client", None),
        (grant, Some(("sim-client", "nope"))),
        (grant, Some(("other", "sim-secret"))),
        (wrong_id.as_str(), Some(("sim-client", "sim-secret"))),
        (r#"{"grant_type":"client_credentials"}"#, None),
    ] {
        let (status, _, answer) = ask_token(&sim, body, basic).await;
        assert_eq!((status, answer), invalid_client, "{body} {basic:?}");
    }
    let password = FORM.replace("client_credentials", "password");
    let (status, _, answer) = ask_token(&sim, &password, None).await;
    assert_eq!(
        (status, answer),
        (400, json!({"error": "unsupported_grant_type"}))
    );
    let no_grant = "client_id=sim-client&client_secret=sim-secret";
    for body in [no_grant, "grant_type=%zz"] {
        let basic = Some(("sim-client", "sim-secret"));
        let (status, _, answer) = ask_token(&sim, body, basic).await;
        assert_eq!((status, answer), (400, json!({"error": "invalid_request"})));
    }
    sim.stop().await;
    twin.stop().await;
}

#[tokio::test]
async fn a_valid_bearer_token_is_required() {
    let sim = simulator(2, 3600).await;
    let invalid = (401, error("invalid_token", 401));
    for authorization in NO_TOKEN {
        let answer = call(&sim, authorization, ROWS).await;
        assert_eq!(answer, invalid, "{authorization}");
    }
    let anonymous = reqwest::get(format!("{}{ROWS}", sim.aircalc_url()));
    let anonymous = anonymous.await.expect("request");
    assert_eq!(anonymous.status(), 401);
    assert!(anonymous.headers().contains_key("www-authenticate"));
    let token = token(&sim).await;
    assert_eq!(call(&sim, &format!("bearer  {token}"), ROWS).await.0, 200);
    assert_eq!(get(&sim, "nope", "/nowhere").await, invalid);
    let missing = (404, error("Not found", 404));
    assert_eq!(get(&sim, &token, "/nowhere").await, missing);
    let outside = reqwest::get(format!("{}/aircalc/other", sim.url()));
    assert_eq!(outside.await.expect("request").status(), 404);

    let (status, body) = control(&sim, "POST", "/expire-tokens", String::new()).await;
    assert_eq!((status, body), (200, json!({"ok": true})));
    assert_eq!(get(&sim, &token, ROWS).await, invalid);
    let fresh = self::token(&sim).await;
    assert_ne!(fresh, token);
    assert_eq!(get(&sim, &fresh, ROWS).await.0, 200);
    sim.stop().await;
}

#[tokio::test]
async fn tokens_expire_after_their_lifetime() {
    let sim = simulator(3, 1).await;
    let (_, _, body) = ask_token(&sim, FORM, None).await;
    assert_eq!(body["expires_in"], 1);
    let token = body["access_token"].as_str().expect("token").to_owned();
    assert_eq!(get(&sim, &token, ROWS).await.0, 200);
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert_eq!(
        get(&sim, &token, ROWS).await,
        (401, error("invalid_token", 401))
    );
    let fresh = self::token(&sim).await;
    assert_eq!(get(&sim, &fresh, ROWS).await.0, 200);
    sim.stop().await;
}

/// The rows' `updatedAt` by position number.
async fn row_times(sim: &RunningSimulator, token: &str) -> Vec<(String, String, String)> {
    let rows = get_json(sim, token, ROWS).await;
    let rows = rows.as_array().expect("rows").iter();
    let text = |value: &Value| value.as_str().expect("text").to_owned();
    rows.map(|row| {
        (
            text(&row["projectNo"]),
            text(&row["posNo"]),
            text(&row["updatedAt"]),
        )
    })
    .collect()
}

#[tokio::test]
async fn control_endpoints_edit_the_data() {
    let sim = simulator(5, 3600).await;
    let token = token(&sim).await;
    let before = row_times(&sim, &token).await;
    let body = json!({"change": 2, "add": 1, "delete": 1, "seed": 3}).to_string();
    let (status, report) = control(&sim, "POST", "/mutate", body).await;
    assert_eq!(status, 200);
    let list = |what: &str| -> Vec<String> {
        let list = report[what].as_array().expect("list").iter();
        list.map(|no| no.as_str().expect("projectNo").to_owned())
            .collect()
    };
    let (changed, added, deleted) = (list("changed"), list("added"), list("deleted"));
    assert_eq!(
        (changed.len(), added, deleted.len()),
        (2, vec!["PRJ-00007".to_owned()], 1)
    );
    let after = row_times(&sim, &token).await;
    let path = format!("/project-by-no/v0/{}", deleted[0]);
    assert_eq!(get(&sim, &token, &path).await.0, 404);
    assert!(after.iter().all(|(no, _, _)| *no != deleted[0]));
    assert!(after.iter().any(|(no, _, _)| no == "PRJ-00007"));
    for (no, pos_no, at) in after.iter().filter(|(no, _, _)| changed.contains(no)) {
        let (_, _, was) = before.iter().find(|(_, p, _)| p == pos_no).expect("row");
        let parse = |at: &str| chrono::DateTime::parse_from_rfc3339(at).expect("ISO-8601");
        assert!(parse(at) > parse(was), "{pos_no}: {was} → {at}");
        let project = get_json(&sim, &token, &format!("/project-by-no/v0/{no}")).await;
        assert_eq!(project["updatedAt"], json!(at));
        let name = project["name"].as_str().expect("name");
        assert!(name.ends_with(" [rev 1]"), "{name}");
    }
    for bad in [
        r#"{"change": -1}"#,
        r#"{"change": 1.5}"#,
        r#"{"drop": 1}"#,
        "[]",
    ] {
        let (status, body) = control(&sim, "POST", "/mutate", bad.to_owned()).await;
        assert_eq!(status, 400, "{bad}");
        assert!(body["error"].is_string());
    }

    let project = r#"{"projectNo": "PRJ-00042", "externalRef": "EXT-42", "name": "Ad hoc",
        "updatedAt": "2025-06-03T09:12:44.123+02:00",
        "positions": [{"posNo": "PRJ-00042-01", "externalRef": null, "description": "Gerät",
            "quantity": 2, "ahu": {"unitType": "AHU", "priceNet": 12345.50}}]}"#;
    let (status, body) = control(&sim, "PUT", "/project", project.to_owned()).await;
    assert_eq!((status, body), (200, json!({"ok": true})));
    let stored = get(&sim, &token, "/project-by-no/v0/PRJ-00042").await;
    assert_eq!(stored, (200, project.to_owned()));
    assert!(stored.1.contains(r#""priceNet": 12345.50}"#));
    let rows = get_json(&sim, &token, ROWS).await;
    let row = rows
        .as_array()
        .expect("rows")
        .iter()
        .find(|row| row["projectNo"] == "PRJ-00042");
    let expected = json!({"projectNo": "PRJ-00042", "projectExternalRef": "EXT-42",
        "posNo": "PRJ-00042-01", "posExternalRef": null, "description": "Gerät", "quantity": 2,
        "unitType": "AHU", "updatedAt": "2025-06-03T09:12:44.123+02:00"});
    assert_eq!(row, Some(&expected));
    let path = "/ahu-bom-by-pos-no/v0/PRJ-00042-01";
    assert_eq!(get(&sim, &token, path).await.0, 200);
    for bad in [
        "[]",
        r#"{"projectNo": 7}"#,
        r#"{"projectNo": "A", "positions": [1]}"#,
    ] {
        let (status, body) = control(&sim, "PUT", "/project", bad.to_owned()).await;
        assert_eq!(status, 400, "{bad}");
        assert!(body["error"].is_string());
    }
    sim.stop().await;
}

#[tokio::test]
async fn stats_keys_and_the_default_limit() {
    let sim = simulator(6, 3600).await;
    let token = token(&sim).await;
    for path in [
        ROWS,
        "/project-by-no/v0/PRJ-00001",
        "/project-by-no/v0/PRJ-99999",
        "/project-by-external-ref/v0/EXT-0",
        "/ahu-bom-by-pos-no/v0/PRJ-00001-01",
        "/users-by-id/v0?ids=1",
    ] {
        get(&sim, &token, path).await;
    }
    get(&sim, "nope", ROWS).await;
    let stats: Value = reqwest::get(format!("{}/_sim/stats", sim.url()))
        .await
        .expect("stats")
        .json()
        .await
        .expect("JSON");
    let expected = json!({
        "POST /aircalc/oauth/token": {"200": 1},
        "GET /aircalc/external/pos-rows-aggregated/v0": {"200": 1, "401": 1},
        "GET /aircalc/external/project-by-no/v0/{projectNo}": {"200": 1, "404": 1},
        "GET /aircalc/external/project-by-external-ref/v0/{externalRef}": {"404": 1},
        "GET /aircalc/external/ahu-bom-by-pos-no/v0/{posNo}": {"200": 1},
        "GET /aircalc/external/users-by-id/v0": {"200": 1},
    });
    assert_eq!(
        (&stats["requests"], &stats["total"]),
        (&expected, &json!(8))
    );
    let measured = json!({"requests": 200, "window_ms": 600_000, "max_parallel": null,
        "retry_after": true, "arrivals": 8, "admitted": 8, "violations": 0,
        "max_in_window": 8, "max_parallel_seen": 1});
    assert_eq!(stats["limits"]["aircalc"], measured);

    let short = json!({"requests": 2, "window_ms": 2_000, "retry_after": true});
    let url = format!("{}/_sim/limits/aircalc", sim.url());
    let put = reqwest::Client::new().put(url).json(&short).send().await;
    assert_eq!(put.expect("request").status(), 200);
    assert_eq!(get(&sim, &token, ROWS).await.0, 200);
    assert_eq!(ask_token(&sim, FORM, None).await.0, 200);
    for _ in 0..2 {
        let response = reqwest::Client::new()
            .get(format!("{}{ROWS}", sim.aircalc_url()))
            .bearer_auth(&token)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 429);
        let retry_after = response.headers().get("retry-after").expect("Retry-After");
        let seconds = retry_after.to_str().ok().and_then(|s| s.parse().ok());
        assert!(matches!(seconds, Some(1..=2)), "{retry_after:?}");
        let body = response.text().await.expect("body");
        assert_eq!(body, error("rate limit exceeded", 429));
    }
    assert_eq!(ask_token(&sim, FORM, None).await.0, 429);
    sim.stop().await;
}
