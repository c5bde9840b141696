//! The source registry: every source tributary knows, in the order `sync` runs them. A
//! source is one folder here (its settings, record shapes as table specs and stream
//! declarations), one migration (its schema), one line in [`REGISTRY`] and one module of
//! the simulator.

pub mod aimsio;
pub mod aircalc;
pub mod planningnow;
pub mod registration;

pub use registration::{Backlog, Registration};

use std::collections::HashMap;
use std::path::Path;

use crate::config::{ConfigError, Settings, SourceDef};
use crate::http::HttpError;
use crate::sync::Source;

/// Every source, in the order a `sync` of all of them runs.
pub const REGISTRY: &[Registration] = &[planningnow::SOURCE, aimsio::SOURCE, aircalc::SOURCE];

impl Settings {
    /// Loads the layers with the keys of every registered source (see
    /// [`crate::config::load_with`]). `file` is `--config` (or `TRIBUTARY_CONFIG`); `env` is
    /// the process environment (passed in so tests need not touch the real one).
    pub fn load(file: Option<&Path>, env: &HashMap<String, String>) -> Result<Self, ConfigError> {
        crate::config::load_with(file, env, &definitions())
    }

    /// Every valid key, every source's included (see [`crate::config::known_keys_with`]).
    pub fn known_keys() -> Vec<String> {
        crate::config::known_keys_with(&definitions())
    }
}

/// Every registered source's settings definition.
fn definitions() -> Vec<SourceDef> {
    REGISTRY.iter().map(|r| r.settings).collect()
}

/// The registered source of that name.
pub fn registered(name: &str) -> Option<&'static Registration> {
    REGISTRY.iter().find(|r| r.name == name)
}

/// Names of every registered source, comma-separated (for messages).
fn known() -> String {
    REGISTRY
        .iter()
        .map(|r| r.name)
        .collect::<Vec<_>>()
        .join(", ")
}

#[derive(Debug, thiserror::Error)]
pub enum SelectError {
    #[error("unknown source `{0}`; known sources: {known}", known = known())]
    Unknown(String),
    #[error("source `{0}` is disabled; set sources.{0}.enabled = true (TRIBUTARY__SOURCES__{upper}__ENABLED=true)", upper = .0.to_uppercase())]
    Disabled(String),
    #[error(
        "no source is enabled; set sources.<name>.enabled = true \
         (TRIBUTARY__SOURCES__<NAME>__ENABLED=true, e.g. TRIBUTARY__SOURCES__{first}__ENABLED=true) \
         and the source's URL and credentials, for one of: {known}",
        first = REGISTRY[0].name.to_uppercase(),
        known = known()
    )]
    NoneEnabled,
}

/// The named sources (all enabled ones when `names` is empty), checked against the settings
/// before anything touches the network or the database.
pub fn select(settings: &Settings, names: &[String]) -> Result<Vec<&'static str>, SelectError> {
    let names: Vec<&str> = if names.is_empty() {
        REGISTRY
            .iter()
            .map(|r| r.name)
            .filter(|n| settings.source_enabled(n) == Some(true))
            .collect()
    } else {
        names.iter().map(String::as_str).collect()
    };
    if names.is_empty() {
        return Err(SelectError::NoneEnabled);
    }
    names
        .into_iter()
        .map(
            |name| match (registered(name), settings.source_enabled(name)) {
                (Some(known), Some(true)) => Ok(known.name),
                (Some(_), _) => Err(SelectError::Disabled(name.to_string())),
                (None, _) => Err(SelectError::Unknown(name.to_string())),
            },
        )
        .collect()
}

/// Builds the selected sources; they keep their request budgets in `pool`.
pub fn build(
    settings: &Settings,
    selected: &[&'static str],
    pool: &sqlx::PgPool,
) -> Result<Vec<Source>, HttpError> {
    selected
        .iter()
        .filter_map(|name| registered(name))
        .map(|r| (r.build)(settings, pool))
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::config::known_keys_with;
    use crate::sources::REGISTRY;

    #[test]
    fn every_sources_defaults_hold_its_own_keys_only() {
        let general = known_keys_with(&[]);
        for registration in REGISTRY {
            assert_eq!(registration.settings.name, registration.name);
            let own = format!("sources.{}.", registration.name);
            for key in known_keys_with(&[registration.settings]) {
                assert!(general.contains(&key) || key.starts_with(&own), "{key}");
            }
        }
    }
}
