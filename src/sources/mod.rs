//! Sources: the hooks a source implements for the engine, and building the enabled ones from
//! the settings. A source owns its endpoints, record shapes and table specs; the engine owns
//! everything else.

pub mod aimsio;
pub mod aircalc;
pub mod planningnow;

use std::collections::HashMap;
use std::path::Path;

use futures_util::future::BoxFuture;

use crate::config::{ConfigError, Settings, SourceDef};
use crate::http::{ClientStats, HttpError};
use crate::sync::{StreamContext, StreamResult};

/// Every source's settings, in the order a pass runs the sources.
const SETTINGS: &[SourceDef] = &[planningnow::SETTINGS, aimsio::SETTINGS, aircalc::SETTINGS];

impl Settings {
    /// Loads the layers with the keys of every source (see [`crate::config::load_with`]).
    /// `file` is `--config` (or `TRIBUTARY_CONFIG`); `env` is the process environment.
    pub fn load(file: Option<&Path>, env: &HashMap<String, String>) -> Result<Self, ConfigError> {
        crate::config::load_with(file, env, SETTINGS)
    }

    /// Every valid key, every source's included (see [`crate::config::known_keys_with`]).
    pub fn known_keys() -> Vec<String> {
        crate::config::known_keys_with(SETTINGS)
    }
}

/// The names of every source, for messages.
fn known_names() -> String {
    SETTINGS
        .iter()
        .map(|def| def.name)
        .collect::<Vec<_>>()
        .join(", ")
}

pub trait Source: Send + Sync {
    fn name(&self) -> &'static str;
    /// Stream names in the order a pass runs them.
    fn streams(&self) -> Vec<&'static str>;
    /// Requests sent and 429s received so far (the engine takes differences per stream).
    fn stats(&self) -> ClientStats;
    fn sync_stream<'a>(&'a self, ctx: &'a StreamContext<'a>) -> BoxFuture<'a, StreamResult>;
    /// The cheapest call that proves the credentials; answers what it proved.
    fn check(&self) -> BoxFuture<'_, Result<String, HttpError>>;
}

#[derive(Debug, thiserror::Error)]
pub enum SelectError {
    #[error("unknown source `{0}`; known sources: {known}", known = known_names())]
    Unknown(String),
    #[error("source `{0}` is disabled; set sources.{0}.enabled = true (TRIBUTARY__SOURCES__{upper}__ENABLED=true)", upper = .0.to_uppercase())]
    Disabled(String),
    #[error(
        "no source is enabled; set sources.<name>.enabled = true for one of: {known}",
        known = known_names()
    )]
    NoneEnabled,
}

/// The named sources (all enabled ones when `names` is empty), checked against the settings
/// before anything touches the network or the database.
pub fn select(settings: &Settings, names: &[String]) -> Result<Vec<&'static str>, SelectError> {
    let names: Vec<&str> = if names.is_empty() {
        settings
            .sources
            .iter()
            .filter(|s| s.common.enabled)
            .map(|s| s.name)
            .collect()
    } else {
        names.iter().map(String::as_str).collect()
    };
    if names.is_empty() {
        return Err(SelectError::NoneEnabled);
    }
    names
        .into_iter()
        .map(|name| match settings.source(name) {
            Some(source) if source.common.enabled => Ok(source.name),
            Some(_) => Err(SelectError::Disabled(name.to_string())),
            None => Err(SelectError::Unknown(name.to_string())),
        })
        .collect()
}

/// Builds selected sources; they use `pool` for their request budgets.
pub fn build(
    settings: &Settings,
    selected: &[&'static str],
    pool: &sqlx::PgPool,
) -> Result<Vec<Box<dyn Source>>, HttpError> {
    selected
        .iter()
        .map(|name| match *name {
            planningnow::NAME => Ok(Box::new(planningnow::PlanningNow::new(
                own_settings(settings, name),
                pool,
            )?) as Box<dyn Source>),
            aimsio::NAME => Ok(
                Box::new(aimsio::Aimsio::new(own_settings(settings, name), pool)?)
                    as Box<dyn Source>,
            ),
            aircalc::NAME => Ok(
                Box::new(aircalc::Aircalc::new(own_settings(settings, name), pool)?)
                    as Box<dyn Source>,
            ),
            other => unreachable!("select() only returns known sources, got {other}"),
        })
        .collect()
}

/// The settings of a selected source (`select` only returns loaded sources).
fn own_settings<'s, T: crate::config::SourceSettings>(settings: &'s Settings, name: &str) -> &'s T {
    settings
        .source(name)
        .expect("select() only returns loaded sources")
        .get::<T>()
}
