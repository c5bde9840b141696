//! The error type and the value helpers every part of the settings shares: errors naming a
//! key, secrets (inline or `<key>_file`), URLs that may carry a password, lists.

use std::path::PathBuf;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("unknown configuration key `{key}` (set by {origin})")]
    UnknownKey { key: String, origin: String },
    #[error("invalid configuration value for `{key}`: {reason}")]
    Invalid { key: String, reason: String },
    #[error("missing configuration value `{key}`: {reason}")]
    Missing { key: String, reason: String },
    #[error("cannot read configuration: {0}")]
    Load(#[from] config::ConfigError),
}

pub(crate) fn invalid(key: &str, reason: &str) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        reason: reason.into(),
    }
}

/// An http(s) URL, required because the source is enabled. A password in the URL is never
/// echoed in the error.
pub(crate) fn require_url(key: &str, value: &str) -> Result<(), ConfigError> {
    if value.is_empty() {
        return Err(ConfigError::Missing {
            key: key.into(),
            reason: "the source is enabled".into(),
        });
    }
    match reqwest::Url::parse(value) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => Ok(()),
        _ => Err(invalid(
            key,
            &format!("`{}` is not an http(s) URL", redact_url(value)),
        )),
    }
}

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

/// A secret given inline or as `<key>_file`; empty means unset. Both at once is an error.
pub(crate) fn secret(
    key: &str,
    inline: SecretString,
    file: &str,
) -> Result<Option<SecretString>, ConfigError> {
    let inline = (!inline.expose_secret().is_empty()).then_some(inline);
    if file.is_empty() {
        return Ok(inline);
    }
    if inline.is_some() {
        return Err(invalid(
            key,
            &format!("set either `{key}` or `{key}_file`, not both"),
        ));
    }
    let text = std::fs::read_to_string(PathBuf::from(file))
        .map_err(|e| invalid(&format!("{key}_file"), &format!("cannot read {file}: {e}")))?;
    let text = text.trim_end_matches(['\r', '\n']).to_string();
    if text.is_empty() {
        return Err(invalid(&format!("{key}_file"), &format!("{file} is empty")));
    }
    Ok(Some(SecretString::from(text)))
}

/// A list given as a TOML array or, from the environment, as comma-separated text.
#[derive(Deserialize)]
#[serde(untagged)]
pub(crate) enum ListOrCsv {
    List(Vec<String>),
    Csv(String),
}

impl ListOrCsv {
    pub(crate) fn items(self) -> Vec<String> {
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
            assert_eq!(crate::config::values::redact_url(url), shown);
        }
        let err = crate::config::values::require_url("k", "https://user:s3cret@host:99999")
            .unwrap_err()
            .to_string();
        assert!(
            !err.contains("s3cret") && err.contains("user:***@host"),
            "{err}"
        );
    }
}
