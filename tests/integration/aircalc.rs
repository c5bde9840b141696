//! aircalc end to end: the budget holds over several windows and restarts, projects come in
//! priority order, 404s are remembered, tokens are cached and renewed, and the analytics
//! views join PlanningNow orders to aircalc projects.

use serde_json::{Value, json};

use crate::common::*;
use tributary::db::runs::RunStatus;
use tributary::sources::{self, aircalc, planningnow};
use tributary::sync::{SourceReport, SyncOptions, sync_source};
use tributary_simulator::SimOptions;

const BY_NO: &str = "GET /aircalc/external/project-by-no/v0/{projectNo}";
const TOKEN: &str = "POST /aircalc/oauth/token";

/// PlanningNow and aircalc enabled against a simulator with `projects` aircalc projects,
/// `orders` orders and tokens living `token_ttl_secs`; aircalc's budget as given
/// (requests, window, reserve).
async fn both_app(
    projects: usize,
    orders: usize,
    token_ttl_secs: u64,
    budget: (u32, u32, u32),
) -> TestApp {
    let (requests, window_secs, reserve) = budget;
    let mut builder = TestApp::builder()
        .apis(&[Api::PlanningNow, Api::Aircalc])
        .sim_options(SimOptions {
            orders,
            aircalc_projects: projects,
            aircalc_token_ttl_secs: token_ttl_secs,
            ..SimOptions::default()
        });
    for (k, v) in [
        ("REQUESTS", requests.to_string()),
        ("WINDOW_SECS", window_secs.to_string()),
        ("RESERVE", reserve.to_string()),
        ("MAX_WAIT_SECS", "0".into()),
    ] {
        builder = builder.env(&format!("TRIBUTARY__SOURCES__AIRCALC__BUDGET__{k}"), v);
    }
    builder.spawn().await
}

/// One pass of a freshly built source, as a new `tributary sync` process would run it.
async fn run(app: &TestApp, name: &'static str) -> SourceReport {
    Kept::new(app, name).pass(app).await
}

/// A source kept across passes: its token cache lives as long as it does.
struct Kept {
    settings: tributary::config::Settings,
    source: tributary::sync::Source,
}

impl Kept {
    fn new(app: &TestApp, name: &'static str) -> Self {
        let settings = app.settings();
        let mut built = sources::build(&settings, &[name], app.pool()).expect("source");
        Self {
            settings,
            source: built.remove(0),
        }
    }

    async fn pass(&self, app: &TestApp) -> SourceReport {
        let options = SyncOptions {
            trigger: "cli",
            allow_mass_delete: false,
        };
        sync_source(app.pool(), &self.settings.sync, &self.source, &options)
            .await
            .expect("run records")
    }
}

async fn stats(app: &TestApp) -> Value {
    app.control("GET", "/_sim/stats", Value::Null).await
}

async fn put_order(app: &TestApp, id: i64, project_no: &str) {
    app.control("PUT", "/_sim/planningnow/order",
        json!({"id": id, "o_conf_date": "2025-05-01", "project_no": project_no, "netto": "10.00", "ges_netto": "10.00", "positions": []})).await;
}

#[tokio::test]
async fn the_budget_holds_over_windows_and_restarts_and_named_projects_come_first() {
    let app = both_app(12, 2, 3600, (8, 3, 2)).await;
    app.control(
        "PUT",
        "/_sim/limits/aircalc",
        json!({"requests": 6, "window_ms": 3000, "retry_after": true}),
    )
    .await;
    put_order(&app, 900_001, "PRJ-00011").await;
    put_order(&app, 900_002, " prj-00007 ").await;
    assert_eq!(
        run(&app, planningnow::NAME).await.status,
        RunStatus::Succeeded
    );
    let named: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT aircalc.match_key(project_no) FROM planningnow.orders \
         UNION SELECT aircalc.match_key(project_no) FROM planningnow.offers",
    )
    .fetch_all(app.pool())
    .await
    .unwrap();

    // Each run is a restart: a new client, a new token cache, the ledger in the database.
    let mut passes = 0;
    loop {
        passes += 1;
        let report = run(&app, aircalc::NAME).await;
        let backlog = tributary::status::collect(app.pool(), &app.settings())
            .await
            .unwrap()
            .backlogs
            .pop()
            .expect("aircalc has a backlog");
        assert_eq!((backlog.source, backlog.what), ("aircalc", "project(s)"));
        if report.status == RunStatus::Succeeded {
            assert_eq!(
                backlog.pending, 0,
                "nothing is due after a complete refresh"
            );
            break;
        }
        assert!(backlog.pending > 0 && backlog.all_refreshed_by > chrono::Utc::now());
        assert_eq!(backlog.requests_per_window, 6);
        assert_eq!(report.status, RunStatus::BudgetExhausted, "{report:?}");
        assert!(passes < 8, "the refresh never completed");
        tokio::time::sleep(std::time::Duration::from_millis(3400)).await;
    }
    assert!(
        passes >= 3,
        "12 projects at 6 requests per window need several windows"
    );
    let m = &stats(&app).await["limits"]["aircalc"];
    println!(
        "aircalc over {passes} runs: most requests in any 3 s window {} of 6, violations {}",
        m["max_in_window"], m["violations"]
    );
    assert_eq!(m["violations"], 0, "{m}");
    assert!(m["max_in_window"].as_u64().unwrap() <= 6, "{m}");
    assert_eq!(
        app.count("SELECT count(*) FROM aircalc.projects WHERE _deleted_at IS NULL")
            .await,
        12
    );
    let s = stats(&app).await;
    assert_eq!(
        s["requests"][BY_NO]["200"], 12,
        "no project fetched twice: {s}"
    );

    let order: Vec<String> = sqlx::query_scalar(
        "SELECT project_no FROM aircalc.project_refresh WHERE last_fetched_at IS NOT NULL \
         ORDER BY last_fetched_at, project_no",
    )
    .fetch_all(app.pool())
    .await
    .unwrap();
    assert_eq!(order.len(), 12);
    let first_unnamed = order
        .iter()
        .position(|p| !named.contains(p))
        .unwrap_or(order.len());
    assert!(
        order[..first_unnamed].contains(&"PRJ-00011".to_string()),
        "{order:?}"
    );
    assert!(
        order[..first_unnamed].contains(&"PRJ-00007".to_string()),
        "{order:?}"
    );
    assert!(
        order[first_unnamed..].iter().all(|p| !named.contains(p)),
        "named projects first: {order:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_404_is_remembered_and_a_deleted_project_is_soft_deleted() {
    let mut app = both_app(4, 1, 3600, (200, 600, 20)).await;
    app.set_env("TRIBUTARY__SOURCES__AIRCALC__PROJECTS", "PRJ-99999");
    app.set_env("TRIBUTARY__SOURCES__AIRCALC__REFRESH_AFTER_HOURS", "0");
    let first = run(&app, aircalc::NAME).await;
    assert_eq!(first.status, RunStatus::Succeeded, "{first:?}");
    let m = app
        .control(
            "POST",
            "/_sim/aircalc/mutate",
            json!({"delete": 1, "seed": 1}),
        )
        .await;
    let gone = m["deleted"][0].as_str().unwrap().to_string();
    let second = run(&app, aircalc::NAME).await;
    assert_eq!(second.status, RunStatus::Succeeded, "{second:?}");
    let s = stats(&app).await;
    let unknown: u64 = sqlx::query_scalar::<_, i64>(
        "SELECT count(*) FROM tributary.request_ledger WHERE endpoint = 'GET /project-by-no/v0/PRJ-99999'",
    )
    .fetch_one(app.pool())
    .await
    .unwrap() as u64;
    assert_eq!(unknown, 1, "a 404 is not asked again every run: {s}");
    let deleted: bool = sqlx::query_scalar(
        "SELECT _deleted_at IS NOT NULL FROM aircalc.projects WHERE project_no = $1",
    )
    .bind(&gone)
    .fetch_one(app.pool())
    .await
    .unwrap();
    assert!(deleted, "a project aircalc no longer knows is soft-deleted");
    assert_eq!(
        app.count(&format!("SELECT count(*) FROM aircalc.positions WHERE project_no = '{gone}' AND _deleted_at IS NULL")).await,
        0
    );
    app.stop().await;
}

#[tokio::test]
async fn tokens_are_cached_renewed_after_a_401_and_work_as_basic_auth() {
    let mut app = both_app(3, 1, 3600, (200, 600, 20)).await;
    app.set_env("TRIBUTARY__SOURCES__AIRCALC__CLIENT_AUTH", "basic");
    app.set_env("TRIBUTARY__SOURCES__AIRCALC__REFRESH_AFTER_HOURS", "0");
    let kept = Kept::new(&app, aircalc::NAME);
    let first = kept.pass(&app).await;
    assert_eq!(first.status, RunStatus::Succeeded, "{first:?}");
    assert_eq!(
        stats(&app).await["requests"][TOKEN]["200"],
        1,
        "one token for the whole pass"
    );
    app.control("POST", "/_sim/aircalc/expire-tokens", Value::Null)
        .await;
    let second = kept.pass(&app).await;
    assert_eq!(second.status, RunStatus::Succeeded, "{second:?}");
    let s = stats(&app).await;
    assert_eq!(
        s["requests"][TOKEN]["200"], 2,
        "renewed once after the 401: {s}"
    );
    let recorded: i64 = app
        .count("SELECT count(*) FROM tributary.request_ledger WHERE endpoint = 'POST <token_url>'")
        .await;
    assert_eq!(recorded, 2, "token calls count against the budget");
    app.set_env("TRIBUTARY__SOURCES__AIRCALC__CLIENT_SECRET", "wrong-s3cret");
    let report = run(&app, aircalc::NAME).await;
    assert_eq!(report.status, RunStatus::Failed);
    let error = report.streams[0].error.as_deref().unwrap();
    assert!(
        error.contains("aircalc") && !error.contains("wrong-s3cret"),
        "{error}"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_views_match_across_case_whitespace_and_external_refs_and_keep_unmatched_orders() {
    let app = both_app(5, 1, 3600, (200, 600, 20)).await;
    let token: Value = reqwest::Client::new()
        .post(app.sim().aircalc_token_url())
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&client_id=sim-client&client_secret=sim-secret")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let project: Value = reqwest::Client::new()
        .get(format!(
            "{}/project-by-no/v0/PRJ-00004",
            app.sim().aircalc_url()
        ))
        .bearer_auth(token["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let external = project["externalRef"].as_str().unwrap().to_string();
    put_order(&app, 910_001, "  prj-00002\t").await;
    put_order(&app, 910_002, &format!(" {} ", external.to_lowercase())).await;
    put_order(&app, 910_003, "NOT-IN-AIRCALC").await;
    assert_eq!(
        run(&app, planningnow::NAME).await.status,
        RunStatus::Succeeded
    );
    assert_eq!(run(&app, aircalc::NAME).await.status, RunStatus::Succeeded);

    type Row = (i64, Option<String>, Option<String>, i64, Option<String>);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT order_id, aircalc_project_no, matched_by, positions, ahu_net_price::text \
         FROM analytics.order_projects WHERE order_id >= 910001 ORDER BY order_id",
    )
    .fetch_all(app.pool())
    .await
    .unwrap();
    let positions = |no: &str| {
        format!(
            "SELECT count(*) FROM aircalc.positions WHERE project_no = '{no}' AND _deleted_at IS NULL"
        )
    };
    assert_eq!(rows[0].1.as_deref(), Some("PRJ-00002"));
    assert_eq!(rows[0].2.as_deref(), Some("project_no"));
    assert_eq!(rows[0].3, app.count(&positions("PRJ-00002")).await);
    assert_eq!(
        rows[1].1.as_deref(),
        Some("PRJ-00004"),
        "matched by external reference"
    );
    assert_eq!(rows[1].2.as_deref(), Some("external_ref"));
    let expected: Option<String> = sqlx::query_scalar(
        "SELECT sum(price_net * quantity)::text FROM aircalc.positions WHERE project_no = 'PRJ-00004' AND _deleted_at IS NULL",
    )
    .fetch_one(app.pool())
    .await
    .unwrap();
    assert_eq!(rows[1].4, expected);
    assert_eq!(
        (rows[2].1.as_deref(), rows[2].3),
        (None, 0),
        "an unmatched order stays in the view"
    );
    let live_orders = app
        .count("SELECT count(*) FROM planningnow.orders WHERE _deleted_at IS NULL")
        .await;
    assert_eq!(
        app.count("SELECT count(*) FROM analytics.order_projects")
            .await,
        live_orders
    );
    let offers = app
        .count("SELECT count(*) FROM planningnow.offers WHERE _deleted_at IS NULL")
        .await;
    assert_eq!(
        app.count("SELECT count(*) FROM analytics.offer_projects")
            .await,
        offers
    );
    app.stop().await;
}

#[tokio::test]
async fn boms_are_fetched_per_position_and_tokens_renew_before_they_expire() {
    let mut app = both_app(3, 1, 1, (200, 600, 20)).await;
    app.set_env("TRIBUTARY__SOURCES__AIRCALC__FETCH_BOM", "true");
    app.set_env("TRIBUTARY__SOURCES__AIRCALC__REFRESH_AFTER_HOURS", "0");
    let kept = Kept::new(&app, aircalc::NAME);
    let report = kept.pass(&app).await;
    assert_eq!(report.status, RunStatus::Succeeded, "{report:?}");
    let positions = app
        .count("SELECT count(*) FROM aircalc.positions WHERE _deleted_at IS NULL")
        .await;
    let s = stats(&app).await;
    assert_eq!(
        s["requests"]["GET /aircalc/external/ahu-bom-by-pos-no/v0/{posNo}"]["200"].as_i64(),
        Some(positions)
    );
    assert_eq!(
        app.count("SELECT count(DISTINCT pos_no) FROM aircalc.bom_lines WHERE _deleted_at IS NULL")
            .await,
        positions,
        "every position has its bill of materials"
    );
    // The token lives one second: the next pass renews it before use, without a 401.
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    let again = kept.pass(&app).await;
    assert_eq!(again.status, RunStatus::Succeeded, "{again:?}");
    let s = stats(&app).await;
    assert!(
        s["requests"][TOKEN]["200"].as_u64().unwrap() >= 2,
        "the token was renewed: {s}"
    );
    let unauthorized: u64 = s["requests"]
        .as_object()
        .unwrap()
        .values()
        .filter_map(|by_status| by_status["401"].as_u64())
        .sum();
    assert_eq!(unauthorized, 0, "renewed ahead of expiry: {s}");
    app.stop().await;
}

#[tokio::test]
async fn a_wrong_base_url_answering_404_everywhere_deletes_nothing() {
    let mut app = both_app(5, 1, 3600, (200, 600, 20)).await;
    app.set_env("TRIBUTARY__SOURCES__AIRCALC__REFRESH_AFTER_HOURS", "0");
    assert_eq!(run(&app, aircalc::NAME).await.status, RunStatus::Succeeded);
    app.set_env(
        "TRIBUTARY__SOURCES__AIRCALC__BASE_URL",
        format!("{}/v9", app.sim().aircalc_url()),
    );
    let report = run(&app, aircalc::NAME).await;
    assert_eq!(report.status, RunStatus::Failed);
    let projects = stream(&report, "projects");
    assert!(
        projects.error.as_deref().unwrap().contains("404"),
        "{:?}",
        projects.error
    );
    assert_eq!(
        app.count("SELECT count(*) FROM aircalc.projects WHERE _deleted_at IS NULL")
            .await,
        5
    );
    assert_eq!(
        app.count("SELECT count(*) FROM aircalc.project_refresh WHERE not_found_at IS NOT NULL")
            .await,
        0
    );
    app.stop().await;
}

#[tokio::test]
async fn a_malformed_user_is_set_aside_in_rejects_and_resolved_once_it_is_fixed() {
    let mut app = both_app(3, 1, 3600, (200, 600, 20)).await;
    app.set_env("TRIBUTARY__SOURCES__AIRCALC__FETCH_USERS", "false");
    let first = run(&app, aircalc::NAME).await;
    assert_eq!(first.status, RunStatus::Succeeded, "{first:?}");
    let creator: i64 = sqlx::query_scalar("SELECT min(created_by) FROM aircalc.projects")
        .fetch_one(app.pool())
        .await
        .expect("the projects name their creators");
    app.control(
        "PUT",
        "/_sim/aircalc/user",
        json!({"id": creator, "name": "Jürgen\u{0}Weiß", "email": "juergen.weiss@aircalc.example"}),
    )
    .await;
    app.set_env("TRIBUTARY__SOURCES__AIRCALC__FETCH_USERS", "true");
    let second = run(&app, aircalc::NAME).await;
    assert_eq!(second.status, RunStatus::Succeeded, "{second:?}");
    assert_eq!(stream(&second, "users").counts.rejected, 1, "{second:?}");
    type RejectRow = (String, String, Value, Option<i64>, bool);
    let row: RejectRow = sqlx::query_as(
        "SELECT record_key, error, payload, run_id, resolved_at IS NULL FROM tributary.rejects \
         WHERE source = 'aircalc' AND stream = 'users'",
    )
    .fetch_one(app.pool())
    .await
    .expect("the rejected user is recorded");
    let (key, error, payload, run_id, open) = row;
    assert_eq!(key, creator.to_string());
    assert!(error.contains("NUL"), "the reason is kept: {error}");
    assert_eq!(payload["id"], creator, "{payload}");
    assert_eq!(run_id, Some(stream(&second, "users").run_id));
    assert!(open);
    let stored = format!("SELECT count(*) FROM aircalc.users WHERE id = {creator}");
    assert_eq!(app.count(&stored).await, 0, "a rejected user is not stored");
    // Fixed at the source: the next pass stores the user and resolves the reject.
    app.control(
        "PUT",
        "/_sim/aircalc/user",
        json!({"id": creator, "name": "Jürgen Weiß", "email": "juergen.weiss@aircalc.example"}),
    )
    .await;
    let third = run(&app, aircalc::NAME).await;
    assert_eq!(third.status, RunStatus::Succeeded, "{third:?}");
    assert_eq!(app.count(&stored).await, 1);
    assert_eq!(
        app.count(
            "SELECT count(*) FROM tributary.rejects WHERE source = 'aircalc' AND stream = 'users' \
             AND resolved_at IS NOT NULL"
        )
        .await,
        1
    );
    app.stop().await;
}

#[tokio::test]
async fn a_project_is_stored_whole_with_its_boms_or_not_at_all() {
    let mut app = both_app(4, 1, 3600, (200, 600, 20)).await;
    app.set_env("TRIBUTARY__SOURCES__AIRCALC__FETCH_BOM", "true");
    let truth = app.control("GET", "/_sim/aircalc/truth", Value::Null).await;
    let project = truth["projects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["positions"].as_array().is_some_and(|a| a.len() >= 2))
        .expect("a project with two positions or more")
        .clone();
    let project_no = project["projectNo"].as_str().unwrap().to_string();
    let positions: Vec<String> = project["positions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["posNo"].as_str().unwrap().to_string())
        .collect();
    let last = positions.last().unwrap();
    assert!(
        last.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'),
        "{last} needs no escaping in a path"
    );
    // The last position's BOM answers 400 (not retried): the stream fails after the
    // project, its positions and its first BOMs were fetched.
    app.control(
        "POST",
        "/_sim/faults",
        json!({"path": format!("/aircalc/external/ahu-bom-by-pos-no/v0/{last}"), "status": 400, "times": 1}),
    )
    .await;
    let report = run(&app, aircalc::NAME).await;
    assert_eq!(report.status, RunStatus::Failed, "{report:?}");
    let of_project = |table: &str| {
        format!(
            "SELECT count(*) FROM {table} WHERE aircalc.match_key(project_no) = aircalc.match_key('{project_no}')"
        )
    };
    for table in ["aircalc.projects", "aircalc.positions", "aircalc.bom_lines"] {
        assert_eq!(
            app.count(&of_project(table)).await,
            0,
            "{table}: nothing of a project whose fetch broke off is stored"
        );
    }
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM aircalc.project_refresh WHERE project_no = aircalc.match_key('{project_no}') AND last_fetched_at IS NOT NULL"
        ))
        .await,
        0,
        "nor noted as fetched"
    );
    let report = run(&app, aircalc::NAME).await;
    assert_eq!(report.status, RunStatus::Succeeded, "{report:?}");
    assert_eq!(
        app.count(&of_project("aircalc.positions")).await,
        positions.len() as i64
    );
    assert_eq!(
        app.count(&format!(
            "SELECT count(DISTINCT pos_no) FROM aircalc.bom_lines WHERE aircalc.match_key(project_no) = aircalc.match_key('{project_no}')"
        ))
        .await,
        positions.len() as i64,
        "the next pass stores it whole"
    );
    app.stop().await;
}

/// Projects stored one after another on one connection share its staging tables, each
/// emptied by its commit: no project's rows reach the next one's merge. (The pass holds its
/// lock on the pool's other connection; the request ledger has a pool of its own.)
#[tokio::test]
async fn projects_stored_on_one_connection_each_stage_only_their_own_rows() {
    let app = both_app(6, 2, 3600, (1000, 600, 0)).await;
    let url = app.settings().database.url;
    let one = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(secrecy::ExposeSecret::expose_secret(&url))
        .await
        .unwrap();
    let built = sources::build(&app.settings(), &[aircalc::NAME], app.pool()).expect("source");
    let options = SyncOptions {
        trigger: "cli",
        allow_mass_delete: false,
    };
    let report = sync_source(&one, &app.settings().sync, &built[0], &options)
        .await
        .expect("run records");
    assert_eq!(report.status, RunStatus::Succeeded, "{report:?}");
    let projects = report
        .streams
        .iter()
        .find(|s| s.stream == "projects")
        .expect("the projects stream");
    let positions = &projects.counts.tables["aircalc.positions"];
    let stored = app.count("SELECT count(*) FROM aircalc.positions").await;
    assert!(stored > 6, "the simulator's projects have positions");
    assert_eq!(
        (positions.inserted, positions.unchanged),
        (stored as u64, 0),
        "every position staged once, by its own project"
    );
    let mut conn = one.acquire().await.unwrap();
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_temp._object_aircalc_positions")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(left, 0, "the staging table is emptied at commit");
    drop(conn);
    one.close().await;
    app.stop().await;
}
