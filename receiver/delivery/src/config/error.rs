//! What a configuration error says: the file, key, flag or variable that is wrong. Its own file,
//! so that the sections read in the integrations' folders (`notify::telegram::config`) name it
//! without depending on the loader that reads them.

use std::path::PathBuf;

use vpsmon_common::SecretError;

/// A configuration error, naming the file, key, flag or variable that is wrong.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{key}: {message}")]
    Invalid { key: String, message: String },
    /// A setting's value that cannot be used: `--listen (from RECEIVER_LISTEN): …`.
    #[error(transparent)]
    Setting(#[from] vpsmon_common::config::ConfigError),
    #[error("{key}: {source}")]
    Secret {
        key: String,
        #[source]
        source: SecretError,
    },
}

pub(crate) fn invalid(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        message: message.into(),
    }
}
