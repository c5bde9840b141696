//! Settings: `config/default.toml` (compiled in) < `--config FILE` / `TRIBUTARY_CONFIG` <
//! `DATABASE_URL` < `TRIBUTARY__SECTION__KEY` environment variables.
//!
//! Owns loading, the unknown-key check (every valid key is present in the defaults), secret
//! handling (`SecretString`, `<key>_file`) and validation, so that a bad configuration stops
//! the program before any network or database work with an error naming the key. It does not
//! know what the settings are used for.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use config::{Config, Environment, File, FileFormat, Value, ValueKind};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

mod sources;
pub use sources::*;

/// The built-in defaults; also the list of every valid key.
pub const DEFAULTS: &str = include_str!("../../config/default.toml");

/// Names of the sources tributary knows, in the order a pass runs them.
pub const SOURCE_NAMES: &[&str] = &["planningnow", "aimsio", "aircalc"];

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("unknown configuration key `{key}` (set by {origin})")]
    UnknownKey { key: String, origin: String },
    #[error("invalid configuration value for `{key}`: {reason}")]
    Invalid { key: String, reason: String },
    #[error("missing configuration value `{key}`: {reason}")]
    Missing { key: String, reason: String },
    #[error("cannot read configuration: {0}")]
    Load(#[from] config::ConfigError),
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub database: DatabaseConfig,
    pub server: ServerSettings,
    pub sync: SyncSettings,
    pub sources: SourcesSettings,
}

/// The `[database]` section: where to connect, and how long each database call may take.
#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    pub url: SecretString,
    pub max_connections: u32,
    pub timeouts: DatabaseTimeouts,
}

/// A connection alone (URL and pool size); a pool opened from it gets the default
/// [`DatabaseTimeouts`].
#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    pub url: SecretString,
    pub max_connections: u32,
}

impl From<&DatabaseSettings> for DatabaseConfig {
    fn from(s: &DatabaseSettings) -> Self {
        Self {
            url: s.url.clone(),
            max_connections: s.max_connections,
            timeouts: DatabaseTimeouts::default(),
        }
    }
}

impl From<&DatabaseConfig> for DatabaseConfig {
    fn from(s: &DatabaseConfig) -> Self {
        s.clone()
    }
}

/// Bounds on every database call. A zero statement or lock timeout means none (as in
/// PostgreSQL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DatabaseTimeouts {
    /// `statement_timeout` of every pooled session: the longest one statement may run.
    pub statement: Duration,
    /// `lock_timeout` of every pooled session: the longest a statement waits for a lock
    /// (another connection's table or row lock).
    pub lock: Duration,
    /// The longest a caller waits for a connection from the pool.
    pub acquire: Duration,
}

impl Default for DatabaseTimeouts {
    /// The values of `config/default.toml`.
    fn default() -> Self {
        Self {
            statement: Duration::from_secs(300),
            lock: Duration::from_secs(10),
            acquire: Duration::from_secs(10),
        }
    }
}

#[derive(Deserialize)]
struct DatabaseRaw {
    url: SecretString,
    url_file: String,
    max_connections: u32,
    statement_timeout_secs: u64,
    lock_timeout_secs: u64,
    acquire_timeout_secs: u64,
}

/// The daemon's HTTP server and its shutdown.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub bind: std::net::SocketAddr,
    pub shutdown_grace: std::time::Duration,
}

#[derive(Deserialize)]
struct ServerRaw {
    bind: String,
    shutdown_grace_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SyncSettings {
    pub max_delete_fraction: f64,
    pub batch_rows: usize,
    pub max_record_bytes: usize,
    pub max_listing_bytes: u64,
}

impl SyncSettings {
    /// `max_listing_bytes` as a read limit.
    pub fn listing_limit(&self) -> usize {
        usize::try_from(self.max_listing_bytes).unwrap_or(usize::MAX)
    }
}

#[derive(Debug, Clone)]
pub struct SourcesSettings {
    pub planningnow: PlanningNowSettings,
    pub aimsio: AimsioSettings,
    pub aircalc: AircalcSettings,
}

impl Settings {
    /// Loads the layers. `file` is `--config` (or `TRIBUTARY_CONFIG`); `env` is the process
    /// environment (passed in so tests need not touch the real one).
    pub fn load(file: Option<&Path>, env: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let mut builder = Config::builder().add_source(File::from_str(DEFAULTS, FileFormat::Toml));
        if let Some(path) = file {
            if !path.is_file() {
                return Err(ConfigError::Invalid {
                    key: "--config".into(),
                    reason: format!("{} is not a readable file", path.display()),
                });
            }
            builder = builder.add_source(File::from(path.to_path_buf()).format(FileFormat::Toml));
        }
        if let Some(url) = env.get("DATABASE_URL").filter(|u| !u.is_empty()) {
            let map = HashMap::from([("database__url".to_string(), url.clone())]);
            builder = builder.add_source(Environment::default().separator("__").source(Some(map)));
        }
        let tributary_env: HashMap<String, String> = env
            .iter()
            .filter(|(k, _)| k.starts_with("TRIBUTARY__"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        builder = builder.add_source(
            Environment::with_prefix("TRIBUTARY")
                .prefix_separator("__")
                .separator("__")
                .source(Some(tributary_env)),
        );
        let config = builder.build().map_err(without_values)?;
        check_known_keys(&config)?;
        Self::from_config(&config)
    }

    fn from_config(config: &Config) -> Result<Self, ConfigError> {
        let raw: DatabaseRaw = config.get("database")?;
        // `url` always has a value (the default), so a file given in `url_file` replaces it.
        let inline = if raw.url_file.is_empty() {
            raw.url
        } else {
            SecretString::from(String::new())
        };
        let database = DatabaseConfig {
            url: secret("database.url", inline, &raw.url_file)?
                .ok_or_else(|| invalid("database.url", "must not be empty"))?,
            max_connections: raw.max_connections,
            timeouts: DatabaseTimeouts {
                statement: Duration::from_secs(raw.statement_timeout_secs),
                lock: Duration::from_secs(raw.lock_timeout_secs),
                acquire: Duration::from_secs(raw.acquire_timeout_secs),
            },
        };
        let server: ServerRaw = config.get("server")?;
        let server = ServerSettings {
            bind: server.bind.parse().map_err(|_| {
                invalid(
                    "server.bind",
                    &format!(
                        "`{}` is not an IP address with a port, e.g. 0.0.0.0:8080",
                        server.bind
                    ),
                )
            })?,
            shutdown_grace: std::time::Duration::from_secs(server.shutdown_grace_secs),
        };
        let sync: SyncSettings = config.get("sync")?;
        let settings = Settings {
            database,
            server,
            sync,
            sources: SourcesSettings {
                planningnow: PlanningNowSettings::from_config(config)?,
                aimsio: AimsioSettings::from_config(config)?,
                aircalc: AircalcSettings::from_config(config)?,
            },
        };
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let url = self.database.url.expose_secret();
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(invalid(
                "database.url",
                "must start with postgres:// or postgresql://",
            ));
        }
        if self.database.max_connections < 2 {
            return Err(invalid("database.max_connections", "must be at least 2"));
        }
        let t = &self.database.timeouts;
        if t.acquire.is_zero() {
            return Err(invalid(
                "database.acquire_timeout_secs",
                "must be at least 1",
            ));
        }
        if !t.statement.is_zero() && t.lock > t.statement {
            return Err(invalid(
                "database.lock_timeout_secs",
                "must not exceed database.statement_timeout_secs (a lock wait is part of a statement)",
            ));
        }
        if !(0.0..=1.0).contains(&self.sync.max_delete_fraction) {
            return Err(invalid(
                "sync.max_delete_fraction",
                "must be between 0.0 and 1.0",
            ));
        }
        if self.sync.max_record_bytes < 1024 {
            return Err(invalid("sync.max_record_bytes", "must be at least 1024"));
        }
        if self.sync.max_listing_bytes < self.sync.max_record_bytes as u64 {
            return Err(invalid(
                "sync.max_listing_bytes",
                "must be at least sync.max_record_bytes",
            ));
        }
        if self.sync.batch_rows == 0 {
            return Err(invalid("sync.batch_rows", "must be at least 1"));
        }
        Ok(())
    }

    /// Whether the named source is enabled; `None` for an unknown name.
    pub fn source_enabled(&self, name: &str) -> Option<bool> {
        self.source_common(name).map(|c| c.enabled)
    }

    /// The keys every source has; `None` for an unknown name.
    pub fn source_common(&self, name: &str) -> Option<&CommonSourceSettings> {
        match name {
            "planningnow" => Some(&self.sources.planningnow.common),
            "aimsio" => Some(&self.sources.aimsio.common),
            "aircalc" => Some(&self.sources.aircalc.common),
            _ => None,
        }
    }
}

/// A parse error of a file quotes the offending line, which may hold a secret: keep only
/// the position and the parser's explanation.
fn without_values(e: config::ConfigError) -> ConfigError {
    match e {
        config::ConfigError::FileParse { uri, cause } => {
            let text = cause.to_string();
            let mut lines = text.lines().filter(|l| !l.trim().is_empty());
            let position = lines.next().unwrap_or("parse error");
            let explanation = lines.next_back().unwrap_or("");
            ConfigError::Invalid {
                key: uri.unwrap_or_else(|| "configuration file".into()),
                reason: format!("{position}: {explanation}"),
            }
        }
        other => ConfigError::Load(other),
    }
}

pub(crate) fn invalid(key: &str, reason: &str) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        reason: reason.into(),
    }
}

pub(crate) fn require_url(key: &str, value: &str) -> Result<(), ConfigError> {
    if value.is_empty() {
        return Err(ConfigError::Missing {
            key: key.into(),
            reason: "the source is enabled".into(),
        });
    }
    match reqwest::Url::parse(value) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => Ok(()),
        _ => Err(invalid(key, &format!("`{value}` is not an http(s) URL"))),
    }
}

/// A secret given inline or as `<key>_file`; empty means unset. Both at once is an error.
pub(crate) fn secret(
    key: &str,
    inline: SecretString,
    file: &str,
) -> Result<Option<SecretString>, ConfigError> {
    let inline = (!inline.expose_secret().is_empty()).then_some(inline);
    if file.is_empty() {
        return Ok(inline);
    }
    if inline.is_some() {
        return Err(invalid(
            key,
            &format!("set either `{key}` or `{key}_file`, not both"),
        ));
    }
    let text = std::fs::read_to_string(PathBuf::from(file))
        .map_err(|e| invalid(&format!("{key}_file"), &format!("cannot read {file}: {e}")))?;
    let text = text.trim_end_matches(['\r', '\n']).to_string();
    if text.is_empty() {
        return Err(invalid(&format!("{key}_file"), &format!("{file} is empty")));
    }
    Ok(Some(SecretString::from(text)))
}

/// Every valid key, dotted and in lower case (`sources.aircalc.client_secret`), sorted: the
/// keys of the built-in defaults. Its environment form is `TRIBUTARY__` followed by the key
/// in upper case with `__` for the dots.
pub fn known_keys() -> Vec<String> {
    let mut keys: Vec<String> = default_values()
        .expect("the built-in defaults parse (a unit test loads them)")
        .into_keys()
        .collect();
    keys.sort();
    keys
}

/// The built-in defaults by key.
fn default_values() -> Result<HashMap<String, Value>, ConfigError> {
    let defaults = Config::builder()
        .add_source(File::from_str(DEFAULTS, FileFormat::Toml))
        .build()?;
    let mut leaves = Vec::new();
    leaf_keys(&defaults.cache, "", &mut leaves);
    Ok(leaves
        .into_iter()
        .map(|(key, _, value)| (key, value.clone()))
        .collect())
}

/// Every key of the merged configuration must exist in the defaults and hold a value of the
/// default's type (checked per key so that the error names the key, not its section).
fn check_known_keys(config: &Config) -> Result<(), ConfigError> {
    let known = default_values()?;
    let mut actual = Vec::new();
    leaf_keys(&config.cache, "", &mut actual);
    for (key, origin, value) in actual {
        let Some(default) = known.get(&key) else {
            return Err(ConfigError::UnknownKey { key, origin });
        };
        let (ok, expected) = match default.kind {
            ValueKind::I64(_) | ValueKind::U64(_) | ValueKind::I128(_) | ValueKind::U128(_) => (
                value.clone().into_int().is_ok_and(|i| i >= 0),
                "a whole number of at least 0",
            ),
            ValueKind::Float(_) => (value.clone().into_float().is_ok(), "a number"),
            ValueKind::Boolean(_) => (value.clone().into_bool().is_ok(), "true or false"),
            _ => (true, ""),
        };
        if !ok {
            return Err(invalid(
                &key,
                &format!("expected {expected}, got `{value}` (set by {origin})"),
            ));
        }
    }
    Ok(())
}

fn leaf_keys<'v>(value: &'v Value, prefix: &str, out: &mut Vec<(String, String, &'v Value)>) {
    match &value.kind {
        ValueKind::Table(table) => {
            for (k, v) in table {
                let key = if prefix.is_empty() {
                    k.to_lowercase()
                } else {
                    format!("{prefix}.{}", k.to_lowercase())
                };
                leaf_keys(v, &key, out);
            }
        }
        _ => {
            let origin = match value.origin() {
                Some(file) if file != "the environment" => file.to_string(),
                _ => format!(
                    "environment variable TRIBUTARY__{}",
                    prefix.to_uppercase().replace('.', "__")
                ),
            };
            out.push((prefix.to_string(), origin, value));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_load_and_every_source_is_disabled() {
        let s = Settings::load(None, &env(&[])).unwrap();
        assert!(!s.sources.planningnow.common.enabled);
        assert_eq!(s.sync.max_delete_fraction, 0.5);
        assert_eq!(s.sources.planningnow.timezone, chrono_tz::Europe::Berlin);
    }

    #[test]
    fn database_timeouts_default_to_the_documented_values_and_are_checked() {
        let s = Settings::load(None, &env(&[])).unwrap();
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
            match Settings::load(None, &env(pairs)) {
                Err(ConfigError::Invalid { key: k, .. }) => assert_eq!(k, key),
                other => panic!("{pairs:?}: {other:?}"),
            }
        }
        let unlimited = Settings::load(
            None,
            &env(&[
                ("TRIBUTARY__DATABASE__STATEMENT_TIMEOUT_SECS", "0"),
                ("TRIBUTARY__DATABASE__LOCK_TIMEOUT_SECS", "0"),
            ]),
        )
        .unwrap();
        assert!(unlimited.database.timeouts.statement.is_zero());
    }

    #[test]
    fn known_keys_are_the_dotted_leaves_of_the_defaults() {
        let keys = known_keys();
        for key in [
            "database.url",
            "server.bind",
            "sources.aimsio.entities",
            "sources.aircalc.client_secret_file",
            "sources.planningnow.budget.reserve",
        ] {
            assert!(keys.iter().any(|k| k == key), "{key} missing in {keys:?}");
        }
        assert!(!keys.iter().any(|k| k == "sources.aircalc"), "{keys:?}");
    }

    #[test]
    fn env_beats_file_beats_defaults_and_database_url_is_honoured() {
        let mut file =
            tempfile("[sources.planningnow]\ntimeout_secs = 7\nrequests_per_second = 3\n");
        file.flush().unwrap();
        let s = Settings::load(
            Some(file.path()),
            &env(&[
                ("TRIBUTARY__SOURCES__PLANNINGNOW__TIMEOUT_SECS", "9"),
                ("DATABASE_URL", "postgres://a@h/db1"),
            ]),
        )
        .unwrap();
        assert_eq!(s.sources.planningnow.common.timeout_secs, 9);
        assert_eq!(s.sources.planningnow.common.requests_per_second, 3.0);
        assert_eq!(s.database.url.expose_secret(), "postgres://a@h/db1");
        let s = Settings::load(
            None,
            &env(&[
                ("DATABASE_URL", "postgres://a@h/db1"),
                ("TRIBUTARY__DATABASE__URL", "postgres://b@h/db2"),
            ]),
        )
        .unwrap();
        assert_eq!(s.database.url.expose_secret(), "postgres://b@h/db2");
    }

    #[test]
    fn unknown_keys_are_named_with_their_origin() {
        let err = Settings::load(
            None,
            &env(&[("TRIBUTARY__SOURCES__PLANNINGNOW__TOKN", "x")]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("`sources.planningnow.tokn`"), "{err}");
        assert!(
            err.contains("TRIBUTARY__SOURCES__PLANNINGNOW__TOKN"),
            "{err}"
        );
        let file = tempfile("[sync]\nmax_delete_fractoin = 0.2\n");
        let err = Settings::load(Some(file.path()), &env(&[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("`sync.max_delete_fractoin`"), "{err}");
    }

    #[test]
    fn enabled_source_needs_its_secret_and_url() {
        let base = [
            ("TRIBUTARY__SOURCES__PLANNINGNOW__ENABLED", "true"),
            ("TRIBUTARY__SOURCES__PLANNINGNOW__BASE_URL", "http://x"),
        ];
        let err = Settings::load(None, &env(&base)).unwrap_err().to_string();
        assert!(err.contains("`sources.planningnow.token`"), "{err}");
        let err = Settings::load(None, &env(&base[..1]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("`sources.planningnow.base_url`"), "{err}");
    }

    #[test]
    fn invalid_values_are_named() {
        for (key, value, named) in [
            (
                "TRIBUTARY__SOURCES__PLANNINGNOW__TIMEZONE",
                "Mars/Olympus",
                "sources.planningnow.timezone",
            ),
            (
                "TRIBUTARY__SOURCES__PLANNINGNOW__TIMEOUT_SECS",
                "soon",
                "sources.planningnow.timeout_secs",
            ),
            (
                "TRIBUTARY__SYNC__MAX_DELETE_FRACTION",
                "1.5",
                "sync.max_delete_fraction",
            ),
            ("TRIBUTARY__DATABASE__URL", "mysql://x", "database.url"),
            (
                "TRIBUTARY__SOURCES__AIMSIO__SCHEDULE",
                "*/5 * * * *",
                "sources.aimsio.schedule",
            ),
            ("TRIBUTARY__SERVER__BIND", "localhost", "server.bind"),
            (
                "TRIBUTARY__SERVER__SHUTDOWN_GRACE_SECS",
                "-3",
                "server.shutdown_grace_secs",
            ),
        ] {
            let err = Settings::load(None, &env(&[(key, value)]))
                .unwrap_err()
                .to_string();
            assert!(err.contains(named), "{key}: {err}");
        }
    }

    #[test]
    fn a_broken_file_is_reported_without_its_content() {
        let file = tempfile("[sources.planningnow]\ntoken = s3cr3t-unquoted\n");
        let err = Settings::load(Some(file.path()), &env(&[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2"), "{err}");
        assert!(!err.contains("s3cr3t"), "{err}");
        let url = tempfile("postgres://u:pw@h/db\n");
        let s = Settings::load(
            None,
            &env(&[(
                "TRIBUTARY__DATABASE__URL_FILE",
                url.path().to_str().unwrap(),
            )]),
        );
        assert_eq!(
            s.unwrap().database.url.expose_secret(),
            "postgres://u:pw@h/db"
        );
    }

    #[test]
    fn secrets_come_from_files_and_never_show_in_debug() {
        let file = tempfile("s3cr3t-token\n");
        let s = Settings::load(
            None,
            &env(&[
                ("TRIBUTARY__SOURCES__PLANNINGNOW__ENABLED", "true"),
                ("TRIBUTARY__SOURCES__PLANNINGNOW__BASE_URL", "http://x/"),
                (
                    "TRIBUTARY__SOURCES__PLANNINGNOW__TOKEN_FILE",
                    file.path().to_str().unwrap(),
                ),
                ("DATABASE_URL", "postgres://u:dbpass@h/db"),
            ]),
        )
        .unwrap();
        let token = s.sources.planningnow.token.as_ref().unwrap();
        assert_eq!(token.expose_secret(), "s3cr3t-token");
        assert_eq!(s.sources.planningnow.base_url, "http://x");
        let debug = format!("{s:?}");
        assert!(
            !debug.contains("s3cr3t") && !debug.contains("dbpass"),
            "{debug}"
        );
        let err = Settings::load(
            None,
            &env(&[(
                "TRIBUTARY__SOURCES__PLANNINGNOW__TOKEN_FILE",
                "/nonexistent/x",
            )]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("sources.planningnow.token_file"), "{err}");
    }

    /// A named temporary file that removes itself.
    struct TempFile(PathBuf, std::fs::File);
    impl TempFile {
        fn path(&self) -> &Path {
            &self.0
        }
        fn flush(&mut self) -> std::io::Result<()> {
            self.1.flush()
        }
    }
    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
    fn tempfile(content: &str) -> TempFile {
        let path = std::env::temp_dir().join(format!(
            "tributary-cfg-{}-{}.toml",
            std::process::id(),
            fastrand::u64(..)
        ));
        let mut f = std::fs::File::create(&path).unwrap();
        f.write_all(content.as_bytes()).unwrap();
        TempFile(path, f)
    }
}
