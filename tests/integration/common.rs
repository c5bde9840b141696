//! Test harness: a fresh PostgreSQL database per test and the simulator over HTTP.
//!
//! The server is found in this order: `DATABASE_URL`; a server answering on 127.0.0.1:5432;
//! a PostgreSQL container via testcontainers where a Docker engine answers; otherwise the
//! test fails saying how to provide one.

use std::collections::HashMap;
use std::process::Output;
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::Value;
use sqlx::PgPool;
use tokio::sync::OnceCell;
use tributary::config::Settings;
use tributary::simulate::{self, RunningSimulator, SimOptions};
use tributary::sources;
use tributary::sync::{SourceReport, SyncOptions, sync_source};

static SERVER: OnceCell<String> = OnceCell::const_new();
static COUNTER: AtomicU32 = AtomicU32::new(0);

/// URL of a database on the test server with the given name.
fn on_server(server: &str, database: &str) -> String {
    tributary::demo::with_database(server, database).expect("a valid server URL")
}

async fn server() -> String {
    SERVER
        .get_or_init(|| async {
            if let Ok(url) = std::env::var("DATABASE_URL") {
                return url;
            }
            if tokio::net::TcpStream::connect("127.0.0.1:5432")
                .await
                .is_ok()
            {
                return "postgres://postgres@127.0.0.1:5432/postgres".to_string();
            }
            container().await
        })
        .await
        .clone()
}

async fn container() -> String {
    use testcontainers_modules::postgres::Postgres;
    use testcontainers_modules::testcontainers::runners::AsyncRunner;
    match Postgres::default().with_host_auth().start().await {
        Ok(node) => {
            let port = node.get_host_port_ipv4(5432).await.expect("container port");
            let host = node.get_host().await.expect("container host");
            // The container lives as long as the test process.
            std::mem::forget(node);
            format!("postgres://postgres@{host}:{port}/postgres")
        }
        Err(e) => panic!(
            "no PostgreSQL for the tests: DATABASE_URL is unset, nothing answers on \
             127.0.0.1:5432, and no Docker engine could start a container ({e}). \
             Set DATABASE_URL=postgres://user@host:port/db (the role must be allowed to \
             create databases), or start PostgreSQL locally, or start Docker."
        ),
    }
}

pub struct TestDb {
    pub url: String,
    pub pool: PgPool,
    name: String,
    admin: String,
}

/// A new, empty, migrated database.
pub async fn fresh_db() -> TestDb {
    let server = server().await;
    let name = format!(
        "tributary_test_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        fastrand::u32(..)
    );
    let admin = on_server(&server, "postgres");
    let admin_pool = PgPool::connect(&admin)
        .await
        .expect("connect to the test server");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin_pool)
        .await
        .expect("create the test database");
    admin_pool.close().await;
    let url = on_server(&server, &name);
    let pool = PgPool::connect(&url)
        .await
        .expect("connect to the test database");
    tributary::db::migrate(&pool).await.expect("migrations");
    TestDb {
        url,
        pool,
        name,
        admin,
    }
}

impl TestDb {
    /// Drops the database (tests call it at the end; a failed test leaves it for a look).
    pub async fn drop(self) {
        self.pool.close().await;
        let admin = PgPool::connect(&self.admin).await.expect("connect");
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        )))
        .execute(&admin)
        .await
        .expect("drop the test database");
    }

    /// No run is left `running` (every pass and stream recorded its outcome).
    pub async fn assert_nothing_running(&self) {
        assert_eq!(
            self.count("SELECT count(*) FROM tributary.sync_runs WHERE status = 'running'")
                .await,
            0,
            "runs left running"
        );
    }

    pub async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
            .fetch_one(&self.pool)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }
}

/// The simulator with `orders` orders on a free port.
pub async fn simulator(orders: usize) -> RunningSimulator {
    simulate::start(
        ([127, 0, 0, 1], 0).into(),
        SimOptions {
            orders,
            ..SimOptions::default()
        },
    )
    .await
    .expect("start the simulator")
}

/// The environment a user would set to sync the simulator into `db`.
pub fn env_for(db: &TestDb, sim: &RunningSimulator) -> HashMap<String, String> {
    [
        ("DATABASE_URL", db.url.clone()),
        ("TRIBUTARY__SOURCES__PLANNINGNOW__ENABLED", "true".into()),
        (
            "TRIBUTARY__SOURCES__PLANNINGNOW__BASE_URL",
            sim.planningnow_url(),
        ),
        ("TRIBUTARY__SOURCES__PLANNINGNOW__TOKEN", "sim-token".into()),
        (
            "TRIBUTARY__SOURCES__PLANNINGNOW__REQUESTS_PER_SECOND",
            "100".into(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

pub fn settings(env: &HashMap<String, String>) -> Settings {
    Settings::load(None, env).expect("valid test settings")
}

/// One PlanningNow pass through the library, as `tributary sync` runs it.
pub async fn sync(db: &TestDb, settings: &Settings, allow_mass_delete: bool) -> SourceReport {
    let source = sources::build(settings, &[sources::planningnow::NAME], &db.pool).expect("source");
    let options = SyncOptions {
        trigger: "cli",
        allow_mass_delete,
    };
    sync_source(&db.pool, &settings.sync, source[0].as_ref(), &options)
        .await
        .expect("run records")
}

pub fn stream<'r>(report: &'r SourceReport, name: &str) -> &'r tributary::sync::StreamReport {
    report
        .streams
        .iter()
        .find(|s| s.stream == name)
        .unwrap_or_else(|| panic!("no stream {name} in the report"))
}

/// POSTs/PUTs/DELETEs to the simulator's control endpoints.
pub async fn control(sim: &RunningSimulator, method: &str, path: &str, body: Value) -> Value {
    let client = reqwest::Client::new();
    let url = format!("{}{path}", sim.url());
    let request = match method {
        "POST" => client.post(url),
        "PUT" => client.put(url),
        "DELETE" => client.delete(url),
        _ => client.get(url),
    };
    let resp = request.json(&body).send().await.expect("control request");
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    assert!(status.is_success(), "{method} {path}: {status} {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// GETs a PlanningNow listing from the simulator as a client would.
pub async fn served(sim: &RunningSimulator, path: &str) -> Value {
    reqwest::Client::new()
        .get(format!("{}{path}", sim.planningnow_url()))
        .header("X-AUTH-TOKEN", "sim-token")
        .send()
        .await
        .expect("simulator answers")
        .json()
        .await
        .expect("JSON")
}

/// Runs the binary as a user would, with only the given tributary settings in its
/// environment.
pub async fn tributary(args: &[&str], env: &[(String, String)]) -> Output {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_tributary"));
    cmd.args(args).env("RUST_LOG", "warn");
    for (k, _) in std::env::vars() {
        if k.starts_with("TRIBUTARY") || k == "DATABASE_URL" {
            cmd.env_remove(k);
        }
    }
    cmd.envs(env.iter().cloned());
    cmd.output().await.expect("run tributary")
}

/// stdout and stderr together.
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
