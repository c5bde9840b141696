//! Short database drops: the sync's connections go through a small TCP proxy that can close
//! every connection and refuse new ones for a while, as a restart or failover of PostgreSQL
//! does. A pass cut off for 2 s in the middle of a listing rides it out: it returns its
//! report, the stream cut off runs again on a fresh connection, no run stays `running`, and
//! every record lands.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::common::*;
use tributary::db::runs::RunStatus;
use tributary::sources;
use tributary::sync::SyncOptions;

/// Forwards connections to the database server until cut.
pub(crate) struct Proxy {
    pub(crate) url: String,
    refusing: Arc<AtomicBool>,
    generation: watch::Sender<u64>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// A proxy for the server of `url`; its `url` is the same URL through the proxy.
    pub(crate) async fn start(url: &str) -> Proxy {
        let mut parsed = reqwest::Url::parse(url).expect("a database URL");
        let target = format!(
            "{}:{}",
            parsed.host_str().expect("a TCP host"),
            parsed.port().unwrap_or(5432)
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        parsed.set_host(Some("127.0.0.1")).expect("host");
        parsed.set_port(Some(port)).expect("port");
        let refusing = Arc::new(AtomicBool::new(false));
        let (generation, _) = watch::channel(0u64);
        let task = {
            let refusing = Arc::clone(&refusing);
            let generation = generation.clone();
            tokio::spawn(async move {
                loop {
                    let Ok((mut client, _)) = listener.accept().await else {
                        continue;
                    };
                    if refusing.load(Ordering::SeqCst) {
                        drop(client);
                        continue;
                    }
                    let mut cut = generation.subscribe();
                    let target = target.clone();
                    tokio::spawn(async move {
                        let Ok(mut server) = TcpStream::connect(&target).await else {
                            return;
                        };
                        tokio::select! {
                            _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                            _ = cut.changed() => {}
                        }
                    });
                }
            })
        };
        Proxy {
            url: parsed.to_string(),
            refusing,
            generation,
            task,
        }
    }

    /// Closes every proxied connection and refuses new ones for `outage`.
    pub(crate) async fn cut(&self, outage: Duration) {
        self.refusing.store(true, Ordering::SeqCst);
        self.generation.send_modify(|g| *g += 1);
        tokio::time::sleep(outage).await;
        self.refusing.store(false, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn listed(sim: &tributary_simulator::RunningSimulator, path: &str) -> i64 {
    served(sim, path)
        .await
        .as_array()
        .expect("a listing is an array")
        .len() as i64
}

type Pass = tokio::task::JoinHandle<(Result<tributary::sync::SourceReport, sqlx::Error>, Duration)>;

/// A PlanningNow pass through the library on `pool`, as `tributary sync` runs it.
fn spawn_pass(pool: &sqlx::PgPool, settings: &tributary::config::Settings) -> Pass {
    let pool = pool.clone();
    let settings = settings.clone();
    tokio::spawn(async move {
        let built =
            sources::build(&settings, &[sources::planningnow::NAME], &pool).expect("source");
        let options = SyncOptions {
            trigger: "cli",
            allow_mass_delete: false,
        };
        let started = Instant::now();
        let report =
            tributary::sync::sync_source(&pool, &settings.sync, built[0].as_ref(), &options).await;
        (report, started.elapsed())
    })
}

/// Waits until the pass has been admitted its offers request (held by the simulator).
async fn offers_requested(db: &TestDb) {
    let waited = Instant::now();
    while db
        .count(
            "SELECT count(*) FROM tributary.request_ledger \
             WHERE source = 'planningnow' AND endpoint = 'GET /api/offer'",
        )
        .await
        == 0
    {
        assert!(
            waited.elapsed() < Duration::from_secs(60),
            "the offers request never went out"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A fresh database, the simulator, a proxy in front of the database, settings and a pool
/// through it, and the offers request held 1.5 s: the drop comes while the pass waits for
/// it, with the stream's staging transaction and the pass lock open on proxied connections.
async fn setup() -> (
    TestDb,
    tributary_simulator::RunningSimulator,
    Proxy,
    tributary::config::Settings,
    sqlx::PgPool,
) {
    let db = fresh_db().await;
    let sim = simulator(300).await;
    let proxy = Proxy::start(&db.url).await;
    let mut env = env_for(&db, &sim);
    env.insert("DATABASE_URL".into(), proxy.url.clone());
    let settings = settings(&env);
    let pool = tributary::db::connect(&settings.database)
        .await
        .expect("connect through the proxy");
    control(
        &sim,
        "POST",
        "/_sim/faults",
        json!({"path": "/planningnow/api/offer", "delay_ms": 1500}),
    )
    .await;
    (db, sim, proxy, settings, pool)
}

/// Every PlanningNow order and offer the simulator lists is stored.
async fn assert_all_landed(db: &TestDb, sim: &tributary_simulator::RunningSimulator) {
    let offers = db.count("SELECT count(*) FROM planningnow.offers").await;
    assert_eq!(
        db.count("SELECT count(*) FROM planningnow.orders").await,
        listed(sim, "/api/order").await
    );
    assert_eq!(offers, listed(sim, "/api/offer").await);
    assert!(offers > 0, "the simulator lists offers");
}

#[tokio::test]
async fn a_two_second_database_drop_mid_listing_is_ridden_out() {
    let (db, sim, proxy, settings, pool) = setup().await;
    let pass = spawn_pass(&pool, &settings);
    offers_requested(&db).await;
    proxy.cut(Duration::from_secs(2)).await;
    let (report, took) = tokio::time::timeout(Duration::from_secs(120), pass)
        .await
        .expect("the pass ends")
        .expect("the pass does not panic");
    let report = report.expect("a drop of 2 s does not abort the pass");
    eprintln!(
        "pass after a 2 s drop: {:?} in {took:?}: {report:?}",
        report.status
    );
    assert_eq!(report.status, RunStatus::Succeeded, "{report:?}");
    assert_eq!(stream(&report, "offers").status, RunStatus::Succeeded);
    db.assert_nothing_running().await;
    assert_all_landed(&db, &sim).await;
    pool.close().await;
    drop(proxy);
    sim.stop().await;
    db.drop().await;
}

/// A drop longer than the retries: the pass gives up, but returns its report (`failed`)
/// instead of an error; the runs it could not close are closed by the next pass, which
/// lands everything.
#[tokio::test]
async fn a_drop_longer_than_the_retries_fails_the_pass_with_a_report_and_the_next_lands_all() {
    let (db, sim, proxy, settings, pool) = setup().await;
    let pass = spawn_pass(&pool, &settings);
    offers_requested(&db).await;
    let outage = Duration::from_secs(40);
    let cut_at = Instant::now();
    let ((), ended) = tokio::join!(proxy.cut(outage), async {
        let ended = tokio::time::timeout(Duration::from_secs(120), pass)
            .await
            .expect("the pass ends")
            .expect("the pass does not panic");
        (ended, cut_at.elapsed())
    });
    let ((report, took), after_cut) = ended;
    let report = report.expect("even a long drop does not turn the pass into an error");
    eprintln!(
        "pass during a {outage:?} drop: {:?} after {took:?} ({after_cut:?} into the drop): {report:?}",
        report.status
    );
    assert!(
        after_cut < outage,
        "the pass gave up while the database was still away"
    );
    assert_eq!(report.status, RunStatus::Failed, "{report:?}");
    assert_eq!(stream(&report, "orders").status, RunStatus::Succeeded);
    assert_eq!(stream(&report, "offers").status, RunStatus::Failed);

    let (second, took) = spawn_pass(&pool, &settings).await.expect("no panic");
    let second = second.expect("the second pass");
    eprintln!("the next pass: {:?} in {took:?}", second.status);
    assert_eq!(second.status, RunStatus::Succeeded, "{second:?}");
    db.assert_nothing_running().await;
    assert!(
        db.count(
            "SELECT count(*) FROM tributary.sync_runs \
             WHERE status = 'failed' AND error LIKE 'interrupted%'"
        )
        .await
            >= 1,
        "the runs the first pass could not close were closed as interrupted"
    );
    assert_all_landed(&db, &sim).await;
    pool.close().await;
    drop(proxy);
    sim.stop().await;
    db.drop().await;
}
