//! Tests of the simulator over HTTP: token check, streamed listings and single objects,
//! documents, control endpoints, faults, statistics and shutdown.

use serde_json::{Value, json};

use tributary_simulator::{RunningSimulator, SimOptions, start};

async fn simulator(orders: usize) -> RunningSimulator {
    let options = SimOptions {
        orders,
        ..SimOptions::default()
    };
    let bind = "127.0.0.1:0".parse().expect("address");
    start(bind, options).await.expect("simulator starts")
}

async fn get(sim: &RunningSimulator, path: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(format!("{}{path}", sim.planningnow_url()))
        .header("X-AUTH-TOKEN", "sim-token")
        .send()
        .await
        .expect("request")
}

async fn text(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

async fn send(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON body"))
}

#[tokio::test]
async fn token_is_required() {
    let sim = simulator(10).await;
    let client = reqwest::Client::new();
    let url = format!("{}/api/test", sim.planningnow_url());
    let denied = r#"{"error":"Invalid API token","status_code":401}"#;
    assert_eq!(
        text(client.get(&url).send().await.expect("request")).await,
        (401, denied.to_owned())
    );
    let wrong = client
        .get(&url)
        .header("X-AUTH-TOKEN", "nope")
        .send()
        .await
        .expect("request");
    assert_eq!(wrong.status(), 401);
    let (status, body) = text(get(&sim, "/api/test").await).await;
    assert_eq!(
        (status, serde_json::from_str::<Value>(&body).ok()),
        (200, Some(json!({"response": "Test successfull."})))
    );
    let unknown = format!("{}/api/nothing", sim.planningnow_url());
    assert_eq!(
        client.get(&unknown).send().await.expect("request").status(),
        401
    );
    assert_eq!(get(&sim, "/api/nothing").await.status(), 404);
    sim.stop().await;
}

#[tokio::test]
async fn listings_stream_and_single_objects() {
    let (sim, twin) = (simulator(300).await, simulator(300).await);
    assert!(sim.url().starts_with("http://127.0.0.1:"));
    assert_eq!(
        sim.planningnow_url(),
        format!("http://{}/planningnow", sim.addr())
    );
    let (status, body) = text(get(&sim, "/api/order").await).await;
    assert!(status == 200 && body.len() > 64 * 1024);
    assert_eq!(body, text(get(&twin, "/api/order").await).await.1);
    let orders: Vec<Value> = serde_json::from_str(&body).expect("array");
    assert_eq!(orders.len(), 300);
    let one: Value = get(&sim, "/api/order/1001")
        .await
        .json()
        .await
        .expect("order");
    assert_eq!(one, orders[0]);
    let missing = r#"{"error":"Order not found","status_code":404}"#.to_owned();
    assert_eq!(
        text(get(&sim, "/api/order/99999").await).await,
        (404, missing.clone())
    );
    assert_eq!(
        text(get(&sim, "/api/order/abc").await).await,
        (404, missing)
    );
    for (path, len) in [("offer", 150), ("work-schedule", 15), ("cost-centre", 12)] {
        let list: Vec<Value> = get(&sim, &format!("/api/{path}"))
            .await
            .json()
            .await
            .expect(path);
        assert_eq!(list.len(), len, "{path}");
    }
    assert_eq!(get(&sim, "/api/cost-centre/13").await.status(), 404);
    let all: Value = get(&sim, "/api/documents")
        .await
        .json()
        .await
        .expect("documents");
    assert_eq!(
        (all["success"].clone(), all["count"].clone()),
        (json!(true), json!(150))
    );
    let first = &all["documents"][0];
    let query = format!(
        "/api/documents?area={}&number={}&folder_id=",
        first["area"].as_str().unwrap_or_default(),
        first["number"].as_str().unwrap_or_default()
    );
    let some: Value = get(&sim, &query).await.json().await.expect("filtered");
    let found = some["documents"].as_array().expect("documents");
    assert!(!found.is_empty() && found.iter().all(|d| d["number"] == first["number"]));
    assert_eq!(some["count"], found.len());
    let folder: Value = get(&sim, "/api/documents?folder_id=999")
        .await
        .json()
        .await
        .expect("none");
    assert_eq!(
        (folder["count"].clone(), folder["status_code"].clone()),
        (json!(0), json!(200))
    );
    let tree: Value = get(&sim, "/api/documents/structure?area=offer")
        .await
        .json()
        .await
        .expect("tree");
    assert_eq!(tree["tree"].as_array().map(Vec::len), Some(1));
    assert_eq!(tree["tree"][0]["area"], "offer");
    sim.stop().await;
    twin.stop().await;
}

#[tokio::test]
async fn faults_and_stats() {
    let sim = simulator(20).await;
    let client = reqwest::Client::new();
    let sim_url = |path: &str| format!("{}/_sim{path}", sim.url());
    let fault =
        json!({"path": "/planningnow/api/order", "status": 503, "times": 2, "retry_after": "1"});
    assert_eq!(
        send(client.post(sim_url("/faults")).json(&fault)).await,
        (200, json!({"ok": true}))
    );
    for bad in [
        json!({"path": "x", "status": 503}),
        json!({"path": "/a", "status": 42}),
        json!({"status": 503}),
        json!({"path": "/a"}),
        json!({"path": "/a", "status": 503, "delay_ms": 5}),
        json!({"path": "/a", "delay_ms": 5, "retry_after": "1"}),
    ] {
        assert_eq!(
            send(client.post(sim_url("/faults")).json(&bad)).await.0,
            400,
            "{bad}"
        );
    }
    for _ in 0..2 {
        let response = get(&sim, "/api/order").await;
        assert_eq!(
            response.headers().get("retry-after").map(|v| v.as_bytes()),
            Some(&b"1"[..])
        );
        let body = r#"{"error":"simulated fault","status_code":503}"#.to_owned();
        assert_eq!(text(response).await, (503, body));
    }
    assert_eq!(get(&sim, "/api/order").await.status(), 200);
    assert_eq!(get(&sim, "/api/order/1001").await.status(), 200);
    assert_eq!(get(&sim, "/api/order/1").await.status(), 404);
    let anonymous = client.get(format!("{}/api/test", sim.planningnow_url()));
    assert_eq!(anonymous.send().await.expect("request").status(), 401);
    let outside = client
        .get(format!("{}/nowhere", sim.url()))
        .send()
        .await
        .expect("request");
    assert_eq!(outside.status(), 404);
    let expected = json!({
        "GET /planningnow/api/order": {"200": 1, "503": 2},
        "GET /planningnow/api/order/{id}": {"200": 1, "404": 1},
        "GET /planningnow/api/test": {"401": 1},
    });
    let (status, stats) = send(client.get(sim_url("/stats"))).await;
    assert_eq!(
        (status, &stats["total"], &stats["requests"]),
        (200, &json!(6), &expected)
    );
    let measured = json!({"requests": null, "window_ms": null, "max_parallel": null,
        "retry_after": false, "arrivals": 6, "admitted": 6, "violations": 0,
        "max_in_window": null, "max_parallel_seen": 1});
    assert_eq!(stats["limits"]["planningnow"], measured);
    let again = json!({"path": "/planningnow/api/offer", "status": 429, "times": 5});
    assert_eq!(
        send(client.post(sim_url("/faults")).json(&again)).await.0,
        200
    );
    assert_eq!(send(client.delete(sim_url("/faults"))).await.0, 200);
    assert_eq!(get(&sim, "/api/offer").await.status(), 200);
    assert_eq!(send(client.post(sim_url("/stats/reset"))).await.0, 200);
    let (_, stats) = send(client.get(sim_url("/stats"))).await;
    assert_eq!(
        (&stats["total"], &stats["requests"]),
        (&json!(0), &json!({}))
    );
    let apis: Vec<&String> = stats["limits"]
        .as_object()
        .expect("limits")
        .keys()
        .collect();
    assert_eq!(apis, ["aimsio", "aircalc"]);
    sim.stop().await;
}

#[tokio::test]
async fn control_endpoints_edit_the_data() {
    let sim = simulator(20).await;
    let client = reqwest::Client::new();
    let control = |path: &str| format!("{}/_sim/planningnow{path}", sim.url());
    let invalid = r#"{"id": 1001, "netto": "abc"}"#;
    let put = client
        .put(control("/order"))
        .body(invalid)
        .send()
        .await
        .expect("put");
    assert_eq!(put.status(), 200);
    assert_eq!(
        text(get(&sim, "/api/order/1001").await).await,
        (200, invalid.to_owned())
    );
    for (path, body) in [
        ("/order", r#"{"netto":1}"#),
        ("/bogus", r#"{"id":1}"#),
        ("/order", "[1]"),
        ("/order", "{"),
    ] {
        assert_eq!(
            send(client.put(control(path)).body(body)).await.0,
            400,
            "{path} {body}"
        );
    }
    assert_eq!(send(client.delete(control("/order/1001"))).await.0, 200);
    assert_eq!(send(client.delete(control("/order/1001"))).await.0, 404);
    assert_eq!(send(client.delete(control("/order/x"))).await.0, 400);
    assert_eq!(get(&sim, "/api/order/1001").await.status(), 404);
    let tree = json!({"tree": [{"id": 99, "name": "Alle", "area": "x", "parent_id": null, "children": []}]});
    assert_eq!(
        send(client.put(control("/document-structure")).json(&tree))
            .await
            .0,
        200
    );
    let served: Value = get(&sim, "/api/documents/structure")
        .await
        .json()
        .await
        .expect("tree");
    assert_eq!(served["tree"], tree["tree"]);
    assert_eq!(
        send(client.put(control("/document-structure")).body("{}"))
            .await
            .0,
        400
    );
    let mutate = json!({"change": 0.5, "seed": 1, "kinds": ["cost-centre"]});
    let (status, report) = send(client.post(control("/mutate")).json(&mutate)).await;
    assert_eq!(status, 200);
    assert_eq!(
        report["cost-centre"]["changed"].as_array().map(Vec::len),
        Some(6)
    );
    assert_eq!(report.as_object().map(|r| r.len()), Some(1));
    assert_eq!(
        send(client.post(control("/mutate")).body(r#"{"add":5}"#))
            .await
            .0,
        400
    );
    let url = format!("{}/api/test", sim.planningnow_url());
    sim.stop().await;
    assert!(client.get(url).send().await.is_err());
}
