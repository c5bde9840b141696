//! What the settings know of a source: the keys every source has (`enabled`, limits,
//! timeouts, retries, the request budget), validated so that an error names the key, and the
//! description a source gives of its own keys ([`SourceDef`]), which the loader parses into a
//! [`SourceConfig`].

use std::any::Any;
use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use config::Config;
use serde::Deserialize;

use super::values::{ConfigError, invalid};

/// A source's own settings, as its [`SourceDef::parse`] returns them.
pub trait SourceSettings: Any + Debug + Send + Sync {}

impl<T: Any + Debug + Send + Sync> SourceSettings for T {}

/// What a source's parser returns: its own settings, or an error naming the key.
pub type ParseResult = Result<Arc<dyn SourceSettings>, ConfigError>;

/// A source as the settings see it: its name, its keys with their defaults and
/// documentation, and how to parse them.
#[derive(Clone, Copy)]
pub struct SourceDef {
    /// Its section is `[sources.<name>]`.
    pub name: &'static str,
    /// TOML with `[sources.<name>]` and its subsections: every key of the source with its
    /// default (so also the list of its valid keys). It must hold the common keys
    /// ([`CommonSourceSettings`]).
    pub defaults: &'static str,
    /// The source's own settings from the merged configuration, given its common keys,
    /// already checked; an error names the key.
    pub parse: fn(&Config, CommonSourceSettings) -> ParseResult,
}

/// One source's loaded settings.
#[derive(Debug, Clone)]
pub struct SourceConfig {
    pub name: &'static str,
    /// The keys every source has (also in `specific`, which the source reads them from).
    pub common: CommonSourceSettings,
    /// What [`SourceDef::parse`] returned; read it with [`SourceConfig::get`].
    pub specific: Arc<dyn SourceSettings>,
}

impl SourceConfig {
    /// The source's own settings. `T` is the type its [`SourceDef::parse`] returns.
    pub fn get<T: SourceSettings>(&self) -> &T {
        let specific: &dyn Any = self.specific.as_ref();
        specific.downcast_ref::<T>().unwrap_or_else(|| {
            panic!(
                "a programming error: the settings of source `{}` are not a {} (the registry pairs each source with its settings type)",
                self.name,
                std::any::type_name::<T>()
            )
        })
    }

    /// Changes the source's own settings (the demo and the benchmarks point a source at the
    /// simulator); `common` follows their common keys.
    pub fn update<T>(&mut self, change: impl FnOnce(&mut T))
    where
        T: SourceSettings + Clone + AsRef<CommonSourceSettings>,
    {
        let mut specific = self.get::<T>().clone();
        change(&mut specific);
        self.common = specific.as_ref().clone();
        self.specific = Arc::new(specific);
    }
}

/// Keys every source has: `enabled`, `schedule`, `history`, limits, timeouts and retries.
#[derive(Debug, Clone, Deserialize)]
pub struct CommonSourceSettings {
    pub enabled: bool,
    /// When `tributary run` pulls the source: cron with seconds, in UTC.
    pub schedule: String,
    /// Keep every content version of the source's rows in its `<table>_history` tables.
    pub history: bool,
    pub requests_per_second: f64,
    pub max_parallel: u32,
    pub timeout_secs: u64,
    pub retry: RetrySettings,
    pub budget: BudgetSettings,
}

/// A long-window request budget: at most `requests - reserve` requests in any sliding window
/// of `window_secs`, shared by every process on the database. `requests = 0` turns it off.
#[derive(Debug, Clone, Deserialize)]
pub struct BudgetSettings {
    pub requests: u32,
    pub window_secs: u64,
    pub reserve: u32,
    pub max_wait_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RetrySettings {
    pub max_attempts: u32,
    pub max_elapsed_secs: u64,
}

impl CommonSourceSettings {
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs)
    }
}

impl CommonSourceSettings {
    /// The common keys of `[sources.<source>]`, checked.
    pub fn from_config(config: &Config, source: &str) -> Result<Self, ConfigError> {
        let common: CommonSourceSettings = config.get(&format!("sources.{source}"))?;
        let key = |k: &str| format!("sources.{source}.{k}");
        crate::schedule::parse(&common.schedule)
            .map_err(|reason| invalid(&key("schedule"), &reason))?;
        if !(0.001..=1000.0).contains(&common.requests_per_second) {
            return Err(invalid(
                &key("requests_per_second"),
                "must be between 0.001 and 1000",
            ));
        }
        if common.max_parallel == 0 {
            return Err(invalid(&key("max_parallel"), "must be at least 1"));
        }
        let budget = &common.budget;
        if budget.requests > 0 && budget.reserve >= budget.requests {
            return Err(invalid(
                &key("budget.reserve"),
                "must be below budget.requests (it is the share left to other integrations)",
            ));
        }
        if budget.requests > 0 && budget.window_secs == 0 {
            return Err(invalid(&key("budget.window_secs"), "must be at least 1"));
        }
        if common.timeout_secs == 0 {
            return Err(invalid(&key("timeout_secs"), "must be at least 1"));
        }
        if common.retry.max_attempts == 0 {
            return Err(invalid(&key("retry.max_attempts"), "must be at least 1"));
        }
        Ok(common)
    }
}

/// How an OAuth2 client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    Body,
    Basic,
}
