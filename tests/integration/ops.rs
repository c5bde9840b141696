//! What ships for operators in `ops/`: the Prometheus alert rules pass `promtool check
//! rules` and their unit tests (`promtool test rules`), the Grafana dashboard imports
//! anywhere (its datasource is a variable), every metric either names is one the real
//! `tributary run` serves, and `docker-compose.yml` passes `docker-compose config`.
//!
//! promtool and docker-compose must be on `PATH` (`.ci/run` installs them from Debian's
//! `prometheus` and `docker-compose` packages); without them these tests fail, unless
//! `TRIBUTARY_SKIP_PROMTOOL=1` or `TRIBUTARY_SKIP_COMPOSE=1` says to skip them.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::*;

const ALERTS: &str = "ops/prometheus/alerts.yml";
const ALERT_TESTS: &str = "ops/prometheus/alerts.test.yml";
const DASHBOARD: &str = "ops/grafana/tributary.json";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// `tool` on `PATH`; `None` only when `skip` is set to 1 (the test then checks nothing).
/// Missing otherwise, the test fails saying how to get it.
fn tool(tool: &str, package: &str, skip: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(tool))
            .find(|candidate| candidate.is_file())
    });
    if found.is_none() && std::env::var(skip).is_ok_and(|v| v == "1") {
        eprintln!("{tool} is not on PATH and {skip}=1: skipped");
        return None;
    }
    Some(found.unwrap_or_else(|| {
        panic!(
            "{tool} is not on PATH: install it (Debian: apt-get install {package}; .ci/run \
             does) or set {skip}=1 to skip this test"
        )
    }))
}

/// Runs `program args` in the repository: its stdout; panics with its output unless it
/// succeeds.
fn succeeds(program: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new(program)
        .args(args)
        .current_dir(repo())
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", program.display()));
    let all = text(&out);
    assert!(
        out.status.success(),
        "{} {args:?}: {:?}\n{all}",
        program.display(),
        out.status
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_alert_rules_pass_promtool_and_their_unit_tests() {
    let Some(promtool) = tool("promtool", "prometheus", "TRIBUTARY_SKIP_PROMTOOL") else {
        return;
    };
    let checked = succeeds(&promtool, &["check", "rules", ALERTS]);
    assert!(checked.contains("SUCCESS: 8 rules found"), "{checked}");
    let tested = succeeds(&promtool, &["test", "rules", ALERT_TESTS]);
    assert!(tested.contains("SUCCESS"), "{tested}");
}

#[test]
fn every_alert_has_a_severity_a_summary_and_what_to_do() {
    let rules: serde_norway::Value = serde_norway::from_str(&read(ALERTS)).expect("YAML");
    let rules = rules["groups"][0]["rules"].as_sequence().expect("rules");
    let mut names = Vec::new();
    for rule in rules {
        let name = rule["alert"].as_str().expect("every rule is an alert");
        assert!(rule["expr"].as_str().is_some(), "{name}");
        assert!(
            ["info", "warning", "critical"].contains(&rule["labels"]["severity"].as_str().unwrap()),
            "{name}"
        );
        for annotation in ["summary", "description"] {
            assert!(
                rule["annotations"][annotation].as_str().is_some(),
                "{name}: {annotation}"
            );
        }
        names.push(name);
    }
    assert_eq!(
        names,
        [
            "TributarySourceStale",
            "TributarySourceNeverSucceeded",
            "TributaryRunsFailing",
            "TributaryRejectsGrowing",
            "TributarySchemaChanged",
            "TributaryBudgetNearlyExhausted",
            "TributaryDatabaseDown",
            "TributaryAbsent",
        ]
    );
    // The README explains each of them to an op.
    let readme = read("README.md");
    for name in names {
        assert!(readme.contains(&format!("`{name}`")), "README: {name}");
    }
}

/// Every panel of the dashboard (rows aside).
fn panels(dashboard: &Value) -> Vec<&Value> {
    dashboard["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .filter(|p| p["type"] != "row")
        .collect()
}

#[test]
fn the_dashboard_imports_anywhere_and_shows_what_an_op_needs() {
    let dashboard: Value = serde_json::from_str(&read(DASHBOARD)).expect("the dashboard is JSON");
    let variables = dashboard["templating"]["list"]
        .as_array()
        .expect("variables");
    let datasource = variables
        .iter()
        .find(|v| v["name"] == "DS_PROMETHEUS")
        .expect("a datasource variable DS_PROMETHEUS");
    assert_eq!(datasource["type"], "datasource");
    assert_eq!(datasource["query"], "prometheus");
    let variable = serde_json::json!({"type": "prometheus", "uid": "${DS_PROMETHEUS}"});
    for v in variables.iter().filter(|v| v["type"] == "query") {
        assert_eq!(v["datasource"], variable, "variable {}", v["name"]);
    }
    let panels = panels(&dashboard);
    let mut ids = BTreeSet::new();
    let mut exprs = Vec::new();
    for panel in &panels {
        let title = panel["title"].as_str().expect("a title");
        assert!(ids.insert(panel["id"].as_u64().expect("an id")), "{title}");
        assert_eq!(panel["datasource"], variable, "{title}");
        let targets = panel["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{title}");
        for target in targets {
            assert_eq!(target["datasource"], variable, "{title}");
            exprs.push(target["expr"].as_str().expect("a PromQL expression"));
        }
    }
    let shown = |metric: &str| exprs.iter().any(|e| e.contains(metric));
    for metric in [
        "tributary_last_success_timestamp_seconds",
        "tributary_runs_total",
        "tributary_rows_total",
        "tributary_records_rejected_total",
        "tributary_budget_used_requests",
        "tributary_budget_remaining_requests",
        "tributary_database_up",
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
    ] {
        assert!(shown(metric), "no panel shows {metric}");
    }
    assert!(
        exprs
            .iter()
            .any(|e| e.contains("tributary_requests_total") && e.contains(r#"status="429""#)),
        "no panel shows the 429 answers"
    );
    assert!(
        exprs
            .iter()
            .any(|e| e.contains(r#"op=~"inserted|updated|deleted""#)),
        "no panel shows rows inserted, updated and deleted"
    );
}

/// The metric names a text mentions: words starting `tributary_` or `process_`.
fn metric_names(text: &str) -> BTreeSet<String> {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut names = BTreeSet::new();
    for prefix in ["tributary_", "process_"] {
        for (at, _) in text.match_indices(prefix) {
            if text[..at].ends_with(word) {
                continue;
            }
            let name: String = text[at..].chars().take_while(|c| word(*c)).collect();
            names.insert(name);
        }
    }
    names
}

/// Every metric name of the exposition: sample names and families.
fn served_names(exposition: &str) -> BTreeSet<String> {
    exposition
        .lines()
        .filter_map(|line| match line.strip_prefix("# TYPE ") {
            Some(family) => family.split(' ').next(),
            None if line.starts_with('#') => None,
            None => line.split(['{', ' ']).next(),
        })
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn every_metric_the_dashboard_and_alerts_name_is_served_by_run() {
    let mut referenced = BTreeSet::new();
    for file in [DASHBOARD, ALERTS, ALERT_TESTS] {
        let names = metric_names(&read(file));
        assert!(names.len() >= 5, "{file}: {names:?}");
        referenced.extend(names);
    }
    let app = TestApp::builder()
        .apis(&[Api::PlanningNow, Api::Aimsio, Api::Aircalc])
        .orders(5)
        .spawn()
        .await;
    let run = app.start_run().await;
    // Every source never succeeded: each runs at once. Once each has succeeded, every family
    // is there (rows and requests appear with their first table and answer).
    let started = Instant::now();
    let exposition = loop {
        let (status, text) = run.get("/metrics").await;
        assert_eq!(status, 200);
        let succeeded = ["planningnow", "aimsio", "aircalc"].iter().all(|source| {
            text.lines().any(|l| {
                l.starts_with(&format!(
                    r#"tributary_runs_total{{source="{source}",outcome="succeeded"}} "#
                )) && !l.ends_with(" 0")
            })
        });
        if succeeded {
            break text;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "every source's startup pass succeeds:\n{text}\n{}",
            run.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let served = served_names(&exposition);
    let unserved: Vec<&String> = referenced
        .iter()
        .filter(|name| {
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| name.strip_suffix(suffix))
                .unwrap_or(name);
            !served.contains(*name) && !served.contains(family)
        })
        .collect();
    assert!(
        unserved.is_empty(),
        "named in ops/ but not served by /metrics: {unserved:?}\n{exposition}"
    );
    let (exit, _) = run.signal("-TERM", Duration::from_secs(30)).await;
    assert_eq!(exit.code(), Some(0));
    app.stop().await;
}

#[test]
fn the_compose_file_passes_docker_compose_config() {
    let Some(compose) = tool("docker-compose", "docker-compose", "TRIBUTARY_SKIP_COMPOSE") else {
        return;
    };
    succeeds(&compose, &["-f", "docker-compose.yml", "config", "--quiet"]);
    let services = succeeds(
        &compose,
        &["-f", "docker-compose.yml", "config", "--services"],
    );
    let services: BTreeSet<&str> = services.lines().collect();
    assert_eq!(
        services,
        BTreeSet::from(["postgres", "tributary", "simulator", "tributary-demo"])
    );
    // The tool does check: a key compose does not know fails it.
    let dir = std::env::temp_dir().join(format!("tributary-compose-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let broken = dir.join("docker-compose.yml");
    std::fs::write(
        &broken,
        read("docker-compose.yml").replacen("stop_grace_period:", "stop_grace_periods:", 1),
    )
    .unwrap();
    let out = std::process::Command::new(&compose)
        .args(["-f", broken.to_str().unwrap(), "config", "--quiet"])
        .output()
        .expect("docker-compose");
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("stop_grace_periods"), "{}", text(&out));
}
