//! PlanningNow: full listings of orders, offers, work schedules, cost centres, documents and
//! the document folder tree, authenticated with `X-AUTH-TOKEN`. Local timestamps are read in
//! `sources.planningnow.timezone`.

pub mod model;
pub mod settings;

use secrecy::SecretString;

use crate::config::Settings;
use crate::http::{ApiClient, Auth, HttpError};
use crate::sources::registration::Registration;
use crate::sync::table::Table;
use crate::sync::{Check, Source, Stream};

pub use settings::{PlanningNowSettings, SETTINGS};

pub const NAME: &str = "planningnow";

pub const SOURCE: Registration = Registration {
    name: NAME,
    settings: SETTINGS,
    build: from_settings,
    tables,
    backlog: None,
};

fn from_settings(settings: &Settings, pool: &sqlx::PgPool) -> Result<Source, HttpError> {
    build(
        settings
            .source(NAME)
            .expect("the registry loads every source")
            .get::<PlanningNowSettings>(),
        pool,
    )
}

/// Every table the source writes.
pub fn tables() -> Vec<Table> {
    model::streams().into_iter().map(|s| s.table).collect()
}

pub fn build(settings: &PlanningNowSettings, pool: &sqlx::PgPool) -> Result<Source, HttpError> {
    let token = settings
        .token
        .clone()
        .unwrap_or_else(|| SecretString::from(String::new()));
    let client = ApiClient::new(
        NAME,
        &settings.base_url,
        Auth::Header {
            name: "x-auth-token",
            value: token,
        },
        &settings.common,
        pool,
    )?;
    Ok(Source {
        name: NAME,
        history: settings.common.history,
        client,
        streams: model::streams()
            .into_iter()
            .map(|s| Stream::Listing(s, settings.timezone))
            .collect(),
        check: Check::Get {
            path: "/api/test".to_string(),
            answer: |answer| answer["response"].as_str().unwrap_or("ok").to_string(),
        },
    })
}
