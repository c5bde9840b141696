//! Aimsio: every configured entity pulled by `updatedAt` deltas (list, then details of new or
//! changed objects only), with basic authentication, at up to `requests_per_second` and
//! `max_parallel` requests (Aimsio throttles above 10/s or 10 parallel calls).

pub mod model;
pub mod settings;

use secrecy::SecretString;

use crate::config::Settings;
use crate::http::{ApiClient, Auth, HttpError};
use crate::sources::registration::Registration;
use crate::sync::delta::DeltaStream;
use crate::sync::{Check, Source, Stream};

pub use settings::{AimsioSettings, SETTINGS};

pub const NAME: &str = "aimsio";
const API: &str = "/rest/api/standard/v1";

pub const SOURCE: Registration = Registration {
    name: NAME,
    settings: SETTINGS,
    build: from_settings,
    tables: model::all_tables,
    backlog: None,
};

fn from_settings(settings: &Settings, pool: &sqlx::PgPool) -> Result<Source, HttpError> {
    build(
        settings
            .source(NAME)
            .expect("the registry loads every source")
            .get::<AimsioSettings>(),
        pool,
    )
}

pub fn build(settings: &AimsioSettings, pool: &sqlx::PgPool) -> Result<Source, HttpError> {
    let client = ApiClient::new(
        NAME,
        &settings.base_url,
        Auth::Basic {
            username: settings.username.clone(),
            password: settings
                .password
                .clone()
                .unwrap_or_else(|| SecretString::from(String::new())),
        },
        &settings.common,
        pool,
    )?;
    let streams: Vec<Stream> = settings
        .entities
        .iter()
        .map(|entity| {
            let (table, shared) = model::table_for(entity);
            Stream::Delta(DeltaStream {
                // Entities come from the configuration once per process.
                name: Box::leak(entity.clone().into_boxed_str()),
                list_path: format!("{API}/{entity}"),
                table,
                scope: if shared { vec![entity.clone()] } else { vec![] },
                view: shared.then(|| model::view_for(entity)),
            })
        })
        .collect();
    // The cheapest proof is the first entity's list (none configured: nothing to prove).
    let check = match settings.entities.first() {
        Some(entity) => Check::Get {
            path: format!("{API}/{entity}"),
            answer: |list| format!("{} objects listed", list.as_array().map_or(0, Vec::len)),
        },
        None => Check::Nothing("no entity configured"),
    };
    Ok(Source {
        name: NAME,
        history: settings.common.history,
        client,
        streams,
        check,
    })
}
