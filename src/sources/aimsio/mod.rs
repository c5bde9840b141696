//! Aimsio: every configured entity pulled by `updatedAt` deltas (list, then details of new or
//! changed objects only), with basic authentication, at up to `requests_per_second` and
//! `max_parallel` requests (Aimsio throttles above 10/s or 10 parallel calls).

pub mod model;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use secrecy::SecretString;

use crate::config::AimsioSettings;
use crate::http::{ApiClient, Auth, ClientStats, HttpError};
use crate::sources::Source;
use crate::sync::delta::{self, DeltaStream};
use crate::sync::{StreamContext, StreamResult};

pub const NAME: &str = "aimsio";
const API: &str = "/rest/api/standard/v1";

pub struct Aimsio {
    client: ApiClient,
    streams: Vec<DeltaStream>,
}

impl Aimsio {
    pub fn new(settings: &AimsioSettings, pool: &sqlx::PgPool) -> Result<Self, HttpError> {
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
        let streams = settings
            .entities
            .iter()
            .map(|entity| {
                let (table, shared) = model::table_for(entity);
                DeltaStream {
                    // Entities come from the configuration once per process.
                    name: Box::leak(entity.clone().into_boxed_str()),
                    list_path: format!("{API}/{entity}"),
                    table,
                    scope: if shared { vec![entity.clone()] } else { vec![] },
                }
            })
            .collect();
        Ok(Self { client, streams })
    }
}

impl Source for Aimsio {
    fn name(&self) -> &'static str {
        NAME
    }

    fn streams(&self) -> Vec<&'static str> {
        self.streams.iter().map(|s| s.name).collect()
    }

    fn stats(&self) -> ClientStats {
        self.client.stats()
    }

    fn check(&self) -> BoxFuture<'_, Result<String, HttpError>> {
        async move {
            let Some(stream) = self.streams.first() else {
                return Ok("no entity configured".to_string());
            };
            let list: Vec<serde_json::Value> = self
                .client
                .get_json(&stream.list_path, crate::http::CHECK_BODY_LIMIT)
                .await?;
            Ok(format!(
                "GET {}: {} objects listed",
                stream.list_path,
                list.len()
            ))
        }
        .boxed()
    }

    fn sync_stream<'a>(&'a self, ctx: &'a StreamContext<'a>) -> BoxFuture<'a, StreamResult> {
        async move {
            let stream = self
                .streams
                .iter()
                .find(|s| s.name == ctx.stream)
                .expect("the engine only asks for streams this source listed");
            delta::sync(ctx, &self.client, stream).await
        }
        .boxed()
    }
}
