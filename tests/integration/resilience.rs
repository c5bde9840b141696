//! The HTTP layer against a misbehaving server: retries of 5xx, 429 with Retry-After in both
//! forms, and no retry of other 4xx.

use std::time::{Duration, SystemTime};

use serde_json::json;

use crate::common::*;
use tributary::db::runs::RunStatus;

#[tokio::test]
async fn server_errors_are_retried_and_retry_after_is_honoured() {
    let app = TestApp::spawn(10).await;
    // Orders run first, so the HTTP date is still about three seconds ahead when it is read.
    let date = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(3));
    app.control(
        "POST",
        "/_sim/faults",
        json!({"path": "/planningnow/api/order", "status": 429, "times": 1, "retry_after": date}),
    )
    .await;
    app.control(
        "POST",
        "/_sim/faults",
        json!({"path": "/planningnow/api/offer", "status": 503, "times": 2}),
    )
    .await;
    app.control("POST", "/_sim/faults",
        json!({"path": "/planningnow/api/work-schedule", "status": 429, "times": 1, "retry_after": "2"})).await;
    app.control(
        "POST",
        "/_sim/faults",
        json!({"path": "/planningnow/api/cost-centre", "status": 404, "times": 1}),
    )
    .await;

    let report = app.sync(false).await;
    let orders = stream(&report, "orders");
    assert_eq!(
        (orders.status, orders.counts.requests),
        (RunStatus::Succeeded, 2)
    );
    // An HTTP date has a one-second resolution.
    assert!(
        orders.duration >= Duration::from_secs(1),
        "waited {:?} for an HTTP-date Retry-After",
        orders.duration
    );
    let offers = stream(&report, "offers");
    assert_eq!(
        (offers.status, offers.counts.requests),
        (RunStatus::Succeeded, 3)
    );
    let schedules = stream(&report, "work_schedules");
    assert_eq!(
        (schedules.status, schedules.counts.requests),
        (RunStatus::Succeeded, 2)
    );
    assert!(
        schedules.duration >= Duration::from_secs(2),
        "waited {:?} for Retry-After: 2",
        schedules.duration
    );
    let cost_centres = stream(&report, "cost_centres");
    assert_eq!(
        (cost_centres.status, cost_centres.counts.requests),
        (RunStatus::Failed, 1),
        "404 is not retried"
    );
    let error = cost_centres.error.as_deref().unwrap();
    assert!(
        error.contains("/api/cost-centre") && error.contains("404"),
        "{error}"
    );
    assert_eq!(stream(&report, "documents").status, RunStatus::Succeeded);

    let stats = app
        .control("GET", "/_sim/stats", serde_json::Value::Null)
        .await;
    let order_stats = &stats["requests"]["GET /planningnow/api/offer"];
    assert_eq!(
        (order_stats["503"].as_u64(), order_stats["200"].as_u64()),
        (Some(2), Some(1)),
        "{stats}"
    );
    let recorded: i64 = app
        .count("SELECT requests FROM tributary.sync_runs WHERE stream IS NULL")
        .await;
    assert_eq!(recorded, 2 + 3 + 2 + 1 + 1 + 1);
    app.stop().await;
}

#[tokio::test]
async fn retries_stop_at_max_attempts() {
    let app = TestApp::builder()
        .orders(5)
        .env("TRIBUTARY__SOURCES__PLANNINGNOW__RETRY__MAX_ATTEMPTS", "3")
        .spawn()
        .await;
    app.control(
        "POST",
        "/_sim/faults",
        json!({"path": "/planningnow/api/order", "status": 500, "times": 10}),
    )
    .await;
    let report = app.sync(false).await;
    let orders = stream(&report, "orders");
    assert_eq!(
        (orders.status, orders.counts.requests),
        (RunStatus::Failed, 3)
    );
    assert!(
        orders.error.as_deref().unwrap().contains("after 3 attempt"),
        "{:?}",
        orders.error
    );
    assert_eq!(
        stream(&report, "offers").status,
        RunStatus::Succeeded,
        "a failing stream does not stop the others"
    );
    app.stop().await;
}

/// Answers every connection with `response` and counts the connections.
async fn raw_server(response: String) -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let mut buf = [0u8; 4096];
            let _ = socket.read(&mut buf).await;
            let _ = socket.write_all(response.as_bytes()).await;
        }
    });
    (port, hits)
}

#[tokio::test]
async fn the_token_never_follows_a_redirect_to_another_host() {
    let (elsewhere, elsewhere_hits) =
        raw_server("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]".into()).await;
    let (port, _) = raw_server(format!(
        "HTTP/1.1 302 Found\r\nLocation: http://localhost:{elsewhere}/api/order\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    ))
    .await;
    let app = TestApp::builder()
        .without_simulator()
        .env("TRIBUTARY__SOURCES__PLANNINGNOW__ENABLED", "true")
        .env(
            "TRIBUTARY__SOURCES__PLANNINGNOW__BASE_URL",
            format!("http://127.0.0.1:{port}"),
        )
        .env("TRIBUTARY__SOURCES__PLANNINGNOW__TOKEN", "t0ken")
        .env(
            "TRIBUTARY__SOURCES__PLANNINGNOW__REQUESTS_PER_SECOND",
            "100",
        )
        .spawn()
        .await;
    let report = app.sync(false).await;
    let orders = stream(&report, "orders");
    assert_eq!(orders.status, RunStatus::Failed);
    assert!(
        orders
            .error
            .as_deref()
            .unwrap()
            .contains("redirect to another host"),
        "{:?}",
        orders.error
    );
    assert_eq!(
        elsewhere_hits.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "the other host was contacted"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_database_connection_uses_tls_as_the_url_asks() {
    let app = TestApp::builder().without_simulator().spawn().await;
    let ssl: String = sqlx::query_scalar("SHOW ssl")
        .fetch_one(app.pool())
        .await
        .unwrap();
    if ssl != "on" {
        eprintln!("skipped: the test server runs with ssl = off");
        app.stop().await;
        return;
    }
    let settings = |mode: &str| tributary::config::DatabaseSettings {
        url: secrecy::SecretString::from(format!("{}?sslmode={mode}", app.db().url)),
        max_connections: 2,
    };
    for (mode, encrypted) in [("require", true), ("disable", false)] {
        let pool = tributary::db::connect(&settings(mode)).await.expect(mode);
        let tls: bool =
            sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
                .fetch_one(&pool)
                .await
                .unwrap();
        assert_eq!(tls, encrypted, "sslmode={mode}");
        pool.close().await;
    }
    // verify-full checks the server's certificate: a self-signed one is refused, and the
    // error names the database and says why.
    let error = tributary::db::connect(&settings("verify-full"))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("cannot connect to PostgreSQL database") && error.contains("certificate"),
        "{error}"
    );
    app.stop().await;
}
