//! Sources: the hooks a source implements for the engine, and building the enabled ones from
//! the settings. A source owns its endpoints, record shapes and table specs; the engine owns
//! everything else.

pub mod aimsio;
pub mod aircalc;
pub mod planningnow;

use futures_util::future::BoxFuture;

use crate::config::Settings;
use crate::http::{ClientStats, HttpError};
use crate::sync::{StreamContext, StreamResult};

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
    #[error("unknown source `{0}`; known sources: {known}", known = crate::config::SOURCE_NAMES.join(", "))]
    Unknown(String),
    #[error("source `{0}` is disabled; set sources.{0}.enabled = true (TRIBUTARY__SOURCES__{upper}__ENABLED=true)", upper = .0.to_uppercase())]
    Disabled(String),
    #[error(
        "no source is enabled; set sources.<name>.enabled = true for one of: {known}",
        known = crate::config::SOURCE_NAMES.join(", ")
    )]
    NoneEnabled,
}

/// The named sources (all enabled ones when `names` is empty), checked against the settings
/// before anything touches the network or the database.
pub fn select(settings: &Settings, names: &[String]) -> Result<Vec<&'static str>, SelectError> {
    let names: Vec<&str> = if names.is_empty() {
        crate::config::SOURCE_NAMES
            .iter()
            .copied()
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
        .map(|name| {
            let known = crate::config::SOURCE_NAMES.iter().find(|n| **n == name);
            match (known, settings.source_enabled(name)) {
                (Some(known), Some(true)) => Ok(*known),
                (Some(_), _) => Err(SelectError::Disabled(name.to_string())),
                (None, _) => Err(SelectError::Unknown(name.to_string())),
            }
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
                &settings.sources.planningnow,
                pool,
            )?) as Box<dyn Source>),
            aimsio::NAME => Ok(
                Box::new(aimsio::Aimsio::new(&settings.sources.aimsio, pool)?) as Box<dyn Source>,
            ),
            aircalc::NAME => Ok(
                Box::new(aircalc::Aircalc::new(&settings.sources.aircalc, pool)?)
                    as Box<dyn Source>,
            ),
            other => unreachable!("select() only returns known sources, got {other}"),
        })
        .collect()
}
