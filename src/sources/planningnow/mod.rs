//! PlanningNow: full listings of orders, offers, work schedules, cost centres, documents and
//! the document folder tree, authenticated with `X-AUTH-TOKEN`. Local timestamps are read in
//! `sources.planningnow.timezone`.

pub mod model;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use secrecy::SecretString;

use crate::config::PlanningNowSettings;
use crate::http::{ApiClient, Auth, ClientStats, HttpError};
use crate::sources::Source;
use crate::sync::full_listing::{self, ListingStream};
use crate::sync::{StreamContext, StreamResult};

pub const NAME: &str = "planningnow";

pub struct PlanningNow {
    client: ApiClient,
    timezone: chrono_tz::Tz,
    streams: Vec<ListingStream>,
}

impl PlanningNow {
    pub fn new(settings: &PlanningNowSettings, pool: &sqlx::PgPool) -> Result<Self, HttpError> {
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
        Ok(Self {
            client,
            timezone: settings.timezone,
            streams: model::streams(),
        })
    }
}

impl Source for PlanningNow {
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
            let answer: serde_json::Value = self
                .client
                .get_json("/api/test", crate::http::CHECK_BODY_LIMIT)
                .await?;
            Ok(format!(
                "GET /api/test: {}",
                answer["response"].as_str().unwrap_or("ok")
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
            full_listing::sync(ctx, &self.client, stream, self.timezone).await
        }
        .boxed()
    }
}
