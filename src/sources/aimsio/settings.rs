//! Aimsio's keys, `[sources.aimsio]`: its server, API user and entities, with the common
//! keys; defaults and documentation in `default.toml` beside this file.

use std::sync::Arc;

use config::Config;
use secrecy::SecretString;
use serde::Deserialize;

use crate::config::{
    CommonSourceSettings, ConfigError, ListOrCsv, ParseResult, SourceDef, invalid, require_url,
    secret,
};

/// Aimsio's part of the settings.
pub const SETTINGS: SourceDef = SourceDef {
    name: "aimsio",
    defaults: include_str!("default.toml"),
    parse,
};

fn parse(config: &Config, common: CommonSourceSettings) -> ParseResult {
    Ok(Arc::new(AimsioSettings::from_config(config, common)?))
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

impl AsRef<CommonSourceSettings> for AimsioSettings {
    fn as_ref(&self) -> &CommonSourceSettings {
        &self.common
    }
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

impl AimsioSettings {
    fn from_config(config: &Config, common: CommonSourceSettings) -> Result<Self, ConfigError> {
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

#[cfg(test)]
mod tests {
    use crate::config::testing::{load, load_error};
    use crate::sources::aimsio::settings::{AimsioSettings, SETTINGS};

    #[test]
    fn an_environment_names_the_server_and_entities_may_be_comma_separated() {
        let s = load(
            &[
                ("TRIBUTARY__SOURCES__AIMSIO__ENVIRONMENT", "sandbox"),
                ("TRIBUTARY__SOURCES__AIMSIO__ENTITIES", "JobOrder, NRB"),
            ],
            &[SETTINGS],
        )
        .unwrap();
        let aimsio = s.source("aimsio").unwrap().get::<AimsioSettings>();
        assert_eq!(aimsio.base_url, "https://sandbox.aimsio.com");
        assert_eq!(aimsio.entities, ["JobOrder", "NRB"]);
    }

    #[test]
    fn invalid_values_are_named() {
        for (key, value, named) in [
            (
                "TRIBUTARY__SOURCES__AIMSIO__SCHEDULE",
                "*/5 * * * *",
                "sources.aimsio.schedule",
            ),
            (
                "TRIBUTARY__SOURCES__AIMSIO__ENVIRONMENT",
                "staging",
                "sources.aimsio.environment",
            ),
            (
                "TRIBUTARY__SOURCES__AIMSIO__ENTITIES",
                "JobOrder,JobOrder",
                "sources.aimsio.entities",
            ),
        ] {
            let err = load_error(&[(key, value)], &[SETTINGS]);
            assert!(err.contains(named), "{key}: {err}");
        }
    }
}
