//! aircalc's keys, `[sources.aircalc]`: its API and OAuth2 client, which projects to keep
//! refreshed and how often, with the common keys; defaults and documentation in
//! `default.toml` beside this file.

use std::sync::Arc;
use std::time::Duration;

use config::Config;
use secrecy::SecretString;
use serde::Deserialize;

use crate::config::{
    ClientAuth, CommonSourceSettings, ConfigError, ListOrCsv, ParseResult, SourceDef, invalid,
    require_url, secret,
};

/// aircalc's part of the settings.
pub const SETTINGS: SourceDef = SourceDef {
    name: "aircalc",
    defaults: include_str!("default.toml"),
    parse,
};

fn parse(config: &Config, common: CommonSourceSettings) -> ParseResult {
    Ok(Arc::new(AircalcSettings::from_config(config, common)?))
}

#[derive(Debug, Clone)]
pub struct AircalcSettings {
    pub common: CommonSourceSettings,
    pub base_url: String,
    pub token_url: String,
    pub client_id: String,
    pub client_secret: Option<SecretString>,
    pub client_auth: ClientAuth,
    pub projects: Vec<String>,
    pub discover_from_pos_rows: bool,
    pub fetch_bom: bool,
    pub fetch_users: bool,
    pub refresh_after: Duration,
    pub not_found_retry: Duration,
}

impl AsRef<CommonSourceSettings> for AircalcSettings {
    fn as_ref(&self) -> &CommonSourceSettings {
        &self.common
    }
}

#[derive(Deserialize)]
struct AircalcRaw {
    base_url: String,
    token_url: String,
    client_id: String,
    client_secret: SecretString,
    client_secret_file: String,
    client_auth: String,
    projects: ListOrCsv,
    discover_from_pos_rows: bool,
    fetch_bom: bool,
    fetch_users: bool,
    refresh_after_hours: u64,
    not_found_retry_days: u64,
}

impl AircalcSettings {
    fn from_config(config: &Config, common: CommonSourceSettings) -> Result<Self, ConfigError> {
        let raw: AircalcRaw = config.get("sources.aircalc")?;
        let client_secret = secret(
            "sources.aircalc.client_secret",
            raw.client_secret,
            &raw.client_secret_file,
        )?;
        let client_auth = match raw.client_auth.as_str() {
            "body" => ClientAuth::Body,
            "basic" => ClientAuth::Basic,
            other => {
                return Err(invalid(
                    "sources.aircalc.client_auth",
                    &format!("`{other}` is neither `body` nor `basic`"),
                ));
            }
        };
        if common.enabled {
            require_url("sources.aircalc.base_url", &raw.base_url)?;
            require_url("sources.aircalc.token_url", &raw.token_url)?;
            if raw.client_id.is_empty() {
                return Err(ConfigError::Missing {
                    key: "sources.aircalc.client_id".into(),
                    reason: "the source is enabled".into(),
                });
            }
            if client_secret.is_none() {
                return Err(ConfigError::Missing {
                    key: "sources.aircalc.client_secret".into(),
                    reason: "the source is enabled; set it or sources.aircalc.client_secret_file"
                        .into(),
                });
            }
        }
        Ok(Self {
            common,
            base_url: raw.base_url.trim_end_matches('/').to_string(),
            token_url: raw.token_url,
            client_id: raw.client_id,
            client_secret,
            client_auth,
            projects: raw.projects.items(),
            discover_from_pos_rows: raw.discover_from_pos_rows,
            fetch_bom: raw.fetch_bom,
            fetch_users: raw.fetch_users,
            refresh_after: Duration::from_secs(raw.refresh_after_hours * 3600),
            not_found_retry: Duration::from_secs(raw.not_found_retry_days * 86_400),
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::config::ClientAuth;
    use crate::config::testing::{load, load_error};
    use crate::sources::aircalc::settings::{AircalcSettings, SETTINGS};

    #[test]
    fn defaults_hold_the_budget_aircalc_gives() {
        let s = load(&[], &[SETTINGS]).unwrap();
        let aircalc = s.source("aircalc").unwrap();
        assert_eq!(aircalc.common.budget.requests, 200);
        assert_eq!(aircalc.common.budget.reserve, 20);
        let own = aircalc.get::<AircalcSettings>();
        assert_eq!(own.client_auth, ClientAuth::Body);
        assert_eq!(own.refresh_after.as_secs(), 24 * 3600);
    }

    #[test]
    fn enabled_it_needs_its_client_and_a_password_in_a_url_is_not_echoed() {
        let err = load_error(
            &[
                ("TRIBUTARY__SOURCES__AIRCALC__ENABLED", "true"),
                ("TRIBUTARY__SOURCES__AIRCALC__BASE_URL", "https://a"),
                ("TRIBUTARY__SOURCES__AIRCALC__TOKEN_URL", "https://t"),
            ],
            &[SETTINGS],
        );
        assert!(err.contains("`sources.aircalc.client_id`"), "{err}");
        let err = load_error(
            &[
                ("TRIBUTARY__SOURCES__AIRCALC__ENABLED", "true"),
                ("TRIBUTARY__SOURCES__AIRCALC__BASE_URL", "ftp://u:s3cret@h"),
            ],
            &[SETTINGS],
        );
        assert!(
            err.contains("`sources.aircalc.base_url`") && !err.contains("s3cret"),
            "{err}"
        );
        let err = load_error(
            &[("TRIBUTARY__SOURCES__AIRCALC__CLIENT_AUTH", "jwt")],
            &[SETTINGS],
        );
        assert!(err.contains("`sources.aircalc.client_auth`"), "{err}");
    }
}
