//! Database URLs: a server's URL pointed at another database on it, for the scratch
//! databases of `demo` and `bench` and the maintenance database they are created from.

use anyhow::Context;

/// `url` with its database name replaced.
pub fn with_database(url: &str, database: &str) -> anyhow::Result<String> {
    let mut parsed = reqwest::Url::parse(url).context("database.url is not a URL")?;
    parsed.set_path(&format!("/{database}"));
    Ok(parsed.to_string())
}
