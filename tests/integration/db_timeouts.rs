//! Database-side timeouts: every pooled session carries `database.statement_timeout_secs`
//! and `database.lock_timeout_secs`, so a table another connection locks fails the stream
//! within the lock timeout (and the next pass lands everything), while the intentional wait
//! for another process's pass of the same source is not cut short by them.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::json;
use tributary::db::runs::RunStatus;
use tributary::sync::{SyncOptions, sync_source};

use crate::common::*;

/// `tributary sync planningnow`, failing the test instead of hanging past `limit`.
async fn sync_within(limit: Duration, app: &TestApp) -> (std::process::Output, Duration) {
    let started = Instant::now();
    let out = tokio::time::timeout(limit, app.tributary(&["sync", "planningnow"]))
        .await
        .unwrap_or_else(|_| panic!("`tributary sync` did not end within {limit:?}"));
    (out, started.elapsed())
}

#[tokio::test]
async fn a_table_locked_elsewhere_fails_the_sync_within_the_lock_timeout_then_it_lands() {
    let app = TestApp::builder()
        .orders(40)
        .env("TRIBUTARY__DATABASE__LOCK_TIMEOUT_SECS", "1")
        .spawn()
        .await;
    let mut locker = app.pool().begin().await.expect("a transaction");
    sqlx::query("LOCK TABLE planningnow.orders IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *locker)
        .await
        .expect("lock the table");
    let (out, took) = sync_within(Duration::from_secs(30), &app).await;
    let all = text(&out);
    eprintln!("locked: exit {:?} after {took:?}\n{all}", out.status.code());
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("lock timeout"), "{all}");
    assert!(took < Duration::from_secs(15), "took {took:?}");
    locker.rollback().await.expect("release the lock");

    let (out, took) = sync_within(Duration::from_secs(60), &app).await;
    eprintln!("unlocked: exit {:?} after {took:?}", out.status.code());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        app.count("SELECT count(*) FROM planningnow.orders").await,
        40
    );
    app.assert_nothing_running().await;
    app.stop().await;
}

#[tokio::test]
async fn waiting_for_another_process_pass_outlasts_the_statement_and_lock_timeouts() {
    let app = TestApp::builder()
        .orders(20)
        .env("TRIBUTARY__DATABASE__STATEMENT_TIMEOUT_SECS", "1")
        .env("TRIBUTARY__DATABASE__LOCK_TIMEOUT_SECS", "1")
        .spawn()
        .await;
    // Another "process" holds the source's pass lock for 3 s, longer than both timeouts.
    let mut holder = app.pool().acquire().await.expect("a connection");
    sqlx::query("SELECT pg_advisory_lock(hashtextextended('tributary:pass:planningnow', 0))")
        .execute(&mut *holder)
        .await
        .expect("take the pass lock");
    let release = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(3)).await;
        sqlx::query("SELECT pg_advisory_unlock_all()")
            .execute(&mut *holder)
            .await
            .expect("release the pass lock");
    });
    let (out, took) = sync_within(Duration::from_secs(60), &app).await;
    release.await.unwrap();
    eprintln!("waited: exit {:?} after {took:?}", out.status.code());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        took >= Duration::from_secs(3),
        "it waited for the lock: {took:?}"
    );
    assert_eq!(
        app.count("SELECT count(*) FROM planningnow.orders").await,
        20
    );
    app.stop().await;
}

#[tokio::test]
async fn every_pooled_connection_carries_the_configured_timeouts() {
    let app = TestApp::builder()
        .without_simulator()
        .env("TRIBUTARY__DATABASE__STATEMENT_TIMEOUT_SECS", "7")
        .env("TRIBUTARY__DATABASE__LOCK_TIMEOUT_SECS", "3")
        .spawn()
        .await;
    let shown = |pool: sqlx::PgPool| async move {
        // Several connections at once, so that not only the first one is checked.
        let mut conns = Vec::new();
        for _ in 0..3 {
            conns.push(pool.acquire().await.expect("a connection"));
        }
        let mut seen = Vec::new();
        for conn in &mut conns {
            let statement: String = sqlx::query_scalar("SHOW statement_timeout")
                .fetch_one(&mut **conn)
                .await
                .unwrap();
            let lock: String = sqlx::query_scalar("SHOW lock_timeout")
                .fetch_one(&mut **conn)
                .await
                .unwrap();
            seen.push((statement, lock));
        }
        drop(conns);
        pool.close().await;
        seen
    };
    let configured = app.settings();
    let pool = tributary::db::connect(&configured.database)
        .await
        .expect("connect");
    for pair in shown(pool).await {
        assert_eq!(pair, ("7s".to_string(), "3s".to_string()));
    }
    // The defaults: 300 s per statement, 10 s per lock wait.
    let defaults = settings(&HashMap::from([(
        "DATABASE_URL".to_string(),
        app.db().url.clone(),
    )]));
    let pool = tributary::db::connect(&defaults.database)
        .await
        .expect("connect");
    for pair in shown(pool).await {
        assert_eq!(pair, ("5min".to_string(), "10s".to_string()));
    }
    app.stop().await;
}

/// A database whose network freezes in the middle of a pass (a proxy that accepts and
/// forwards nothing): the server's timeouts cannot reach the stuck connection, so the pass
/// notices by its own probe, abandons the stream within seconds and ends; after the thaw
/// the next pass lands everything.
#[tokio::test]
async fn a_database_frozen_mid_pass_fails_the_stream_within_seconds() {
    let app = TestApp::spawn(20).await;
    let proxy = FreezingProxy::start("127.0.0.1:5432".to_string()).await;
    // The pass under test goes through the proxy; the one after the thaw does not.
    let mut frozen = app.env().clone();
    let through = app.db().url.replace(
        "127.0.0.1:5432",
        &format!("127.0.0.1:{}", proxy.addr.port()),
    );
    frozen.insert("DATABASE_URL".into(), through);
    frozen.insert(
        "TRIBUTARY__DATABASE__ACQUIRE_TIMEOUT_SECS".into(),
        "1".into(),
    );
    app.control(
        "POST",
        "/_sim/faults",
        json!({"path": "/planningnow/api/offer", "delay_ms": 1500}),
    )
    .await;
    let settings = settings(&frozen);
    let pool = tributary::db::connect(&settings.database)
        .await
        .expect("pool");
    let source = tributary::sources::build(&settings, &["planningnow"], &pool).expect("source");
    let pass = {
        let pool = pool.clone();
        let settings = settings.clone();
        tokio::spawn(async move {
            let options = SyncOptions {
                trigger: "cli",
                allow_mass_delete: false,
            };
            let started = Instant::now();
            let report = sync_source(&pool, &settings.sync, &source[0], &options).await;
            (report, started.elapsed())
        })
    };
    loop {
        let asked = app
            .count(
                "SELECT count(*) FROM tributary.request_ledger WHERE endpoint = 'GET /api/offer'",
            )
            .await;
        if asked > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    proxy.freeze(true);
    let frozen_at = Instant::now();
    let (report, _) = tokio::time::timeout(Duration::from_secs(60), pass)
        .await
        .expect("the pass ends while the database is frozen")
        .unwrap();
    let ended_after = frozen_at.elapsed();
    println!("frozen database: the pass ended {ended_after:?} into the freeze: {report:?}");
    assert!(ended_after < Duration::from_secs(45), "{ended_after:?}");
    proxy.freeze(false);
    pool.close().await;
    let again = app.sync(false).await;
    assert_eq!(again.status, RunStatus::Succeeded, "{again:?}");
    app.assert_nothing_running().await;
    assert_eq!(
        app.count("SELECT count(*) FROM planningnow.offers").await,
        10
    );
    app.stop().await;
}

/// Every TCP connection tributary's pool opens has `TCP_NODELAY`: without it each COPY's
/// last message waits ~40 ms for the server's delayed acknowledgement.
#[tokio::test]
async fn pooled_connections_send_without_nagle_delay() {
    use std::os::fd::{BorrowedFd, RawFd};

    let app = TestApp::builder().without_simulator().spawn().await;
    let settings = app.settings();
    let options: sqlx::postgres::PgConnectOptions =
        secrecy::ExposeSecret::expose_secret(&settings.database.url)
            .parse()
            .expect("a PostgreSQL URL");
    let port = options.get_port();
    assert!(
        options.get_socket().is_none() && !options.get_host().starts_with('/'),
        "this test needs a TCP connection, not {}",
        options.get_host()
    );
    let pool = tributary::db::connect(&settings.database).await.unwrap();
    let mut conn = pool.acquire().await.unwrap();
    sqlx::query("SELECT 1").execute(&mut *conn).await.unwrap();

    let mut to_database = Vec::new();
    for entry in std::fs::read_dir("/proc/self/fd").unwrap().flatten() {
        let Ok(fd) = entry.file_name().to_string_lossy().parse::<RawFd>() else {
            continue;
        };
        // SAFETY: borrowed only for these calls; a descriptor closed meanwhile fails them.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        let socket = socket2::SockRef::from(&fd);
        let peer = socket.peer_addr().ok().and_then(|a| a.as_socket());
        if peer.is_some_and(|p| p.port() == port) {
            to_database.push(socket.tcp_nodelay().unwrap());
        }
    }
    assert!(!to_database.is_empty(), "no TCP socket to port {port}");
    assert!(
        to_database.iter().all(|&nodelay| nodelay),
        "{to_database:?}"
    );
    drop(conn);
    pool.close().await;
    app.stop().await;
}
