//! Which aircalc projects are due, in which order: every project number the sources name
//! is recorded (discovery), and the refresh asks for the most urgent first (priority).
//! `aircalc.project_refresh` keeps, per number, when it was fetched and when it answered
//! 404.

use std::collections::HashSet;
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use sqlx::PgPool;

use crate::sync::refresh::{Due, Refresh};

/// Notes a stored project's fetch (`$1`: its number as compared across systems).
pub const STORED: &str = "UPDATE aircalc.project_refresh r SET last_fetched_at = now(), not_found_at = NULL, \
     rows_updated_at = (SELECT max(greatest(_changed_at, coalesce(_deleted_at, _changed_at))) \
     FROM aircalc.pos_rows WHERE aircalc.match_key(project_no) = r.project_no) \
     WHERE r.project_no = $1";

/// Notes a 404 (`$1`: the number).
pub const GONE: &str =
    "UPDATE aircalc.project_refresh SET not_found_at = now() WHERE project_no = $1";

/// A project's rows, by its number (`$1`).
pub const ROWS_OF: &str = "aircalc.match_key(project_no) = $1";

/// The discovery and priority of aircalc's project refresh.
pub struct Projects {
    /// `sources.aircalc.projects`: numbers fetched whatever the other sources name.
    pub configured: Vec<String>,
    pub refresh_after: Duration,
    pub not_found_retry: Duration,
}

impl Projects {
    /// Project numbers due for a fetch, most urgent first: (1) named by a PlanningNow order
    /// or offer (or the configuration) and not stored yet; (2) rows in pos-rows-aggregated
    /// changed or removed since the last fetch; (3) the least recently refreshed, once
    /// older than `refresh_after`. Numbers that answered 404 wait `not_found_retry`, unless
    /// pos-rows-aggregated has listed them since (aircalc knows them now).
    pub async fn queue(&self, pool: &PgPool) -> Result<Vec<Due>, sqlx::Error> {
        let rows: Vec<(String, String, i32, bool, bool)> = sqlx::query_as(QUEUE)
            .bind(&self.configured)
            .bind(self.refresh_after.as_secs_f64())
            .bind(self.not_found_retry.as_secs_f64())
            .fetch_all(pool)
            .await?;
        Ok(rows
            .into_iter()
            .map(|(key, ask, priority, vouched, listed)| Due {
                key,
                ask,
                priority,
                vouched,
                listed,
            })
            .collect())
    }
}

impl Refresh for Projects {
    fn due<'a>(&'a self, pool: &'a PgPool) -> BoxFuture<'a, Result<Vec<Due>, sqlx::Error>> {
        async move {
            discover(pool, &self.configured).await?;
            self.queue(pool).await
        }
        .boxed()
    }

    fn confirmed_gone<'a>(
        &'a self,
        pool: &'a PgPool,
        keys: &'a [String],
    ) -> BoxFuture<'a, Result<HashSet<String>, sqlx::Error>> {
        async move {
            let found: Vec<String> = sqlx::query_scalar(DELISTED)
                .bind(keys)
                .fetch_all(pool)
                .await?;
            Ok(found.into_iter().collect())
        }
        .boxed()
    }
}

/// Records every project number the sources name: pos-rows-aggregated (whose spelling is
/// the one asked of aircalc), PlanningNow orders and offers, and the configured list.
pub async fn discover(pool: &PgPool, configured: &[String]) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO aircalc.project_refresh (project_no, fetch_no) \
         SELECT DISTINCT ON (aircalc.match_key(project_no)) aircalc.match_key(project_no), btrim(project_no) \
         FROM aircalc.pos_rows WHERE _deleted_at IS NULL AND aircalc.match_key(project_no) <> '' \
         ORDER BY aircalc.match_key(project_no), project_no \
         ON CONFLICT (project_no) DO UPDATE SET fetch_no = EXCLUDED.fetch_no \
         WHERE project_refresh.fetch_no IS DISTINCT FROM EXCLUDED.fetch_no",
    )
    .execute(pool)
    .await?;
    sqlx::query(
        "INSERT INTO aircalc.project_refresh (project_no, fetch_no) \
         SELECT DISTINCT ON (aircalc.match_key(no)) aircalc.match_key(no), btrim(no, E' \\t\\r\\n\\f') FROM ( \
           SELECT project_no AS no FROM planningnow.orders WHERE _deleted_at IS NULL \
           UNION SELECT project_no FROM planningnow.offers WHERE _deleted_at IS NULL \
           UNION SELECT unnest($1::text[]) \
         ) numbers WHERE aircalc.match_key(no) <> '' \
         ORDER BY aircalc.match_key(no), no \
         ON CONFLICT (project_no) DO NOTHING",
    )
    .bind(configured)
    .execute(pool)
    .await?;
    Ok(())
}

/// The due numbers with their priority; `vouched`: aircalc itself vouches for the number
/// (live in pos-rows-aggregated, or stored from an earlier fetch and not deleted since), so
/// only its 404 can mean a deletion and feed the wrong-`base_url` guard; `listed`: live in
/// pos-rows-aggregated (a 404 then is kept, not a deletion).
const QUEUE: &str = "\
WITH named AS (
    SELECT aircalc.match_key(project_no) AS no FROM planningnow.orders WHERE _deleted_at IS NULL
    UNION SELECT aircalc.match_key(project_no) FROM planningnow.offers WHERE _deleted_at IS NULL
    UNION SELECT aircalc.match_key(c) FROM unnest($1::text[]) AS c
), rows AS (
    SELECT aircalc.match_key(project_no) AS no,
           max(greatest(_changed_at, coalesce(_deleted_at, _changed_at))) AS changed_at,
           bool_or(_deleted_at IS NULL) AS listed
    FROM aircalc.pos_rows GROUP BY 1
), stored AS (
    SELECT DISTINCT aircalc.match_key(project_no) AS no FROM aircalc.projects WHERE _deleted_at IS NULL
), ranked AS (
    SELECT r.project_no, r.fetch_no, r.last_fetched_at,
           coalesce(rows.listed, false) AS listed,
           coalesce(rows.listed, false) OR EXISTS (SELECT 1 FROM stored s WHERE s.no = r.project_no) AS vouched,
           CASE WHEN r.project_no IN (SELECT no FROM named)
                     AND NOT EXISTS (SELECT 1 FROM stored s WHERE s.no = r.project_no) THEN 1
                WHEN rows.changed_at > coalesce(r.rows_updated_at, '-infinity') THEN 2
                ELSE 3 END AS priority
    FROM aircalc.project_refresh r
    LEFT JOIN rows ON rows.no = r.project_no
    WHERE r.not_found_at IS NULL OR r.not_found_at < now() - make_interval(secs => $3)
       OR rows.changed_at > r.not_found_at
)
SELECT project_no, fetch_no, priority, vouched, listed FROM ranked
WHERE priority < 3 OR last_fetched_at IS NULL OR last_fetched_at < now() - make_interval(secs => $2)
ORDER BY priority, last_fetched_at NULLS FIRST, project_no";

/// The numbers among `$1` that pos-rows-aggregated listed once and lists no more.
const DELISTED: &str = "SELECT n FROM unnest($1::text[]) AS n WHERE \
     EXISTS (SELECT 1 FROM aircalc.pos_rows r WHERE aircalc.match_key(r.project_no) = n) \
     AND NOT EXISTS (SELECT 1 FROM aircalc.pos_rows r WHERE aircalc.match_key(r.project_no) = n AND r._deleted_at IS NULL)";
