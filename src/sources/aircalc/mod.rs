//! aircalc NEXT: projects refreshed within 200 requests per 10 minutes shared with the
//! customer's other integrations. A pass: the pos-rows-aggregated listing (discovers every
//! project and its changes, one request), then project-by-no for the projects due, most
//! urgent first, for as long as the budget allows (optionally each position's BOM), then
//! the names of the users who created them. OAuth2 client credentials.

pub mod model;
pub mod queue;
pub mod settings;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use secrecy::SecretString;

use crate::config::Settings;
use crate::http::oauth::TokenSource;
use crate::http::{ApiClient, Auth, HttpError};
use crate::sources::registration::{Backlog, Registration};
use crate::sync::lookup::LookupStream;
use crate::sync::refresh::RefreshStream;
use crate::sync::{Check, Source, Stream};

pub use settings::{AircalcSettings, SETTINGS};

pub const NAME: &str = "aircalc";

pub const SOURCE: Registration = Registration {
    name: NAME,
    settings: SETTINGS,
    build: from_settings,
    tables: model::all_tables,
    backlog: Some(Backlog {
        what: "project(s)",
        pending,
    }),
};

fn from_settings(settings: &Settings, pool: &sqlx::PgPool) -> Result<Source, HttpError> {
    build(
        settings
            .source(NAME)
            .expect("the registry loads every source")
            .get::<AircalcSettings>(),
        pool,
    )
}

/// Projects due for a refresh now.
fn pending<'a>(
    pool: &'a sqlx::PgPool,
    settings: &'a Settings,
) -> BoxFuture<'a, Result<usize, sqlx::Error>> {
    async move {
        let queue = projects(
            settings
                .source(NAME)
                .expect("the registry loads every source")
                .get::<AircalcSettings>(),
        );
        Ok(queue.queue(pool).await?.len())
    }
    .boxed()
}

pub(crate) fn projects(settings: &AircalcSettings) -> queue::Projects {
    queue::Projects {
        configured: settings.projects.clone(),
        refresh_after: settings.refresh_after,
        not_found_retry: settings.not_found_retry,
    }
}

/// The users who created live projects and are not stored yet, by id.
const USERS_WANTED: &str = "SELECT id::text FROM (SELECT DISTINCT p.created_by FROM aircalc.projects p \
     WHERE p.created_by IS NOT NULL AND p._deleted_at IS NULL AND NOT EXISTS \
     (SELECT 1 FROM aircalc.users u WHERE u.id = p.created_by)) AS wanted(id) ORDER BY wanted.id";

pub fn build(settings: &AircalcSettings, pool: &sqlx::PgPool) -> Result<Source, HttpError> {
    let tokens = TokenSource::new(
        settings.token_url.clone(),
        settings.client_id.clone(),
        settings
            .client_secret
            .clone()
            .unwrap_or_else(|| SecretString::from(String::new())),
        settings.client_auth,
    );
    let client = ApiClient::new(
        NAME,
        &settings.base_url,
        Auth::OAuth2(tokens),
        &settings.common,
        pool,
    )?;
    let mut streams = Vec::new();
    if settings.discover_from_pos_rows {
        streams.push(Stream::Listing(model::pos_rows(), chrono_tz::UTC));
    }
    streams.push(Stream::Refresh(Box::new(RefreshStream {
        name: "projects",
        table: model::projects(),
        path: "/project-by-no/v0/",
        parts: settings.fetch_bom.then(model::boms),
        stored_sql: queue::STORED,
        gone_sql: queue::GONE,
        rows_of: queue::ROWS_OF,
        hooks: Box::new(projects(settings)),
    })));
    if settings.fetch_users {
        streams.push(Stream::Lookup(LookupStream {
            name: "users",
            table: model::users(),
            wanted_sql: USERS_WANTED,
            path: "/users-by-id/v0?ids=",
            per_request: 50,
            id_field: "id",
        }));
    }
    Ok(Source {
        name: NAME,
        history: settings.common.history,
        client,
        streams,
        check: Check::Token,
    })
}
