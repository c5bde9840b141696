//! aircalc NEXT: projects refreshed within 200 requests per 10 minutes shared with the
//! customer's other integrations. A pass: the pos-rows-aggregated listing (discovers every
//! project and its changes, one request), then project-by-no for the projects due, most
//! urgent first, for as long as the budget allows (optionally each position's BOM), then
//! the names of the users who created them. OAuth2 client credentials.

pub mod model;
pub mod refresh;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use secrecy::SecretString;
use serde_json::Value;

use crate::config::AircalcSettings;
use crate::db::runs::RunCounts;
use crate::http::oauth::TokenSource;
use crate::http::{ApiClient, Auth, ClientStats, HttpError};
use crate::sources::Source;
use crate::sync::apply::{Applied, Batch, Stager};
use crate::sync::full_listing::{self, ListingStream};
use crate::sync::table::Normalizer;
use crate::sync::{StreamContext, StreamResult, SyncError};

pub const NAME: &str = "aircalc";
/// User ids per users-by-id request.
const USERS_PER_REQUEST: usize = 50;

pub struct Aircalc {
    client: ApiClient,
    settings: AircalcSettings,
    pos_rows: ListingStream,
}

impl Aircalc {
    pub fn new(settings: &AircalcSettings, pool: &sqlx::PgPool) -> Result<Self, HttpError> {
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
        Ok(Self {
            client,
            settings: settings.clone(),
            pos_rows: model::pos_rows(),
        })
    }

    /// Fetches the users who created projects and are not stored yet. A user that cannot be
    /// normalized is set aside in `tributary.rejects` (keyed by its id) and asked for again
    /// next pass; the stream's earlier rejects no longer rejected are resolved.
    async fn users(
        &self,
        ctx: &StreamContext<'_>,
        counts: &mut RunCounts,
    ) -> Result<(), SyncError> {
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT DISTINCT p.created_by FROM aircalc.projects p WHERE p.created_by IS NOT NULL \
             AND p._deleted_at IS NULL AND NOT EXISTS (SELECT 1 FROM aircalc.users u \
             WHERE u.id = p.created_by) ORDER BY 1",
        )
        .fetch_all(ctx.pool)
        .await?;
        let table = model::users();
        let mut rejected = Vec::new();
        let mut result = Ok(());
        for chunk in ids.chunks(USERS_PER_REQUEST) {
            if ctx.stopping() {
                result = Err(SyncError::Cancelled);
                break;
            }
            let list: Vec<String> = chunk.iter().map(i64::to_string).collect();
            let users: Vec<Value> = match self
                .client
                .get_json(
                    &format!("/users-by-id/v0?ids={}", list.join(",")),
                    ctx.settings.max_record_bytes,
                )
                .await
            {
                Ok(users) => users,
                Err(e) => {
                    result = Err(SyncError::Http(e));
                    break;
                }
            };
            counts.fetched += users.len() as u64;
            let mut normalizer = Normalizer::new(table.clone(), chrono_tz::UTC);
            let mut batch = Batch::new(1);
            for user in users {
                match normalizer.record(&user) {
                    Ok(rows) => {
                        for (_, line) in rows {
                            batch.rows[0].push_str(&line);
                            batch.counts[0] += 1;
                        }
                    }
                    Err(e) => {
                        counts.rejected += 1;
                        // The id as served, also when it is no integer.
                        let key = e.key.map(|k| k.join("/")).or_else(|| match &user["id"] {
                            Value::String(id) => Some(id.clone()),
                            Value::Number(id) => Some(id.to_string()),
                            _ => None,
                        });
                        rejected.push(crate::db::rejects::Reject {
                            key,
                            payload: user,
                            error: e.error,
                        });
                    }
                }
            }
            let lock = format!("tributary:{NAME}:users");
            let mut stager = Stager::begin(ctx.pool, &table, &lock).await?;
            stager.stage(batch).await?;
            let cursor = serde_json::json!({"last_user_id": chunk.last()});
            if let Applied::Done(done) = stager
                .finish(ctx.run_id, None, (NAME, "users", cursor))
                .await?
            {
                for (name, c) in &done {
                    refresh::add(counts, name, c);
                }
            }
        }
        crate::db::rejects::record(ctx.pool, ctx.source, ctx.stream, ctx.run_id, &rejected).await?;
        result
    }
}

impl Source for Aircalc {
    fn name(&self) -> &'static str {
        NAME
    }

    fn streams(&self) -> Vec<&'static str> {
        let mut streams = Vec::new();
        if self.settings.discover_from_pos_rows {
            streams.push("pos_rows");
        }
        streams.push("projects");
        if self.settings.fetch_users {
            streams.push("users");
        }
        streams
    }

    fn stats(&self) -> ClientStats {
        self.client.stats()
    }

    fn check(&self) -> BoxFuture<'_, Result<String, HttpError>> {
        async move {
            self.client.fetch_token().await?;
            Ok("access token issued".to_string())
        }
        .boxed()
    }

    fn sync_stream<'a>(&'a self, ctx: &'a StreamContext<'a>) -> BoxFuture<'a, StreamResult> {
        async move {
            let mut counts = RunCounts::default();
            let result = match ctx.stream {
                "pos_rows" => {
                    return full_listing::sync(ctx, &self.client, &self.pos_rows, chrono_tz::UTC)
                        .await;
                }
                "projects" => {
                    refresh::refresh(ctx, &self.client, &self.settings, &mut counts).await
                }
                _ => self.users(ctx, &mut counts).await,
            };
            StreamResult {
                counts,
                error: result.err(),
            }
        }
        .boxed()
    }
}
