//! What a simulator serves: the seed and sizes of its data, the credentials its APIs
//! accept and the vendors' rate limits, with the defaults every user starts from.

use std::collections::BTreeMap;

use crate::limits::Limit;

/// What to simulate.
#[derive(Clone, Debug)]
pub struct SimOptions {
    /// Seed of all generated data: same seed and sizes give byte-identical responses.
    pub seed: u64,
    /// Number of PlanningNow orders; the other kinds are sized from it.
    pub orders: usize,
    /// The `X-AUTH-TOKEN` the PlanningNow fake accepts.
    pub planningnow_token: String,
    /// The Basic-auth user name the Aimsio fake accepts.
    pub aimsio_username: String,
    /// The Basic-auth password the Aimsio fake accepts.
    pub aimsio_password: String,
    /// Number of Aimsio objects of every entity.
    pub aimsio_objects: usize,
    /// The OAuth2 client id the aircalc fake accepts.
    pub aircalc_client_id: String,
    /// The OAuth2 client secret the aircalc fake accepts.
    pub aircalc_client_secret: String,
    /// Number of aircalc projects at the start (`PRJ-00001` onwards).
    pub aircalc_projects: usize,
    /// Lifetime of aircalc access tokens, in seconds (the token answer's `expires_in`).
    pub aircalc_token_ttl_secs: u64,
    /// Rate limit by API name (prefix without the slash: `planningnow`, `aimsio`,
    /// `aircalc`); see [`Limit`]. [`start`](crate::start) refuses
    /// invalid ones.
    pub limits: BTreeMap<String, Limit>,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            seed: 42,
            orders: 200,
            planningnow_token: "sim-token".to_owned(),
            aimsio_username: "sim-user".to_owned(),
            aimsio_password: "sim-password".to_owned(),
            aimsio_objects: 40,
            aircalc_client_id: "sim-client".to_owned(),
            aircalc_client_secret: "sim-secret".to_owned(),
            aircalc_projects: 30,
            aircalc_token_ttl_secs: 3600,
            limits: BTreeMap::from([
                // "200 requests per 10 minutes", sliding.
                (
                    "aircalc".to_owned(),
                    Limit {
                        requests: Some(200),
                        window_ms: Some(600_000),
                        max_parallel: None,
                        retry_after: true,
                    },
                ),
                // "More than 10 calls per second or more than 10 parallel calls" are refused.
                (
                    "aimsio".to_owned(),
                    Limit {
                        requests: Some(10),
                        window_ms: Some(1_000),
                        max_parallel: Some(10),
                        retry_after: false,
                    },
                ),
            ]),
        }
    }
}
