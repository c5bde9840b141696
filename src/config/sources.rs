//! Source settings: the keys every source has (`enabled`, limits, timeouts, retries, the
//! request budget) and each source's own keys, validated so that an error names the key.

use std::time::Duration;

use config::Config;
use secrecy::SecretString;
use serde::Deserialize;

use super::{ConfigError, invalid, secret};

/// A URL as it may be shown: a password in its user info (`https://user:pass@host`) becomes
/// `***`. Works on text that does not parse as a URL too, since that is when it is echoed.
pub fn redact_url(value: &str) -> String {
    let rest_at = value.find("://").map_or(0, |i| i + 3);
    let (scheme, rest) = value.split_at(rest_at);
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rfind('@') {
        Some(at) => {
            let (userinfo, host) = authority.split_at(at);
            // A user name alone may be a token: it goes too.
            let user = match userinfo.find(':') {
                Some(colon) => format!("{}:***", &userinfo[..colon]),
                None => "***".to_string(),
            };
            format!("{scheme}{user}{host}{tail}")
        }
        None => value.to_string(),
    }
}

/// `super::require_url`, except that a password in the URL is never echoed in the error.
fn require_url(key: &str, value: &str) -> Result<(), ConfigError> {
    super::require_url(key, value).map_err(|e| match e {
        ConfigError::Invalid { key, reason } => ConfigError::Invalid {
            key,
            reason: reason.replace(value, &redact_url(value)),
        },
        other => other,
    })
}

/// Keys every source has: `enabled`, limits, timeouts and retries.
#[derive(Debug, Clone, Deserialize)]
pub struct CommonSourceSettings {
    pub enabled: bool,
    /// When `tributary run` pulls the source: cron with seconds, in UTC.
    pub schedule: String,
    pub requests_per_second: f64,
    pub max_parallel: u32,
    pub timeout_secs: u64,
    pub retry: RetrySettings,
    pub budget: BudgetSettings,
}

/// A long-window request budget: at most `requests - reserve` requests in any sliding window
/// of `window_secs`, shared by every process on the database. `requests = 0` turns it off.
#[derive(Debug, Clone, Deserialize)]
pub struct BudgetSettings {
    pub requests: u32,
    pub window_secs: u64,
    pub reserve: u32,
    pub max_wait_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RetrySettings {
    pub max_attempts: u32,
    pub max_elapsed_secs: u64,
}

#[derive(Debug, Clone)]
pub struct PlanningNowSettings {
    pub common: CommonSourceSettings,
    pub base_url: String,
    pub token: Option<SecretString>,
    pub timezone: chrono_tz::Tz,
}

#[derive(Deserialize)]
struct PlanningNowRaw {
    base_url: String,
    token: SecretString,
    token_file: String,
    timezone: String,
}

impl CommonSourceSettings {
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs)
    }
}

impl CommonSourceSettings {
    fn from_config(config: &Config, source: &str) -> Result<Self, ConfigError> {
        let common: CommonSourceSettings = config.get(&format!("sources.{source}"))?;
        let key = |k: &str| format!("sources.{source}.{k}");
        crate::schedule::parse(&common.schedule)
            .map_err(|reason| invalid(&key("schedule"), &reason))?;
        if !(0.001..=1000.0).contains(&common.requests_per_second) {
            return Err(invalid(
                &key("requests_per_second"),
                "must be between 0.001 and 1000",
            ));
        }
        if common.max_parallel == 0 {
            return Err(invalid(&key("max_parallel"), "must be at least 1"));
        }
        let budget = &common.budget;
        if budget.requests > 0 && budget.reserve >= budget.requests {
            return Err(invalid(
                &key("budget.reserve"),
                "must be below budget.requests (it is the share left to other integrations)",
            ));
        }
        if budget.requests > 0 && budget.window_secs == 0 {
            return Err(invalid(&key("budget.window_secs"), "must be at least 1"));
        }
        if common.timeout_secs == 0 {
            return Err(invalid(&key("timeout_secs"), "must be at least 1"));
        }
        if common.retry.max_attempts == 0 {
            return Err(invalid(&key("retry.max_attempts"), "must be at least 1"));
        }
        Ok(common)
    }
}

impl PlanningNowSettings {
    pub(super) fn from_config(config: &Config) -> Result<Self, ConfigError> {
        let common = CommonSourceSettings::from_config(config, "planningnow")?;
        let raw: PlanningNowRaw = config.get("sources.planningnow")?;
        let timezone = raw.timezone.parse::<chrono_tz::Tz>().map_err(|_| {
            invalid(
                "sources.planningnow.timezone",
                &format!("`{}` is not an IANA time zone name", raw.timezone),
            )
        })?;
        let token = secret("sources.planningnow.token", raw.token, &raw.token_file)?;
        if common.enabled {
            require_url("sources.planningnow.base_url", &raw.base_url)?;
            if token.is_none() {
                return Err(ConfigError::Missing {
                    key: "sources.planningnow.token".into(),
                    reason: "the source is enabled; set it or sources.planningnow.token_file"
                        .into(),
                });
            }
        }
        Ok(Self {
            common,
            base_url: raw.base_url.trim_end_matches('/').to_string(),
            token,
            timezone,
        })
    }
}

/// The two documented Aimsio servers, for `environment`.
pub const AIMSIO_SERVERS: &[(&str, &str)] = &[
    ("sandbox", "https://sandbox.aimsio.com"),
    ("portal", "https://portal.aimsio.com"),
];

#[derive(Debug, Clone)]
pub struct AimsioSettings {
    pub common: CommonSourceSettings,
    /// `base_url`, or the server `environment` names.
    pub base_url: String,
    pub username: String,
    pub password: Option<SecretString>,
    pub entities: Vec<String>,
}

#[derive(Deserialize)]
struct AimsioRaw {
    base_url: String,
    environment: String,
    username: String,
    password: SecretString,
    password_file: String,
    entities: ListOrCsv,
}

/// A list given as a TOML array or, from the environment, as comma-separated text.
#[derive(Deserialize)]
#[serde(untagged)]
enum ListOrCsv {
    List(Vec<String>),
    Csv(String),
}

impl ListOrCsv {
    fn items(self) -> Vec<String> {
        match self {
            ListOrCsv::List(items) => items,
            ListOrCsv::Csv(text) => text
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
        }
    }
}

impl AimsioSettings {
    pub(super) fn from_config(config: &Config) -> Result<Self, ConfigError> {
        let common = CommonSourceSettings::from_config(config, "aimsio")?;
        let raw: AimsioRaw = config.get("sources.aimsio")?;
        let password = secret("sources.aimsio.password", raw.password, &raw.password_file)?;
        let server = match raw.environment.as_str() {
            "" => None,
            name => Some(
                AIMSIO_SERVERS
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, url)| url.to_string())
                    .ok_or_else(|| {
                        invalid(
                            "sources.aimsio.environment",
                            &format!("`{name}` is neither `sandbox` nor `portal`"),
                        )
                    })?,
            ),
        };
        let base_url = match (server, raw.base_url.is_empty()) {
            (Some(_), false) => {
                return Err(invalid(
                    "sources.aimsio.environment",
                    "set either sources.aimsio.base_url or sources.aimsio.environment, not both",
                ));
            }
            (Some(url), true) => url,
            (None, _) => raw.base_url,
        };
        let entities = raw.entities.items();
        let mut seen = std::collections::HashSet::new();
        for entity in &entities {
            let plain = entity
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic())
                && entity
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !plain || !seen.insert(entity.as_str()) {
                return Err(invalid(
                    "sources.aimsio.entities",
                    &format!(
                        "`{entity}` is not an entity name (letters, digits, _) or is listed twice"
                    ),
                ));
            }
        }
        if common.enabled {
            if base_url.is_empty() {
                return Err(ConfigError::Missing {
                    key: "sources.aimsio.base_url".into(),
                    reason: "the source is enabled; set it or sources.aimsio.environment".into(),
                });
            }
            require_url("sources.aimsio.base_url", &base_url)?;
            if raw.username.is_empty() {
                return Err(ConfigError::Missing {
                    key: "sources.aimsio.username".into(),
                    reason: "the source is enabled".into(),
                });
            }
            if password.is_none() {
                return Err(ConfigError::Missing {
                    key: "sources.aimsio.password".into(),
                    reason: "the source is enabled; set it or sources.aimsio.password_file".into(),
                });
            }
            if entities.is_empty() {
                return Err(invalid("sources.aimsio.entities", "lists no entity"));
            }
        }
        Ok(Self {
            common,
            base_url: base_url.trim_end_matches('/').to_string(),
            username: raw.username,
            password,
            entities,
        })
    }
}

/// How the OAuth2 client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    Body,
    Basic,
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
    pub(super) fn from_config(config: &Config) -> Result<Self, ConfigError> {
        let common = CommonSourceSettings::from_config(config, "aircalc")?;
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
    #[test]
    fn a_password_in_a_url_is_redacted() {
        for (url, shown) in [
            ("https://user:s3cret@host/x", "https://user:***@host/x"),
            (
                "https://user:s3cret@host:99999",
                "https://user:***@host:99999",
            ),
            ("https://t0ken@host", "https://***@host"),
            ("user:s3cret@host/a@b", "user:***@host/a@b"),
            ("https://host/a@b", "https://host/a@b"),
            ("https://u:p@ss@host?q=1", "https://u:***@host?q=1"),
        ] {
            assert_eq!(super::redact_url(url), shown);
        }
        let err = super::require_url("k", "https://user:s3cret@host:99999")
            .unwrap_err()
            .to_string();
        assert!(
            !err.contains("s3cret") && err.contains("user:***@host"),
            "{err}"
        );
    }
}
