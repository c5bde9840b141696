//! The contract between the engine and a source: a source is its HTTP client, its streams
//! declared as data, and the cheapest call that proves its credentials. The engine runs the
//! streams; a source implements no sync logic of its own, only the hooks a per-object
//! refresh asks for (which objects are due, in which order).

use chrono_tz::Tz;
use serde_json::Value;

use super::catalogue;
use super::context::{StreamContext, StreamResult};
use super::delta::{self, DeltaStream};
use super::full_listing::{self, ListingStream};
use super::lookup::{self, LookupStream};
use super::profile::Profile;
use super::refresh::{self, RefreshStream};
use crate::db::runs::RunCounts;
use crate::http::{ApiClient, CHECK_BODY_LIMIT, ClientStats, HttpError};

/// One stream of a source, in the pattern the engine runs it by.
pub enum Stream {
    /// One GET returns every record; applied whole, soft-deleting what it lacks. Local
    /// timestamps are read in `tz`.
    Listing(ListingStream, Tz),
    /// A list of ids with update stamps, then details of the new or changed ones.
    Delta(DeltaStream),
    /// Objects fetched one by one with their children, most urgent first, as long as the
    /// budget allows; each stored in one transaction.
    Refresh(Box<RefreshStream>),
    /// Objects other tables refer to and that are not stored yet, asked for by id.
    Lookup(LookupStream),
}

impl Stream {
    pub fn name(&self) -> &'static str {
        match self {
            Stream::Listing(s, _) => s.name,
            Stream::Delta(s) => s.name,
            Stream::Refresh(s) => s.name,
            Stream::Lookup(s) => s.name,
        }
    }

    async fn sync(&self, ctx: &StreamContext<'_>, client: &ApiClient) -> StreamResult {
        let mut counts = RunCounts::default();
        let c = &mut counts;
        let mut profile = Profile::new(self.catalogue().table.recursive);
        let p = &mut profile;
        let result = match self {
            Stream::Listing(s, tz) => full_listing::sync(ctx, client, s, *tz, c, p).await,
            Stream::Delta(s) => delta::sync(ctx, client, s, c, p).await,
            Stream::Refresh(s) => refresh::sync(ctx, client, s, c, p).await,
            Stream::Lookup(s) => lookup::sync(ctx, client, s, c, p).await,
        };
        StreamResult {
            counts,
            error: result.err(),
            profile: Some(profile),
        }
    }

    /// Where the stream's records are stored and how much of the collection a pass sees,
    /// for the field catalogue.
    pub fn catalogue(&self) -> catalogue::Spec<'_> {
        let (table, scope, complete, view): (_, &[String], _, _) = match self {
            Stream::Listing(s, _) => (&s.table, &[], true, None),
            Stream::Delta(s) => (&s.table, &s.scope, false, s.view.as_deref()),
            Stream::Refresh(s) => (&s.table, &[], false, None),
            Stream::Lookup(s) => (&s.table, &[], false, None),
        };
        catalogue::Spec {
            table,
            scope,
            complete,
            view,
        }
    }
}

/// The cheapest call that proves the credentials.
pub enum Check {
    /// GET `path`; `answer` says what the JSON answer proved.
    Get {
        path: String,
        answer: fn(&Value) -> String,
    },
    /// Obtain an access token.
    Token,
    /// Nothing to ask; says why.
    Nothing(&'static str),
}

pub struct Source {
    pub name: &'static str,
    /// `sources.<name>.history`: whether the pass keeps the versions of its rows.
    pub history: bool,
    pub client: ApiClient,
    /// In the order a pass runs them.
    pub streams: Vec<Stream>,
    pub check: Check,
}

impl Source {
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Stream names in the order a pass runs them.
    pub fn streams(&self) -> Vec<&'static str> {
        self.streams.iter().map(Stream::name).collect()
    }

    /// Requests sent and 429s received so far (the engine takes differences per stream).
    pub fn stats(&self) -> ClientStats {
        self.client.stats()
    }

    /// Runs the named stream.
    pub async fn sync_stream(&self, ctx: &StreamContext<'_>) -> StreamResult {
        let stream = self
            .streams
            .iter()
            .find(|s| s.name() == ctx.stream)
            .expect("the engine only asks for streams the source declared");
        stream.sync(ctx, &self.client).await
    }

    /// The named stream's place in the field catalogue.
    pub fn catalogue(&self, stream: &str) -> Option<catalogue::Spec<'_>> {
        self.streams
            .iter()
            .find(|s| s.name() == stream)
            .map(Stream::catalogue)
    }

    /// Proves the credentials; answers what it proved.
    pub async fn check(&self) -> Result<String, HttpError> {
        match &self.check {
            Check::Get { path, answer } => {
                let value: Value = self.client.get_json(path, CHECK_BODY_LIMIT).await?;
                Ok(format!("GET {path}: {}", answer(&value)))
            }
            Check::Token => {
                self.client.fetch_token().await?;
                Ok("access token issued".to_string())
            }
            Check::Nothing(why) => Ok(why.to_string()),
        }
    }
}
