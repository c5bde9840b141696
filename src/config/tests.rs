//! Tests of the generic loading, with sources of the tests' own.

use std::sync::Arc;

use config::Config;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::testing::{env, load, load_error, tempfile};
use super::*;

/// A source of the tests' own, with the common keys, a URL and a secret.
const DEMO: SourceDef = SourceDef {
    name: "demo",
    defaults: r#"
[sources.demo]
enabled = false
schedule = "0 0 * * * *"
history = true
base_url = ""
token = ""
token_file = ""
requests_per_second = 2.0
max_parallel = 2
timeout_secs = 30

[sources.demo.retry]
max_attempts = 5
max_elapsed_secs = 120

[sources.demo.budget]
requests = 0
window_secs = 3600
reserve = 0
max_wait_secs = 60
"#,
    parse: parse_demo,
};

/// A second source, to show the order and that each source has its own keys.
const OTHER: SourceDef = SourceDef {
    name: "other",
    defaults: r#"
[sources.other]
enabled = true
schedule = "0 30 * * * *"
history = true
requests_per_second = 1.0
max_parallel = 1
timeout_secs = 10

[sources.other.retry]
max_attempts = 4
max_elapsed_secs = 60

[sources.other.budget]
requests = 200
window_secs = 600
reserve = 20
max_wait_secs = 30
"#,
    parse: |_, common| Ok(Arc::new(Other(common))),
};

#[derive(Debug, Clone)]
struct Demo {
    common: CommonSourceSettings,
    base_url: String,
    token: Option<SecretString>,
}

impl AsRef<CommonSourceSettings> for Demo {
    fn as_ref(&self) -> &CommonSourceSettings {
        &self.common
    }
}

#[derive(Debug)]
struct Other(CommonSourceSettings);

#[derive(Deserialize)]
struct DemoRaw {
    base_url: String,
    token: SecretString,
    token_file: String,
}

fn parse_demo(config: &Config, common: CommonSourceSettings) -> ParseResult {
    let raw: DemoRaw = config.get("sources.demo")?;
    let token = secret("sources.demo.token", raw.token, &raw.token_file)?;
    if common.enabled {
        require_url("sources.demo.base_url", &raw.base_url)?;
    }
    Ok(Arc::new(Demo {
        common,
        base_url: raw.base_url,
        token,
    }))
}

#[test]
fn defaults_load_and_sources_come_in_the_order_given() {
    let s = load(&[], &[DEMO, OTHER]).unwrap();
    assert_eq!(s.sync.max_delete_fraction, 0.5);
    let names: Vec<&str> = s.sources.iter().map(|s| s.name).collect();
    assert_eq!(names, ["demo", "other"]);
    assert_eq!(s.source_enabled("demo"), Some(false));
    assert_eq!(s.source_enabled("other"), Some(true));
    assert_eq!(s.source_enabled("nope"), None);
    let other = s.source("other").unwrap();
    assert_eq!(other.common.budget.reserve, 20);
    assert_eq!(other.get::<Other>().0.retry.max_attempts, 4);
    assert!(s.source("demo").unwrap().get::<Demo>().token.is_none());
    let names: Vec<&str> = load(&[], &[OTHER, DEMO])
        .unwrap()
        .sources
        .iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(names, ["other", "demo"]);
}

#[test]
fn history_is_kept_by_default_and_switched_off_per_source() {
    let s = load(&[], &[DEMO, OTHER]).unwrap();
    assert!(s.source("demo").unwrap().common.history);
    let s = load(
        &[("TRIBUTARY__SOURCES__DEMO__HISTORY", "false")],
        &[DEMO, OTHER],
    )
    .unwrap();
    assert!(!s.source("demo").unwrap().common.history);
    assert!(s.source("other").unwrap().common.history);
    let err = load(
        &[("TRIBUTARY__SOURCES__DEMO__HISTORY", "sometimes")],
        &[DEMO, OTHER],
    )
    .unwrap_err();
    assert!(err.to_string().contains("sources.demo.history"), "{err}");
}

#[test]
#[should_panic(expected = "a programming error: the settings of source `other`")]
fn asking_for_another_sources_settings_type_is_a_programming_error() {
    let s = load(&[], &[DEMO, OTHER]).unwrap();
    s.source("other").unwrap().get::<Demo>();
}

#[test]
fn an_update_of_a_sources_settings_carries_its_common_keys_along() {
    let mut s = load(&[], &[DEMO]).unwrap();
    s.source_mut("demo").unwrap().update(|demo: &mut Demo| {
        demo.common.enabled = true;
        demo.base_url = "http://sim".into();
    });
    let demo = s.source("demo").unwrap();
    assert!(demo.common.enabled);
    assert_eq!(demo.get::<Demo>().base_url, "http://sim");
    assert_eq!(s.source_enabled("demo"), Some(true));
}

#[test]
fn database_timeouts_default_to_the_documented_values_and_are_checked() {
    let s = load(&[], &[]).unwrap();
    assert_eq!(s.database.timeouts, DatabaseTimeouts::default());
    assert_eq!(s.database.timeouts.statement, Duration::from_secs(300));
    assert_eq!(s.database.timeouts.lock, Duration::from_secs(10));
    assert_eq!(s.database.timeouts.acquire, Duration::from_secs(10));
    for (pairs, key) in [
        (
            &[("TRIBUTARY__DATABASE__ACQUIRE_TIMEOUT_SECS", "0")][..],
            "database.acquire_timeout_secs",
        ),
        (
            &[
                ("TRIBUTARY__DATABASE__STATEMENT_TIMEOUT_SECS", "5"),
                ("TRIBUTARY__DATABASE__LOCK_TIMEOUT_SECS", "6"),
            ][..],
            "database.lock_timeout_secs",
        ),
    ] {
        match load(pairs, &[]) {
            Err(ConfigError::Invalid { key: k, .. }) => assert_eq!(k, key),
            other => panic!("{pairs:?}: {other:?}"),
        }
    }
    let unlimited = load(
        &[
            ("TRIBUTARY__DATABASE__STATEMENT_TIMEOUT_SECS", "0"),
            ("TRIBUTARY__DATABASE__LOCK_TIMEOUT_SECS", "0"),
        ],
        &[],
    )
    .unwrap();
    assert!(unlimited.database.timeouts.statement.is_zero());
}

#[test]
fn known_keys_are_the_dotted_leaves_of_the_defaults_and_of_each_sources() {
    let keys = known_keys_with(&[DEMO, OTHER]);
    for key in [
        "database.url",
        "server.bind",
        "sync.batch_rows",
        "sources.demo.token_file",
        "sources.other.budget.reserve",
    ] {
        assert!(keys.iter().any(|k| k == key), "{key} missing in {keys:?}");
    }
    assert!(!keys.iter().any(|k| k == "sources.demo"), "{keys:?}");
    assert!(keys.is_sorted(), "{keys:?}");
    assert!(
        !known_keys_with(&[])
            .iter()
            .any(|k| k.starts_with("sources.")),
        "the general defaults hold no source"
    );
}

#[test]
fn env_beats_file_beats_defaults_and_database_url_is_honoured() {
    let mut file = tempfile("[sources.demo]\ntimeout_secs = 7\nrequests_per_second = 3\n");
    file.flush().unwrap();
    let s = load_with(
        Some(file.path()),
        &env(&[
            ("TRIBUTARY__SOURCES__DEMO__TIMEOUT_SECS", "9"),
            ("DATABASE_URL", "postgres://a@h/db1"),
        ]),
        &[DEMO],
    )
    .unwrap();
    let demo = &s.source("demo").unwrap().common;
    assert_eq!(demo.timeout_secs, 9);
    assert_eq!(demo.requests_per_second, 3.0);
    assert_eq!(s.database.url.expose_secret(), "postgres://a@h/db1");
    let s = load(
        &[
            ("DATABASE_URL", "postgres://a@h/db1"),
            ("TRIBUTARY__DATABASE__URL", "postgres://b@h/db2"),
        ],
        &[],
    )
    .unwrap();
    assert_eq!(s.database.url.expose_secret(), "postgres://b@h/db2");
}

#[test]
fn unknown_keys_are_named_with_their_origin() {
    let err = load_error(&[("TRIBUTARY__SOURCES__DEMO__TOKN", "x")], &[DEMO]);
    assert!(err.contains("`sources.demo.tokn`"), "{err}");
    assert!(err.contains("TRIBUTARY__SOURCES__DEMO__TOKN"), "{err}");
    let err = load_error(&[("TRIBUTARY__SOURCES__DEMO__ENABLED", "true")], &[OTHER]);
    assert!(err.contains("`sources.demo.enabled`"), "{err}");
    let file = tempfile("[sync]\nmax_delete_fractoin = 0.2\n");
    let err = load_with(Some(file.path()), &env(&[]), &[])
        .unwrap_err()
        .to_string();
    assert!(err.contains("`sync.max_delete_fractoin`"), "{err}");
}

#[test]
fn invalid_values_are_named() {
    for (key, value, named) in [
        (
            "TRIBUTARY__SOURCES__DEMO__TIMEOUT_SECS",
            "soon",
            "sources.demo.timeout_secs",
        ),
        (
            "TRIBUTARY__SOURCES__OTHER__SCHEDULE",
            "*/5 * * * *",
            "sources.other.schedule",
        ),
        (
            "TRIBUTARY__SOURCES__OTHER__BUDGET__RESERVE",
            "200",
            "sources.other.budget.reserve",
        ),
        (
            "TRIBUTARY__SOURCES__DEMO__ENABLED",
            "true",
            "sources.demo.base_url",
        ),
        (
            "TRIBUTARY__SYNC__MAX_DELETE_FRACTION",
            "1.5",
            "sync.max_delete_fraction",
        ),
        ("TRIBUTARY__DATABASE__URL", "mysql://x", "database.url"),
        ("TRIBUTARY__SERVER__BIND", "localhost", "server.bind"),
        (
            "TRIBUTARY__SERVER__SHUTDOWN_GRACE_SECS",
            "-3",
            "server.shutdown_grace_secs",
        ),
    ] {
        let err = load_error(&[(key, value)], &[DEMO, OTHER]);
        assert!(err.contains(named), "{key}: {err}");
    }
}

#[test]
fn a_broken_file_is_reported_without_its_content() {
    let file = tempfile("[sources.demo]\ntoken = s3cr3t-unquoted\n");
    let err = load_with(Some(file.path()), &env(&[]), &[DEMO])
        .unwrap_err()
        .to_string();
    assert!(err.contains("line 2"), "{err}");
    assert!(!err.contains("s3cr3t"), "{err}");
    let url = tempfile("postgres://u:pw@h/db\n");
    let s = load(&[("TRIBUTARY__DATABASE__URL_FILE", url.path_str())], &[]);
    assert_eq!(
        s.unwrap().database.url.expose_secret(),
        "postgres://u:pw@h/db"
    );
}

#[test]
fn secrets_come_from_files_and_never_show_in_debug() {
    let file = tempfile("s3cr3t-token\n");
    let s = load(
        &[
            ("TRIBUTARY__SOURCES__DEMO__TOKEN_FILE", file.path_str()),
            ("DATABASE_URL", "postgres://u:dbpass@h/db"),
        ],
        &[DEMO],
    )
    .unwrap();
    let demo = s.source("demo").unwrap().get::<Demo>();
    assert_eq!(demo.token.as_ref().unwrap().expose_secret(), "s3cr3t-token");
    let debug = format!("{s:?}");
    assert!(debug.contains("Demo"), "{debug}");
    assert!(
        !debug.contains("s3cr3t") && !debug.contains("dbpass"),
        "{debug}"
    );
    let err = load_error(
        &[("TRIBUTARY__SOURCES__DEMO__TOKEN_FILE", "/nonexistent/x")],
        &[DEMO],
    );
    assert!(err.contains("sources.demo.token_file"), "{err}");
}
