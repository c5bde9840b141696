//! Test harness: a fresh PostgreSQL database per test and the simulator over HTTP.
//!
//! The server is found in this order: `TRIBUTARY_TEST_DATABASE_URL`; a server answering on
//! 127.0.0.1:5432 (as user `postgres`); a PostgreSQL container via testcontainers where a
//! Docker engine answers; otherwise the test fails saying how to provide one. `DATABASE_URL`
//! is never read here: it is what users export for their real tenant, and the tests create
//! and drop databases. (The binary under test runs without it too, unless a test passes it.)
//!
//! Each test database is named `tributary_test_<pid>_<n>_<random>` and dropped when its
//! [`TestDb`] is dropped — also when the test panics — or by the explicit [`TestDb::drop`].

use std::collections::HashMap;
use std::process::Output;
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::Value;
use sqlx::PgPool;
use tokio::sync::OnceCell;
use tributary::config::Settings;
use tributary::sources;
use tributary::sync::{SourceReport, SyncOptions, sync_source};
use tributary_simulator::{RunningSimulator, SimOptions};

/// The variable that names the tests' server (any database on it; the role must be allowed to
/// create databases).
const TEST_SERVER_VAR: &str = "TRIBUTARY_TEST_DATABASE_URL";
/// Every test database's name starts with it; nothing else is ever dropped.
const PREFIX: &str = "tributary_test_";

static SERVER: OnceCell<String> = OnceCell::const_new();
static COUNTER: AtomicU32 = AtomicU32::new(0);

/// URL of a database on the test server with the given name.
fn on_server(server: &str, database: &str) -> String {
    tributary::database_url::with_database(server, database).expect("a valid server URL")
}

async fn server() -> String {
    SERVER
        .get_or_init(|| async {
            if let Ok(url) = std::env::var(TEST_SERVER_VAR) {
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
            "no PostgreSQL for the tests: {TEST_SERVER_VAR} is unset, nothing answers on \
             127.0.0.1:5432, and no Docker engine could start a container ({e}). \
             Set {TEST_SERVER_VAR}=postgres://user@host:port/db (the role must be allowed to \
             create databases), or start PostgreSQL locally, or start Docker."
        ),
    }
}

/// A test database; dropping it drops the database (see the module doc).
pub struct TestDb {
    pub url: String,
    pub pool: PgPool,
    name: String,
    admin: String,
    /// Set once the database is gone (the explicit [`TestDb::drop`] ran).
    dropped: bool,
}

/// With `TEST_LOG` set, tributary's tracing output (filtered by `RUST_LOG`, `info` by
/// default) goes to the test's output, once per test process; without it, nothing.
fn init_test_log() {
    static INIT: std::sync::Once = std::sync::Once::new();
    INIT.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            let filter = tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
            let _ = tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_ansi(false)
                .with_test_writer()
                .try_init();
        }
    });
}

/// A new, empty, migrated database.
pub async fn fresh_db() -> TestDb {
    let db = blank_db().await;
    tributary::db::migrate(&db.pool).await.expect("migrations");
    db
}

/// A new database without any table (no migration applied).
pub async fn blank_db() -> TestDb {
    init_test_log();
    let server = server().await;
    let name = format!(
        "{PREFIX}{}_{}_{}",
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
    TestDb {
        url,
        pool,
        name,
        admin,
        dropped: false,
    }
}

impl TestDb {
    /// Drops the database now, closing the pool first (what dropping the value does, without
    /// blocking the runtime; a test that panics before it gets there is covered by `Drop`).
    pub async fn drop(mut self) {
        self.pool.close().await;
        let admin = PgPool::connect(&self.admin).await.expect("connect");
        sqlx::query(sqlx::AssertSqlSafe(drop_sql(&self.name)))
            .execute(&admin)
            .await
            .expect("drop the test database");
        admin.close().await;
        self.dropped = true;
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
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

impl Drop for TestDb {
    /// Drops the database, also while a panicking test unwinds. `Drop` cannot await, and a
    /// runtime cannot block inside another, so a thread of its own connects and drops it.
    /// Failures are printed, not raised: a panic here would abort the test process.
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        let (admin, name) = (self.admin.clone(), self.name.clone());
        let done = std::thread::spawn(move || -> Result<(), String> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async {
                use sqlx::Connection;
                let mut admin = sqlx::PgConnection::connect(&admin)
                    .await
                    .map_err(|e| e.to_string())?;
                sqlx::query(sqlx::AssertSqlSafe(drop_sql(&name)))
                    .execute(&mut admin)
                    .await
                    .map_err(|e| e.to_string())?;
                let _ = admin.close().await;
                Ok(())
            })
        })
        .join();
        match done {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("could not drop test database {}: {e}", self.name),
            Err(_) => eprintln!(
                "could not drop test database {}: the thread panicked",
                self.name
            ),
        }
    }
}

/// `DROP DATABASE` of a test database (its sessions are ended); only for names the harness made.
fn drop_sql(name: &str) -> String {
    assert!(
        name.starts_with(PREFIX) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
        "not a test database: {name}"
    );
    format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")
}

/// Whether the test server has a database of this name.
pub async fn database_exists(name: &str) -> bool {
    let admin = PgPool::connect(&on_server(&server().await, "postgres"))
        .await
        .expect("connect to the test server");
    let exists = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(name)
        .fetch_one(&admin)
        .await
        .expect("query pg_database");
    admin.close().await;
    exists
}

/// The URL of database `name` on the test server (which need not exist).
pub async fn url_on_test_server(name: &str) -> String {
    on_server(&server().await, name)
}

/// A vendor API a [`TestApp`] enables, against its simulator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Api {
    PlanningNow,
    Aimsio,
    Aircalc,
}

/// How a [`TestApp`] is set up: which APIs it enables (PlanningNow unless told), the
/// simulator's options (or none), and further variables of the environment.
pub struct TestAppBuilder {
    apis: Vec<Api>,
    sim: Option<SimOptions>,
    env: Vec<(String, String)>,
}

impl TestAppBuilder {
    /// The APIs enabled against the simulator (none: only `DATABASE_URL` is set).
    pub fn apis(mut self, apis: &[Api]) -> Self {
        self.apis = apis.to_vec();
        self
    }

    /// The simulator's options (the default: [`SimOptions::default`]).
    pub fn sim_options(mut self, options: SimOptions) -> Self {
        self.sim = Some(options);
        self
    }

    /// The simulator with `orders` PlanningNow orders, the rest default.
    pub fn orders(self, orders: usize) -> Self {
        self.sim_options(SimOptions {
            orders,
            ..SimOptions::default()
        })
    }

    /// No simulator: the test serves the APIs itself (their settings set with [`Self::env`]).
    pub fn without_simulator(mut self) -> Self {
        self.sim = None;
        self
    }

    /// One more variable of the environment the settings are loaded from.
    pub fn env(mut self, key: &str, value: impl Into<String>) -> Self {
        self.env.push((key.to_string(), value.into()));
        self
    }

    /// Makes the database, starts the simulator and sets the environment.
    pub async fn spawn(self) -> TestApp {
        let db = fresh_db().await;
        let sim = match self.sim {
            Some(options) => Some(
                tributary_simulator::start(([127, 0, 0, 1], 0).into(), options)
                    .await
                    .expect("start the simulator"),
            ),
            None => None,
        };
        let mut env = HashMap::from([("DATABASE_URL".to_string(), db.url.clone())]);
        if let Some(sim) = &sim {
            for api in &self.apis {
                env.extend(api_env(*api, sim));
            }
        }
        env.extend(self.env);
        TestApp { db, sim, env }
    }
}

/// What a user sets to sync `api` from the simulator.
fn api_env(api: Api, sim: &RunningSimulator) -> Vec<(String, String)> {
    let (prefix, vars) = match api {
        Api::PlanningNow => (
            "PLANNINGNOW",
            vec![
                ("BASE_URL", sim.planningnow_url()),
                ("TOKEN", "sim-token".into()),
                ("REQUESTS_PER_SECOND", "100".into()),
            ],
        ),
        Api::Aimsio => (
            "AIMSIO",
            vec![
                ("BASE_URL", sim.aimsio_url()),
                ("USERNAME", "sim-user".into()),
                ("PASSWORD", "sim-password".into()),
            ],
        ),
        Api::Aircalc => (
            "AIRCALC",
            vec![
                ("BASE_URL", sim.aircalc_url()),
                ("TOKEN_URL", sim.aircalc_token_url()),
                ("CLIENT_ID", "sim-client".into()),
                ("CLIENT_SECRET", "sim-secret".into()),
                ("REQUESTS_PER_SECOND", "100".into()),
            ],
        ),
    };
    std::iter::once(("ENABLED", "true".to_string()))
        .chain(vars)
        .map(|(k, v)| (format!("TRIBUTARY__SOURCES__{prefix}__{k}"), v))
        .collect()
}

/// One test's world: a fresh migrated database, the simulator on a free port, and the
/// environment that points tributary at both (what a user would export).
///
/// Dropping it — also when the test panics — drops the database and stops the simulator
/// (its server stops accepting once the handle is gone); [`TestApp::stop`] does both
/// awaiting them.
pub struct TestApp {
    db: TestDb,
    sim: Option<RunningSimulator>,
    env: HashMap<String, String>,
}

impl TestApp {
    pub fn builder() -> TestAppBuilder {
        TestAppBuilder {
            apis: vec![Api::PlanningNow],
            sim: Some(SimOptions::default()),
            env: Vec::new(),
        }
    }

    /// PlanningNow against a simulator with `orders` orders.
    pub async fn spawn(orders: usize) -> TestApp {
        Self::builder().orders(orders).spawn().await
    }

    pub fn db(&self) -> &TestDb {
        &self.db
    }

    pub fn pool(&self) -> &PgPool {
        &self.db.pool
    }

    pub fn sim(&self) -> &RunningSimulator {
        self.sim.as_ref().expect("this test app has no simulator")
    }

    /// The environment a user would set (tributary's variables and `DATABASE_URL`).
    pub fn env(&self) -> &HashMap<String, String> {
        &self.env
    }

    /// The environment as [`tributary`] takes it.
    pub fn env_pairs(&self) -> Vec<(String, String)> {
        self.env.clone().into_iter().collect()
    }

    /// Sets one variable of the environment (for the settings loaded after).
    pub fn set_env(&mut self, key: &str, value: impl Into<String>) {
        self.env.insert(key.to_string(), value.into());
    }

    /// The settings the environment gives.
    pub fn settings(&self) -> Settings {
        settings(&self.env)
    }

    /// One PlanningNow pass through the library, as `tributary sync` runs it.
    pub async fn sync(&self, allow_mass_delete: bool) -> SourceReport {
        self.sync_with(&self.settings(), allow_mass_delete).await
    }

    /// One PlanningNow pass with the given settings.
    pub async fn sync_with(&self, settings: &Settings, allow_mass_delete: bool) -> SourceReport {
        let source =
            sources::build(settings, &[sources::planningnow::NAME], self.pool()).expect("source");
        let options = SyncOptions {
            trigger: "cli",
            allow_mass_delete,
        };
        sync_source(self.pool(), &settings.sync, &source[0], &options)
            .await
            .expect("run records")
    }

    /// The base URL of the simulator's control endpoints (`/_sim/...`).
    pub fn control_url(&self) -> String {
        self.sim().url()
    }

    /// POSTs/PUTs/DELETEs (or GETs) to the simulator's control endpoints.
    pub async fn control(&self, method: &str, path: &str, body: Value) -> Value {
        let client = reqwest::Client::new();
        let url = format!("{}{path}", self.control_url());
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
    pub async fn served(&self, path: &str) -> Value {
        reqwest::Client::new()
            .get(format!("{}{path}", self.sim().planningnow_url()))
            .header("X-AUTH-TOKEN", "sim-token")
            .send()
            .await
            .expect("simulator answers")
            .json()
            .await
            .expect("JSON")
    }

    /// Runs the binary with this app's environment.
    pub async fn tributary(&self, args: &[&str]) -> Output {
        tributary(args, &self.env_pairs()).await
    }

    /// Starts `tributary run` (the binary) with this app's environment, its server on a free
    /// port of 127.0.0.1 unless `TRIBUTARY__SERVER__BIND` is set, and waits until it serves.
    pub async fn start_run(&self) -> RunningBinary {
        RunningBinary::start(&self.env_pairs()).await
    }

    pub async fn count(&self, sql: &str) -> i64 {
        self.db.count(sql).await
    }

    pub async fn assert_nothing_running(&self) {
        self.db.assert_nothing_running().await
    }

    /// Stops the simulator and drops the database, awaiting both.
    pub async fn stop(self) {
        if let Some(sim) = self.sim {
            sim.stop().await;
        }
        self.db.drop().await;
    }
}

/// A `tributary run` process: where it serves, and its log (JSON lines, `info`) so far.
pub struct RunningBinary {
    child: tokio::process::Child,
    pub addr: std::net::SocketAddr,
    log: std::sync::Arc<std::sync::Mutex<String>>,
}

impl RunningBinary {
    async fn start(env: &[(String, String)]) -> Self {
        use tokio::io::AsyncBufReadExt;
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_tributary"));
        cmd.arg("run")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("RUST_LOG", "info")
            .env("TRIBUTARY_LOG_FORMAT", "json")
            .env("TRIBUTARY__SERVER__BIND", "127.0.0.1:0")
            .envs(env.iter().cloned())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().expect("start tributary run");
        let mut lines = tokio::io::BufReader::new(child.stderr.take().expect("stderr")).lines();
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let (served, serving) = tokio::sync::oneshot::channel();
        let mut served = Some(served);
        let kept = std::sync::Arc::clone(&log);
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Ok(event) = serde_json::from_str::<Value>(&line)
                    && event["fields"]["message"] == "serving /healthz, /readyz and /metrics"
                    && let Some(addr) = event["fields"]["addr"].as_str()
                    && let Some(served) = served.take()
                {
                    let _ = served.send(addr.parse().expect("an address"));
                }
                let mut log = kept.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let addr = tokio::time::timeout(std::time::Duration::from_secs(30), serving)
            .await
            .ok()
            .and_then(Result::ok);
        let Some(addr) = addr else {
            let status = child.try_wait().ok().flatten();
            panic!(
                "tributary run did not serve within 30 s (exit {status:?}):\n{}",
                log.lock().unwrap()
            );
        };
        Self { child, addr, log }
    }

    /// `GET` of one of its paths: status and body.
    pub async fn get(&self, path: &str) -> (u16, String) {
        let resp = reqwest::get(format!("http://{}{path}", self.addr))
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        (resp.status().as_u16(), resp.text().await.expect("a body"))
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Sends `signal` (`-TERM`, `-INT`) and waits at most `within` for the exit: its status,
    /// and how long it took.
    pub async fn signal(
        mut self,
        signal: &str,
        within: std::time::Duration,
    ) -> (std::process::ExitStatus, std::time::Duration) {
        let pid = self.child.id().expect("still running").to_string();
        let kill = std::process::Command::new("kill")
            .args([signal, &pid])
            .status()
            .expect("kill");
        assert!(kill.success());
        let sent = std::time::Instant::now();
        let status = tokio::time::timeout(within, self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("no exit within {within:?}:\n{}", self.log()))
            .expect("its status");
        (status, sent.elapsed())
    }
}

pub fn settings(env: &HashMap<String, String>) -> Settings {
    Settings::load(None, env).expect("valid test settings")
}

pub fn stream<'r>(report: &'r SourceReport, name: &str) -> &'r tributary::sync::StreamReport {
    report
        .streams
        .iter()
        .find(|s| s.stream == name)
        .unwrap_or_else(|| panic!("no stream {name} in the report"))
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

#[tokio::test]
async fn a_test_database_is_dropped_even_when_the_test_panics() {
    let (named, name) = tokio::sync::oneshot::channel();
    let test = tokio::spawn(async move {
        let db = fresh_db().await;
        named.send(db.name().to_string()).unwrap();
        panic!("a failing test (on purpose)");
    });
    assert!(test.await.unwrap_err().is_panic());
    let name = name.await.unwrap();
    assert!(name.starts_with(PREFIX), "{name}");
    assert!(
        !database_exists(&name).await,
        "{name} outlived its panicking test"
    );
}

#[tokio::test]
async fn a_test_database_is_dropped_when_it_goes_out_of_scope_or_explicitly() {
    let db = fresh_db().await;
    let scoped = db.name().to_string();
    assert!(database_exists(&scoped).await);
    std::mem::drop(db);
    assert!(
        !database_exists(&scoped).await,
        "{scoped} outlived its TestDb"
    );
    let db = fresh_db().await;
    let explicit = db.name().to_string();
    db.drop().await;
    assert!(
        !database_exists(&explicit).await,
        "{explicit} was not dropped"
    );
}

#[tokio::test]
async fn a_test_app_is_torn_down_even_when_the_test_panics() {
    let (spawned, world) = tokio::sync::oneshot::channel();
    let test = tokio::spawn(async move {
        let app = TestApp::spawn(1).await;
        spawned
            .send((app.db().name().to_string(), app.sim().addr()))
            .unwrap();
        panic!("a failing test (on purpose)");
    });
    assert!(test.await.unwrap_err().is_panic());
    let (name, sim) = world.await.unwrap();
    assert!(
        !database_exists(&name).await,
        "{name} outlived its panicking test"
    );
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while tokio::net::TcpStream::connect(sim).await.is_ok() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the simulator at {sim} still accepts after its test panicked"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// A TCP proxy to the test database that can freeze: while frozen it still accepts
/// connections and reads what both sides send, but forwards nothing (a database behind a
/// stalled network, or a stopped server's port); thawed, it forwards what it held and
/// goes on.
pub struct FreezingProxy {
    pub addr: std::net::SocketAddr,
    frozen: tokio::sync::watch::Sender<bool>,
}

impl FreezingProxy {
    pub async fn start(upstream: String) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a listener");
        let addr = listener.local_addr().unwrap();
        let (frozen, _) = tokio::sync::watch::channel(false);
        let watch = frozen.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = tokio::net::TcpStream::connect(&upstream).await else {
                    continue;
                };
                let (client_read, client_write) = client.into_split();
                let (server_read, server_write) = server.into_split();
                tokio::spawn(Self::forward(client_read, server_write, watch.subscribe()));
                tokio::spawn(Self::forward(server_read, client_write, watch.subscribe()));
            }
        });
        Self { addr, frozen }
    }

    async fn forward(
        mut from: tokio::net::tcp::OwnedReadHalf,
        mut to: tokio::net::tcp::OwnedWriteHalf,
        mut frozen: tokio::sync::watch::Receiver<bool>,
    ) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match from.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            if frozen.wait_for(|f| !*f).await.is_err() {
                return;
            }
            if to.write_all(&buf[..n]).await.is_err() {
                return;
            }
        }
    }

    pub fn freeze(&self, on: bool) {
        self.frozen.send_replace(on);
    }
}
