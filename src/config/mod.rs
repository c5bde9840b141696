//! Settings: the built-in defaults (`config/default.toml` and each source's, compiled in) <
//! `--config FILE` / `TRIBUTARY_CONFIG` < `DATABASE_URL` < `TRIBUTARY__SECTION__KEY`
//! environment variables.
//!
//! Owns loading, the unknown-key check (every valid key is present in the defaults), secret
//! handling (`SecretString`, `<key>_file`) and validation, so that a bad configuration stops
//! the program before any network or database work with an error naming the key. It does not
//! know what the settings are used for, nor which sources there are: each source describes
//! its own keys with a [`SourceDef`], and [`load_with`] is given the list.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use config::builder::DefaultState;
use config::{Config, ConfigBuilder, Environment, File, FileFormat, Value, ValueKind};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

mod sources;
mod values;
pub use sources::{
    BudgetSettings, ClientAuth, CommonSourceSettings, ParseResult, RetrySettings, SourceConfig,
    SourceDef, SourceSettings,
};
pub use values::{ConfigError, redact_url};
pub(crate) use values::{ListOrCsv, invalid, require_url, secret};

/// The built-in defaults of every section but the sources' (each source brings its own).
const DEFAULTS: &str = include_str!("../../config/default.toml");

#[derive(Debug, Clone)]
pub struct Settings {
    pub database: DatabaseConfig,
    pub server: ServerSettings,
    pub sync: SyncSettings,
    /// Every source, in the order of the list given to [`load_with`].
    pub sources: Vec<SourceConfig>,
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

/// Loads the layers, with the keys of `sources` (in the order given). `file` is `--config`
/// (or `TRIBUTARY_CONFIG`); `env` is the process environment (passed in so tests need not
/// touch the real one).
pub fn load_with(
    file: Option<&Path>,
    env: &HashMap<String, String>,
    sources: &[SourceDef],
) -> Result<Settings, ConfigError> {
    let mut builder = defaults_builder(sources);
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
    check_known_keys(&config, sources)?;
    Settings::from_config(&config, sources)
}

impl Settings {
    fn from_config(config: &Config, sources: &[SourceDef]) -> Result<Self, ConfigError> {
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
        let sources = sources
            .iter()
            .map(|def| {
                let common = CommonSourceSettings::from_config(config, def.name)?;
                Ok(SourceConfig {
                    name: def.name,
                    specific: (def.parse)(config, common.clone())?,
                    common,
                })
            })
            .collect::<Result<_, ConfigError>>()?;
        let settings = Settings {
            database,
            server,
            sync,
            sources,
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

    /// The named source's settings; `None` for an unknown name.
    pub fn source(&self, name: &str) -> Option<&SourceConfig> {
        self.sources.iter().find(|s| s.name == name)
    }

    /// The named source's settings to change; `None` for an unknown name.
    pub fn source_mut(&mut self, name: &str) -> Option<&mut SourceConfig> {
        self.sources.iter_mut().find(|s| s.name == name)
    }

    /// Whether the named source is enabled; `None` for an unknown name.
    pub fn source_enabled(&self, name: &str) -> Option<bool> {
        self.source_common(name).map(|c| c.enabled)
    }

    /// The keys every source has; `None` for an unknown name.
    pub fn source_common(&self, name: &str) -> Option<&CommonSourceSettings> {
        self.source(name).map(|s| &s.common)
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

/// Every valid key with the keys of `sources`, dotted and in lower case
/// (`sources.aircalc.client_secret`), sorted: the keys of the built-in defaults. Its
/// environment form is `TRIBUTARY__` followed by the key in upper case with `__` for the
/// dots.
pub fn known_keys_with(sources: &[SourceDef]) -> Vec<String> {
    let mut keys: Vec<String> = default_values(sources)
        .expect("the built-in defaults parse (a unit test loads them)")
        .into_keys()
        .collect();
    keys.sort();
    keys
}

/// The built-in defaults: the general sections, then each source's.
fn defaults_builder(sources: &[SourceDef]) -> ConfigBuilder<DefaultState> {
    sources.iter().fold(
        Config::builder().add_source(File::from_str(DEFAULTS, FileFormat::Toml)),
        |builder, def| builder.add_source(File::from_str(def.defaults, FileFormat::Toml)),
    )
}

/// The built-in defaults by key.
fn default_values(sources: &[SourceDef]) -> Result<HashMap<String, Value>, ConfigError> {
    let defaults = defaults_builder(sources).build()?;
    let mut leaves = Vec::new();
    leaf_keys(&defaults.cache, "", &mut leaves);
    Ok(leaves
        .into_iter()
        .map(|(key, _, value)| (key, value.clone()))
        .collect())
}

/// Every key of the merged configuration must exist in the defaults and hold a value of the
/// default's type (checked per key so that the error names the key, not its section).
fn check_known_keys(config: &Config, sources: &[SourceDef]) -> Result<(), ConfigError> {
    let known = default_values(sources)?;
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
pub(crate) mod testing;

#[cfg(test)]
mod tests;
