//! Test helpers for settings: an environment from pairs, loading with given sources, and
//! temporary files.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::values::ConfigError;
use super::{Settings, SourceDef, load_with};

pub fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The settings of `sources` from the defaults and the environment `pairs`.
pub fn load(pairs: &[(&str, &str)], sources: &[SourceDef]) -> Result<Settings, ConfigError> {
    load_with(None, &env(pairs), sources)
}

/// The error message of loading `pairs`, which must fail.
pub fn load_error(pairs: &[(&str, &str)], sources: &[SourceDef]) -> String {
    load(pairs, sources).unwrap_err().to_string()
}

/// A named temporary file that removes itself.
pub struct TempFile(PathBuf, std::fs::File);

impl TempFile {
    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn path_str(&self) -> &str {
        self.0.to_str().expect("temporary paths are UTF-8")
    }

    pub fn flush(&mut self) -> std::io::Result<()> {
        self.1.flush()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

pub fn tempfile(content: &str) -> TempFile {
    let path = std::env::temp_dir().join(format!(
        "tributary-cfg-{}-{}.toml",
        std::process::id(),
        fastrand::u64(..)
    ));
    let mut f = std::fs::File::create(&path).unwrap();
    f.write_all(content.as_bytes()).unwrap();
    TempFile(path, f)
}
