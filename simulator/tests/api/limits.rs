//! Tests of the rate limits: window and parallel rejections, `Retry-After`, the
//! measurements, the limit endpoints, delay faults and the default limits (how long a
//! request is in flight is tested inside the crate, in `limits`).

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::time::Instant;
use tributary_simulator::{Limit, RunningSimulator, SimOptions, start};

async fn simulator(limits: BTreeMap<String, Limit>) -> RunningSimulator {
    let options = SimOptions {
        orders: 20,
        limits,
        ..SimOptions::default()
    };
    let bind = "127.0.0.1:0".parse().expect("address");
    start(bind, options).await.expect("simulator starts")
}

/// GETs `/planningnow/api/test`; the status and the `Retry-After` header, if any.
async fn probe(sim: &RunningSimulator) -> (u16, Option<u64>) {
    let response = reqwest::Client::new()
        .get(format!("{}/api/test", sim.planningnow_url()))
        .header("X-AUTH-TOKEN", "sim-token")
        .send()
        .await
        .expect("request");
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|value| value.to_str().expect("ASCII").parse().expect("seconds"));
    let status = response.status().as_u16();
    let body: Value = response.json().await.expect("JSON body");
    if status == 429 {
        assert_eq!(
            body,
            json!({"error": "rate limit exceeded", "status_code": 429})
        );
    }
    (status, retry_after)
}

async fn control(request: reqwest::RequestBuilder) -> u16 {
    request.send().await.expect("request").status().as_u16()
}

/// Sets the PlanningNow limit.
async fn set_limit(sim: &RunningSimulator, limit: Value) {
    let url = format!("{}/_sim/limits/planningnow", sim.url());
    assert_eq!(
        control(reqwest::Client::new().put(url).json(&limit)).await,
        200
    );
}

/// The `"limits"` entry of `api` in `GET /_sim/stats`.
async fn measured(sim: &RunningSimulator, api: &str) -> Value {
    let url = format!("{}/_sim/stats", sim.url());
    let stats: Value = reqwest::get(url)
        .await
        .expect("stats")
        .json()
        .await
        .expect("JSON");
    stats["limits"][api].clone()
}

#[tokio::test]
async fn window_rejects_beyond_the_limit() {
    let sim = simulator(BTreeMap::new()).await;
    assert_eq!(measured(&sim, "planningnow").await, Value::Null);
    set_limit(
        &sim,
        json!({"requests": 5, "window_ms": 1000, "retry_after": true}),
    )
    .await;
    let mut answers = Vec::new();
    for _ in 0..8 {
        answers.push(probe(&sim).await);
    }
    let statuses: Vec<u16> = answers.iter().map(|(status, _)| *status).collect();
    assert_eq!(statuses, [200, 200, 200, 200, 200, 429, 429, 429]);
    assert!(answers[..5].iter().all(|(_, retry)| retry.is_none()));
    assert!(answers[5..].iter().all(|(_, retry)| *retry == Some(1)));
    let expected = json!({"requests": 5, "window_ms": 1000, "max_parallel": null,
        "retry_after": true, "arrivals": 8, "admitted": 5, "violations": 3,
        "max_in_window": 8, "max_parallel_seen": 1});
    assert_eq!(measured(&sim, "planningnow").await, expected);
    let url = format!("{}/_sim/stats", sim.url());
    let stats: Value = reqwest::get(url)
        .await
        .expect("stats")
        .json()
        .await
        .expect("JSON");
    assert_eq!(
        stats["requests"]["GET /planningnow/api/test"],
        json!({"200": 5, "429": 3})
    );
    sim.stop().await;
}

#[tokio::test]
async fn spaced_requests_stay_within_the_window() {
    let limit = Limit {
        requests: Some(2),
        window_ms: Some(300),
        ..Limit::default()
    };
    let sim = simulator(BTreeMap::from([("planningnow".to_owned(), limit)])).await;
    for round in 0..3 {
        if round > 0 {
            tokio::time::sleep(Duration::from_millis(350)).await;
        }
        assert_eq!((probe(&sim).await.0, probe(&sim).await.0), (200, 200));
    }
    let stats = measured(&sim, "planningnow").await;
    assert_eq!(
        (
            &stats["arrivals"],
            &stats["violations"],
            &stats["max_in_window"]
        ),
        (&json!(6), &json!(0), &json!(2))
    );
    assert_eq!(probe(&sim).await, (429, None));
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(probe(&sim).await.0, 200);
    let stats = measured(&sim, "planningnow").await;
    assert_eq!(
        (&stats["violations"], &stats["max_in_window"]),
        (&json!(1), &json!(3))
    );
    let client = reqwest::Client::new();
    let sim_url = |path: &str| format!("{}/_sim{path}", sim.url());
    assert_eq!(control(client.post(sim_url("/stats/reset"))).await, 200);
    let stats = measured(&sim, "planningnow").await;
    assert_eq!(
        (&stats["requests"], &stats["arrivals"]),
        (&json!(2), &json!(0))
    );
    let url = sim_url("/limits/planningnow");
    assert_eq!(control(client.delete(&url)).await, 200);
    assert_eq!(control(client.delete(&url)).await, 404);
    assert_eq!(probe(&sim).await.0, 200);
    let stats = measured(&sim, "planningnow").await;
    assert_eq!(
        (
            &stats["requests"],
            &stats["arrivals"],
            &stats["max_in_window"]
        ),
        (&Value::Null, &json!(1), &Value::Null)
    );
    for bad in [
        json!({"requests": 5}),
        json!({"window_ms": 5}),
        json!({"requests": 0, "window_ms": 5}),
        json!({"max_parallel": 0}),
        json!({"max_paralel": 2}),
    ] {
        assert_eq!(control(client.put(&url).json(&bad)).await, 400, "{bad}");
    }
    sim.stop().await;
}

/// Fires `n` concurrent probes; their statuses, sorted.
async fn burst(sim: &RunningSimulator, n: usize) -> Vec<u16> {
    let probes = (0..n).map(|_| probe(sim));
    let mut statuses: Vec<u16> = futures_util::future::join_all(probes)
        .await
        .into_iter()
        .map(|(status, _)| status)
        .collect();
    statuses.sort_unstable();
    statuses
}

/// Makes the next `times` admitted probes take 200 ms.
async fn slow_down(sim: &RunningSimulator, times: u32) {
    let fault = json!({"path": "/planningnow/api/test", "delay_ms": 200, "times": times});
    let url = format!("{}/_sim/faults", sim.url());
    assert_eq!(
        control(reqwest::Client::new().post(url).json(&fault)).await,
        200
    );
}

#[tokio::test]
async fn parallel_requests_beyond_the_limit_are_rejected() {
    let sim = simulator(BTreeMap::new()).await;
    set_limit(&sim, json!({"max_parallel": 2})).await;
    slow_down(&sim, 5).await;
    let statuses = burst(&sim, 5).await;
    let rejected = statuses.iter().filter(|&&status| status == 429).count();
    assert!(rejected > 0 && rejected + statuses.iter().filter(|&&s| s == 200).count() == 5);
    let stats = measured(&sim, "planningnow").await;
    assert_eq!(stats["violations"], json!(rejected));
    assert!(stats["max_parallel_seen"].as_u64() >= Some(3), "{stats}");
    assert_eq!(stats["max_in_window"], Value::Null);
    let url = format!("{}/_sim/faults", sim.url());
    assert_eq!(control(reqwest::Client::new().delete(url)).await, 200);
    set_limit(&sim, json!({"max_parallel": 10})).await;
    slow_down(&sim, 5).await;
    let started = Instant::now();
    assert_eq!(burst(&sim, 5).await, [200; 5]);
    assert!(started.elapsed() >= Duration::from_millis(200));
    let stats = measured(&sim, "planningnow").await;
    assert_eq!(
        (&stats["violations"], &stats["max_parallel_seen"]),
        (&json!(0), &json!(5))
    );
    sim.stop().await;
}

#[tokio::test]
async fn defaults_limit_aircalc_and_aimsio() {
    let aircalc = Limit {
        requests: Some(200),
        window_ms: Some(600_000),
        max_parallel: None,
        retry_after: true,
    };
    let aimsio = Limit {
        requests: Some(10),
        window_ms: Some(1_000),
        max_parallel: Some(10),
        retry_after: false,
    };
    let expected = BTreeMap::from([
        ("aircalc".to_owned(), aircalc),
        ("aimsio".to_owned(), aimsio),
    ]);
    assert_eq!(SimOptions::default().limits, expected);
    let sim = simulator(expected).await;
    let aimsio = measured(&sim, "aimsio").await;
    assert_eq!(
        (
            &aimsio["requests"],
            &aimsio["max_parallel"],
            &aimsio["arrivals"]
        ),
        (&json!(10), &json!(10), &json!(0))
    );
    assert_eq!(measured(&sim, "aircalc").await["window_ms"], json!(600_000));
    sim.stop().await;
    let bind = "127.0.0.1:0".parse().expect("address");
    for (api, limit) in [
        ("planningnow", json!({"requests": 1})),
        ("/planningnow", json!({})),
    ] {
        let limit: Limit = serde_json::from_value(limit).expect("limit");
        let options = SimOptions {
            limits: BTreeMap::from([(api.to_owned(), limit)]),
            ..SimOptions::default()
        };
        let err = start(bind, options).await.err().expect("invalid limit");
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{api}");
    }
}
