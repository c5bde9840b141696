//! Hostile records inside a listing, served by a small local HTTP server: a number
//! PostgreSQL cannot hold, a lone surrogate, invalid UTF-8 and a record over
//! `sync.max_record_bytes` are each set aside in `tributary.rejects` while every other record
//! lands, and the rows stored for them before are kept; an endless record fails its stream
//! at `sync.max_listing_bytes` with memory bounded.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::common::*;
use tributary::db::runs::RunStatus;

/// What `/api/order` answers; every other listing is empty.
#[derive(Clone)]
enum Orders {
    Body(Vec<u8>),
    /// `[{"id":1,"s":"` and then `x` without end.
    Endless,
}

/// A PlanningNow stand-in on a free port; answers with whatever `orders` holds now.
async fn serve(orders: Arc<Mutex<Orders>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let orders = orders.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if socket.read(&mut byte).await.unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                let head = String::from_utf8_lossy(&head).to_string();
                let path = head.split(' ').nth(1).unwrap_or("/").to_string();
                let body: Option<Vec<u8>> = if path.ends_with("/api/order") {
                    match orders.lock().unwrap().clone() {
                        Orders::Body(body) => Some(body),
                        Orders::Endless => None,
                    }
                } else if path.ends_with("/api/documents") {
                    Some(br#"{"success":true,"documents":[],"count":0,"status_code":200}"#.to_vec())
                } else if path.ends_with("/api/documents/structure") {
                    Some(br#"{"tree":[],"status_code":200}"#.to_vec())
                } else {
                    Some(b"[]".to_vec())
                };
                match body {
                    Some(body) => {
                        let head = format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                            body.len()
                        );
                        let _ = socket.write_all(head.as_bytes()).await;
                        let _ = socket.write_all(&body).await;
                    }
                    None => {
                        let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n";
                        if socket.write_all(head.as_bytes()).await.is_err() {
                            return;
                        }
                        let first = br#"[{"id":1,"s":""#;
                        let _ = socket
                            .write_all(format!("{:x}\r\n", first.len()).as_bytes())
                            .await;
                        let _ = socket.write_all(first).await;
                        let _ = socket.write_all(b"\r\n").await;
                        let chunk = vec![b'x'; 64 * 1024];
                        let frame = [
                            format!("{:x}\r\n", chunk.len()).into_bytes(),
                            chunk,
                            b"\r\n".to_vec(),
                        ]
                        .concat();
                        while socket.write_all(&frame).await.is_ok() {}
                    }
                }
            });
        }
    });
    format!("http://{addr}")
}

fn order(id: u32, extra: &str) -> String {
    format!(
        r#"{{"id":{id},"o_conf_date":"2025-05-01","project_no":"P-{id}","netto":"10.00","ges_netto":"10.00"{extra},"positions":[]}}"#
    )
}

/// PlanningNow at `base_url` (the server here), one attempt per request, records up to
/// 2 KiB and listings up to 50 MB.
async fn records_app(base_url: &str) -> TestApp {
    TestApp::builder()
        .without_simulator()
        .env("TRIBUTARY__SOURCES__PLANNINGNOW__ENABLED", "true")
        .env("TRIBUTARY__SOURCES__PLANNINGNOW__BASE_URL", base_url)
        .env("TRIBUTARY__SOURCES__PLANNINGNOW__TOKEN", "t")
        .env(
            "TRIBUTARY__SOURCES__PLANNINGNOW__REQUESTS_PER_SECOND",
            "100",
        )
        .env("TRIBUTARY__SOURCES__PLANNINGNOW__RETRY__MAX_ATTEMPTS", "1")
        .env("TRIBUTARY__SYNC__MAX_RECORD_BYTES", "2048")
        .env("TRIBUTARY__SYNC__MAX_LISTING_BYTES", "50000000")
        .spawn()
        .await
}

async fn live_orders(app: &TestApp) -> Vec<i64> {
    sqlx::query_scalar("SELECT id FROM planningnow.orders WHERE _deleted_at IS NULL ORDER BY id")
        .fetch_all(app.pool())
        .await
        .unwrap()
}

async fn open_rejects(app: &TestApp) -> Vec<(String, String)> {
    sqlx::query_as(
        "SELECT record_key, error FROM tributary.rejects WHERE stream = 'orders' \
         AND resolved_at IS NULL ORDER BY record_key",
    )
    .fetch_all(app.pool())
    .await
    .unwrap()
}

#[tokio::test]
async fn records_postgresql_cannot_store_are_set_aside_and_the_rest_lands() {
    let valid: Vec<String> = (1..=5).map(|id| order(id, "")).collect();
    let hostile = |valid: &[String]| -> Vec<u8> {
        let mut body = format!(
            "[{},{},{},{},{},",
            valid[0],
            order(2, r#","extra_num":1e999999"#),
            order(3, r#","name":"\ud800""#),
            order(4, &format!(r#","big":"{}""#, "x".repeat(5000))),
            valid[4],
        )
        .into_bytes();
        body.extend_from_slice(br#"{"id":6,"o_conf_date":"2025-05-01","netto":"1.00","name":"M"#);
        body.push(0xff);
        body.extend_from_slice(br#"ller","positions":[]}]"#);
        body
    };
    let orders = Arc::new(Mutex::new(Orders::Body(hostile(&valid))));
    let base = serve(orders.clone()).await;
    let app = records_app(&base).await;

    let first = app.sync(false).await;
    let stream = stream(&first, "orders");
    assert_eq!(stream.status, RunStatus::Succeeded, "{:?}", stream.error);
    assert_eq!(stream.counts.rejected, 4);
    assert_eq!(live_orders(&app).await, [1, 5], "every other record lands");
    let rejects = open_rejects(&app).await;
    let keys: Vec<&str> = rejects.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["2", "3", "4", "6"], "{rejects:?}");
    assert!(rejects[0].1.contains("extra_num") && rejects[0].1.contains("numeric"));
    assert!(rejects[1].1.contains("not valid JSON"), "{}", rejects[1].1);
    assert!(
        rejects[2].1.contains("max_record_bytes"),
        "{}",
        rejects[2].1
    );

    // Mended, all land and the rejects resolve; broken again, the stored rows are kept.
    let mut all = valid.clone();
    all.push(order(6, ""));
    *orders.lock().unwrap() = Orders::Body(format!("[{}]", all.join(",")).into_bytes());
    assert_eq!(app.sync(false).await.status, RunStatus::Succeeded);
    assert_eq!(live_orders(&app).await, [1, 2, 3, 4, 5, 6]);
    assert!(open_rejects(&app).await.is_empty());
    *orders.lock().unwrap() = Orders::Body(hostile(&valid));
    assert_eq!(app.sync(false).await.status, RunStatus::Succeeded);
    assert_eq!(
        live_orders(&app).await,
        [1, 2, 3, 4, 5, 6],
        "a record set aside keeps the row stored for it before"
    );
    assert_eq!(open_rejects(&app).await.len(), 4);
    app.stop().await;
}

/// Peak resident memory of this process, from /proc/self/status.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[tokio::test]
async fn an_endless_record_fails_its_stream_at_the_listing_ceiling_with_memory_bounded() {
    let base = serve(Arc::new(Mutex::new(Orders::Endless))).await;
    let app = records_app(&base).await;
    let before = peak_rss_kib();
    let report = tokio::time::timeout(Duration::from_secs(120), app.sync(false))
        .await
        .expect("the stream ends at the ceiling");
    let grown = peak_rss_kib().saturating_sub(before);
    println!("endless record: peak RSS grew by {grown} KiB reading 50 MB");
    let orders = stream(&report, "orders");
    assert_eq!(orders.status, RunStatus::Failed);
    assert!(
        orders
            .error
            .as_deref()
            .unwrap_or("")
            .contains("max_listing_bytes"),
        "{:?}",
        orders.error
    );
    assert!(grown < 200 * 1024, "peak RSS grew by {grown} KiB");
    app.stop().await;
}

/// One Aimsio detail that is not storable JSON (a lone surrogate, or over
/// `sync.max_record_bytes`) is set aside; the other details land and the stream succeeds.
#[tokio::test]
async fn an_unreadable_aimsio_detail_is_set_aside_and_the_others_land() {
    let mut app = crate::aimsio::aimsio_app(6, "JobOrder").await;
    app.set_env("TRIBUTARY__SYNC__MAX_RECORD_BYTES", "2048");
    let truth = app
        .control("GET", "/_sim/aimsio/truth", serde_json::Value::Null)
        .await;
    let keys: Vec<String> = truth["JobOrder"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["key"].as_str().unwrap().to_string())
        .collect();
    let put = |key: &str, body: Vec<u8>| {
        let url = format!("{}/_sim/aimsio/detail/JobOrder/{key}", app.sim().url());
        async move {
            let resp = reqwest::Client::new()
                .put(url)
                .body(body)
                .send()
                .await
                .unwrap();
            assert!(resp.status().is_success());
        }
    };
    put(&keys[0], br#"{"jobName":"\ud800"}"#.to_vec()).await;
    put(
        &keys[1],
        format!(r#"{{"jobName":"{}"}}"#, "x".repeat(5000)).into_bytes(),
    )
    .await;
    let report = crate::aimsio::sync_aimsio(&app).await;
    let stream = stream(&report, "JobOrder");
    assert_eq!(stream.status, RunStatus::Succeeded, "{:?}", stream.error);
    assert_eq!(stream.counts.rejected, 2);
    assert_eq!(
        app.count("SELECT count(*) FROM aimsio.job_orders WHERE _deleted_at IS NULL")
            .await,
        4
    );
    let rejected: Vec<(String, String)> = sqlx::query_as(
        "SELECT record_key, error FROM tributary.rejects WHERE resolved_at IS NULL ORDER BY error",
    )
    .fetch_all(app.pool())
    .await
    .unwrap();
    assert_eq!(rejected.len(), 2, "{rejected:?}");
    assert!(
        rejected
            .iter()
            .any(|(k, e)| *k == keys[1] && e.contains("larger than"))
    );
    assert!(rejected.iter().any(|(k, _)| *k == keys[0]));
    app.stop().await;
}

/// Found in review: a record set aside without a readable key may be any stored row, so
/// that listing soft-deletes nothing; the next one without such a record does.
#[tokio::test]
async fn a_record_without_a_readable_key_makes_its_listing_delete_nothing() {
    let all: Vec<String> = (1..=4).map(|id| order(id, "")).collect();
    let orders = Arc::new(Mutex::new(Orders::Body(
        format!("[{}]", all.join(",")).into_bytes(),
    )));
    let base = serve(orders.clone()).await;
    let app = records_app(&base).await;
    assert_eq!(app.sync(false).await.status, RunStatus::Succeeded);
    // Order 4 comes with a lone surrogate before its id: it cannot be told from the others.
    let broken = r#"{"name":"\ud800","id":4,"positions":[]}"#.replace(r#""id":4,"#, "");
    *orders.lock().unwrap() =
        Orders::Body(format!("[{},{},{broken}]", all[0], all[1]).into_bytes());
    let report = app.sync(false).await;
    assert_eq!(report.status, RunStatus::Succeeded, "{report:?}");
    assert_eq!(live_orders(&app).await, [1, 2, 3, 4], "nothing deleted");
    *orders.lock().unwrap() = Orders::Body(format!("[{},{}]", all[0], all[1]).into_bytes());
    assert_eq!(app.sync(false).await.status, RunStatus::Succeeded);
    assert_eq!(live_orders(&app).await, [1, 2]);

    // A position that vanishes in a listing that deletes nothing goes with the next one:
    // its order's new digest is not written until then, so that order is parsed again.
    let with_both = order_with(1, "10.00", &[11, 12]);
    *orders.lock().unwrap() = Orders::Body(format!("[{with_both}]").into_bytes());
    assert_eq!(app.sync(true).await.status, RunStatus::Succeeded);
    let with_one = order_with(1, "10.00", &[11]);
    *orders.lock().unwrap() = Orders::Body(format!("[{with_one},{broken}]").into_bytes());
    assert_eq!(app.sync(false).await.status, RunStatus::Succeeded);
    assert_eq!(
        live_positions(&app).await,
        [(1, 11), (1, 12)],
        "nothing deleted"
    );
    *orders.lock().unwrap() = Orders::Body(format!("[{with_one}]").into_bytes());
    let report = app.sync(false).await;
    assert_eq!(stream(&report, "orders").counts.unparsed, 0);
    assert_eq!(live_positions(&app).await, [(1, 11)]);
    app.stop().await;
}

/// A first sync COPYs its digests straight into `tributary.listed_records`; when that
/// listing deletes nothing (a record without a readable key), none of them may stay, so
/// the next listing parses every record and only then writes them.
#[tokio::test]
async fn a_first_listing_that_deletes_nothing_leaves_no_digests() {
    let all: Vec<String> = (1..=3).map(|id| order(id, "")).collect();
    let broken = r#"{"name":"\ud800","positions":[]}"#;
    let orders = Arc::new(Mutex::new(Orders::Body(
        format!("[{},{broken}]", all.join(",")).into_bytes(),
    )));
    let app = records_app(&serve(orders.clone()).await).await;
    let digests = "SELECT count(*) FROM tributary.listed_records WHERE stream = 'orders'";
    let first = app.sync(false).await;
    assert_eq!(first.status, RunStatus::Succeeded, "{first:?}");
    assert_eq!(live_orders(&app).await, [1, 2, 3]);
    assert_eq!(app.count(digests).await, 0);

    *orders.lock().unwrap() = Orders::Body(format!("[{}]", all.join(",")).into_bytes());
    let second = app.sync(false).await;
    assert_eq!(stream(&second, "orders").counts.unparsed, 0);
    assert_eq!(app.count(digests).await, 3);
    let third = app.sync(false).await;
    assert_eq!(stream(&third, "orders").counts.unparsed, 3);
    app.stop().await;
}

/// An order with positions `positions` (ids), each one task-free.
fn order_with(id: u32, netto: &str, positions: &[u32]) -> String {
    let positions: Vec<String> = positions
        .iter()
        .map(|p| {
            format!(r#"{{"id":{p},"pos_no":{p},"amount":"1.00","netto":"{netto}","tasks":[]}}"#)
        })
        .collect();
    format!(
        r#"{{"id":{id},"o_conf_date":"2025-05-01","project_no":"P-{id}","netto":"{netto}","positions":[{}]}}"#,
        positions.join(",")
    )
}

async fn project_no(app: &TestApp, id: i64) -> String {
    sqlx::query_scalar("SELECT project_no FROM planningnow.orders WHERE id = $1")
        .bind(id)
        .fetch_one(app.pool())
        .await
        .unwrap()
}

/// Edits a stored order by hand and drops its content hash: a pass that parses its record
/// compares it column by column and writes it back as the source has it.
async fn edit_by_hand(app: &TestApp, id: i64) {
    sqlx::query("UPDATE planningnow.orders SET project_no = 'by hand', _hash = NULL WHERE id = $1")
        .bind(id)
        .execute(app.pool())
        .await
        .unwrap();
}

async fn live_positions(app: &TestApp) -> Vec<(i64, i64)> {
    sqlx::query_as(
        "SELECT order_id, id FROM planningnow.order_positions WHERE _deleted_at IS NULL ORDER BY 1, 2",
    )
    .fetch_all(app.pool())
    .await
    .unwrap()
}

/// A record listed with the bytes its rows were written from is not parsed again, unless a
/// row of it lacks its `_hash`; its rows stay as they are, also when the listing lacks other
/// rows (the search for them keeps the unparsed records' rows); a second copy of its key,
/// before or after it, is refused as a duplicate as when both are parsed.
#[tokio::test]
async fn a_record_listed_as_written_is_not_parsed_again_and_its_rows_stay() {
    let body = |orders: &[String]| Orders::Body(format!("[{}]", orders.join(",")).into_bytes());
    let (o1, o2, o3) = (
        order_with(1, "10.00", &[11, 12]),
        order_with(2, "20.00", &[21]),
        order_with(3, "30.00", &[31]),
    );
    let orders = Arc::new(Mutex::new(body(&[o1.clone(), o2.clone(), o3.clone()])));
    let app = records_app(&serve(orders.clone()).await).await;
    let first = app.sync(false).await;
    assert_eq!(stream(&first, "orders").counts.unparsed, 0);
    assert_eq!(
        app.count("SELECT count(*) FROM tributary.listed_records WHERE stream = 'orders'")
            .await,
        3
    );

    let again = app.sync(false).await;
    let counts = &stream(&again, "orders").counts;
    assert_eq!(counts.unparsed, 3);
    assert_eq!(counts.tables["planningnow.orders"].unchanged, 3);
    assert_eq!(counts.tables["planningnow.order_positions"].unchanged, 4);

    // Order 3 vanishes and order 2 trades position 21 for 22, so the listing's gaps are
    // searched: the positions of order 1, not parsed, stay. A changed copy of order 1 after
    // it is a duplicate.
    let o2b = order_with(2, "20.00", &[22]);
    let o1b = order_with(1, "11.00", &[11, 12]);
    *orders.lock().unwrap() = body(&[o1.clone(), o2b.clone(), o1b.clone()]);
    let report = app.sync(false).await;
    let s = stream(&report, "orders");
    assert_eq!(s.status, RunStatus::Succeeded, "{:?}", s.error);
    assert_eq!((s.counts.unparsed, s.counts.rejected), (1, 1));
    let positions = &s.counts.tables["planningnow.order_positions"];
    assert_eq!(
        (positions.inserted, positions.deleted, positions.unchanged),
        (1, 2, 2)
    );
    assert_eq!(s.counts.tables["planningnow.orders"].deleted, 1);
    assert_eq!(live_orders(&app).await, [1, 2]);
    assert_eq!(live_positions(&app).await, [(1, 11), (1, 12), (2, 22)]);
    let rejects = open_rejects(&app).await;
    assert_eq!(rejects.len(), 1);
    assert_eq!(rejects[0].0, "1");
    assert!(rejects[0].1.contains("duplicate key 1"), "{}", rejects[0].1);

    // The changed copy first: it is parsed and applied, and the copy as written after it is
    // the duplicate.
    *orders.lock().unwrap() = body(&[o1b.clone(), o2b.clone(), o1.clone()]);
    let report = app.sync(false).await;
    let counts = &stream(&report, "orders").counts;
    assert_eq!((counts.unparsed, counts.rejected), (1, 1));
    let netto: String =
        sqlx::query_scalar("SELECT netto::text FROM planningnow.orders WHERE id = 1")
            .fetch_one(app.pool())
            .await
            .unwrap();
    assert_eq!(netto, "11.00");

    // A row without its hash has its record parsed and compared column by column.
    *orders.lock().unwrap() = body(&[o1b, o2b]);
    assert_eq!(app.sync(false).await.status, RunStatus::Succeeded);
    edit_by_hand(&app, 2).await;
    let report = app.sync(false).await;
    assert_eq!(stream(&report, "orders").counts.unparsed, 1);
    assert_eq!(project_no(&app, 2).await, "P-2");
    sqlx::query(
        "UPDATE planningnow.order_positions SET amount = 9, _hash = NULL WHERE order_id = 1 AND id = 12",
    )
    .execute(app.pool())
    .await
    .unwrap();
    let report = app.sync(false).await;
    assert_eq!(stream(&report, "orders").counts.unparsed, 1);
    let amount: String = sqlx::query_scalar(
        "SELECT amount::text FROM planningnow.order_positions WHERE order_id = 1 AND id = 12",
    )
    .fetch_one(app.pool())
    .await
    .unwrap();
    assert_eq!(amount, "1.00");

    // Without their digests, records are parsed again, once.
    sqlx::query("DELETE FROM tributary.listed_records WHERE stream = 'orders'")
        .execute(app.pool())
        .await
        .unwrap();
    for unparsed in [0, 2] {
        let report = app.sync(false).await;
        assert_eq!(stream(&report, "orders").counts.unparsed, unparsed);
    }
    assert!(open_rejects(&app).await.is_empty());
    app.stop().await;
}
