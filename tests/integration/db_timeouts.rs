//! Database-side timeouts: every pooled session carries `database.statement_timeout_secs`
//! and `database.lock_timeout_secs`, so a table another connection locks fails the stream
//! within the lock timeout (and the next pass lands everything), while the intentional wait
//! for another process's pass of the same source is not cut short by them.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::common::*;

fn with(env: &HashMap<String, String>, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env = env.clone();
    for (k, v) in extra {
        env.insert(k.to_string(), v.to_string());
    }
    env.into_iter().collect()
}

/// `tributary sync planningnow`, failing the test instead of hanging past `limit`.
async fn sync_within(
    limit: Duration,
    env: &[(String, String)],
) -> (std::process::Output, Duration) {
    let started = Instant::now();
    let out = tokio::time::timeout(limit, tributary(&["sync", "planningnow"], env))
        .await
        .unwrap_or_else(|_| panic!("`tributary sync` did not end within {limit:?}"));
    (out, started.elapsed())
}

#[tokio::test]
async fn a_table_locked_elsewhere_fails_the_sync_within_the_lock_timeout_then_it_lands() {
    let db = fresh_db().await;
    let sim = simulator(40).await;
    let env = with(
        &env_for(&db, &sim),
        &[("TRIBUTARY__DATABASE__LOCK_TIMEOUT_SECS", "1")],
    );
    let mut locker = db.pool.begin().await.expect("a transaction");
    sqlx::query("LOCK TABLE planningnow.orders IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *locker)
        .await
        .expect("lock the table");
    let (out, took) = sync_within(Duration::from_secs(30), &env).await;
    let all = text(&out);
    eprintln!("locked: exit {:?} after {took:?}\n{all}", out.status.code());
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("lock timeout"), "{all}");
    assert!(took < Duration::from_secs(15), "took {took:?}");
    locker.rollback().await.expect("release the lock");

    let (out, took) = sync_within(Duration::from_secs(60), &env).await;
    eprintln!("unlocked: exit {:?} after {took:?}", out.status.code());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        db.count("SELECT count(*) FROM planningnow.orders").await,
        40
    );
    db.assert_nothing_running().await;
    sim.stop().await;
    db.drop().await;
}

#[tokio::test]
async fn waiting_for_another_process_pass_outlasts_the_statement_and_lock_timeouts() {
    let db = fresh_db().await;
    let sim = simulator(20).await;
    let env = with(
        &env_for(&db, &sim),
        &[
            ("TRIBUTARY__DATABASE__STATEMENT_TIMEOUT_SECS", "1"),
            ("TRIBUTARY__DATABASE__LOCK_TIMEOUT_SECS", "1"),
        ],
    );
    // Another "process" holds the source's pass lock for 3 s, longer than both timeouts.
    let mut holder = db.pool.acquire().await.expect("a connection");
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
    let (out, took) = sync_within(Duration::from_secs(60), &env).await;
    release.await.unwrap();
    eprintln!("waited: exit {:?} after {took:?}", out.status.code());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        took >= Duration::from_secs(3),
        "it waited for the lock: {took:?}"
    );
    assert_eq!(
        db.count("SELECT count(*) FROM planningnow.orders").await,
        20
    );
    sim.stop().await;
    db.drop().await;
}

#[tokio::test]
async fn every_pooled_connection_carries_the_configured_timeouts() {
    let db = fresh_db().await;
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
    let env: HashMap<String, String> = [
        ("DATABASE_URL", db.url.as_str()),
        ("TRIBUTARY__DATABASE__STATEMENT_TIMEOUT_SECS", "7"),
        ("TRIBUTARY__DATABASE__LOCK_TIMEOUT_SECS", "3"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let configured = settings(&env);
    let pool = tributary::db::connect(&configured.database)
        .await
        .expect("connect");
    for pair in shown(pool).await {
        assert_eq!(pair, ("7s".to_string(), "3s".to_string()));
    }
    // The defaults: 300 s per statement, 10 s per lock wait.
    let defaults = settings(&HashMap::from([(
        "DATABASE_URL".to_string(),
        db.url.clone(),
    )]));
    let pool = tributary::db::connect(&defaults.database)
        .await
        .expect("connect");
    for pair in shown(pool).await {
        assert_eq!(pair, ("5min".to_string(), "10s".to_string()));
    }
    db.drop().await;
}
