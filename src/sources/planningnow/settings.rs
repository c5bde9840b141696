//! PlanningNow's keys, `[sources.planningnow]`: its tenant URL, token and time zone, with the
//! common keys; defaults and documentation in `default.toml` beside this file.

use std::sync::Arc;

use config::Config;
use secrecy::SecretString;
use serde::Deserialize;

use crate::config::{
    CommonSourceSettings, ConfigError, ParseResult, SourceDef, invalid, require_url, secret,
};

/// PlanningNow's part of the settings.
pub const SETTINGS: SourceDef = SourceDef {
    name: "planningnow",
    defaults: include_str!("default.toml"),
    parse,
};

fn parse(config: &Config, common: CommonSourceSettings) -> ParseResult {
    Ok(Arc::new(PlanningNowSettings::from_config(config, common)?))
}

#[derive(Debug, Clone)]
pub struct PlanningNowSettings {
    pub common: CommonSourceSettings,
    pub base_url: String,
    pub token: Option<SecretString>,
    pub timezone: chrono_tz::Tz,
}

impl AsRef<CommonSourceSettings> for PlanningNowSettings {
    fn as_ref(&self) -> &CommonSourceSettings {
        &self.common
    }
}

#[derive(Deserialize)]
struct PlanningNowRaw {
    base_url: String,
    token: SecretString,
    token_file: String,
    timezone: String,
}

impl PlanningNowSettings {
    fn from_config(config: &Config, common: CommonSourceSettings) -> Result<Self, ConfigError> {
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

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use crate::config::testing::{load, load_error, tempfile};
    use crate::sources::planningnow::settings::{PlanningNowSettings, SETTINGS};

    #[test]
    fn defaults_load_disabled_in_berlin() {
        let s = load(&[], &[SETTINGS]).unwrap();
        let pn = s.source("planningnow").unwrap();
        assert!(!pn.common.enabled);
        assert_eq!(
            pn.get::<PlanningNowSettings>().timezone,
            chrono_tz::Europe::Berlin
        );
    }

    #[test]
    fn enabled_it_needs_its_secret_and_url() {
        let base = [
            ("TRIBUTARY__SOURCES__PLANNINGNOW__ENABLED", "true"),
            ("TRIBUTARY__SOURCES__PLANNINGNOW__BASE_URL", "http://x"),
        ];
        let err = load_error(&base, &[SETTINGS]);
        assert!(err.contains("`sources.planningnow.token`"), "{err}");
        let err = load_error(&base[..1], &[SETTINGS]);
        assert!(err.contains("`sources.planningnow.base_url`"), "{err}");
    }

    #[test]
    fn an_unknown_time_zone_is_named() {
        let err = load_error(
            &[("TRIBUTARY__SOURCES__PLANNINGNOW__TIMEZONE", "Mars/Olympus")],
            &[SETTINGS],
        );
        assert!(err.contains("sources.planningnow.timezone"), "{err}");
    }

    #[test]
    fn its_token_comes_from_a_file_and_never_shows_in_debug() {
        let file = tempfile("s3cr3t-token\n");
        let s = load(
            &[
                ("TRIBUTARY__SOURCES__PLANNINGNOW__ENABLED", "true"),
                ("TRIBUTARY__SOURCES__PLANNINGNOW__BASE_URL", "http://x/"),
                (
                    "TRIBUTARY__SOURCES__PLANNINGNOW__TOKEN_FILE",
                    file.path_str(),
                ),
            ],
            &[SETTINGS],
        )
        .unwrap();
        let pn = s
            .source("planningnow")
            .unwrap()
            .get::<PlanningNowSettings>();
        assert_eq!(pn.token.as_ref().unwrap().expose_secret(), "s3cr3t-token");
        assert_eq!(pn.base_url, "http://x");
        let debug = format!("{s:?}");
        assert!(
            debug.contains("PlanningNowSettings") && !debug.contains("s3cr3t"),
            "{debug}"
        );
        let err = load_error(
            &[(
                "TRIBUTARY__SOURCES__PLANNINGNOW__TOKEN_FILE",
                "/nonexistent/x",
            )],
            &[SETTINGS],
        );
        assert!(err.contains("sources.planningnow.token_file"), "{err}");
    }
}
