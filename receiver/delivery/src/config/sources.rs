//! The flag and env layers and receiver.yml's key naming, through which the loader and the
//! integrations' sections (`notify::telegram::config`, `notify::slack::config`) read their
//! settings, each value named by its source. Below both: it knows no section.

use std::path::{Path, PathBuf};
use std::time::Duration;

use vpsmon_common::Secret;
use vpsmon_common::config::{Layers, Origin, Picked, Source};

use super::error::{ConfigError, invalid};
use crate::cli::vars::Setting;

/// The flag and env layers, and the file's name for its keys: what a section reads its settings
/// through (`notify::telegram::config`), each value named by its source.
pub(crate) struct Sources<'a> {
    pub(crate) layers: Layers<'a>,
    pub(crate) path: Option<PathBuf>,
}

/// `"10s"`: a duration above zero.
pub(crate) fn duration(v: String) -> Result<Duration, String> {
    humantime::parse_duration(v.trim())
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("{v:?} is not a duration such as 10s or 1m30s"))
}

/// `"true"` or `"false"` (also 1/0, yes/no, on/off).
pub(crate) fn boolean(v: String) -> Result<bool, String> {
    parse_bool(&v).ok_or_else(|| format!("{v:?}: use true or false"))
}

/// The variable a message suggests for `s`: the seed's name, which most set-ups use, else its
/// `RECEIVER_` one.
pub(crate) fn known(s: &Setting) -> &'static str {
    s.aliases.first().copied().unwrap_or(s.env)
}

/// The env var a value was read from.
pub(crate) fn var_of(p: &Picked<String>) -> String {
    match &p.origin.source {
        Source::Env(var) => var.clone(),
        _ => p.origin.flag.clone(),
    }
}

impl Sources<'_> {
    /// A key of receiver.yml as errors name it: receiver.yml key `telegram.chat_id`.
    pub(crate) fn key(&self, key: &str) -> String {
        match &self.path {
            Some(p) => format!("{} key `{key}`", p.display()),
            None => format!("config key `{key}`"),
        }
    }

    /// Flag > env > file (`key`, a key of receiver.yml): the value and where it came from;
    /// `None`: the default applies.
    pub(crate) fn pick<T: From<String> + AsRef<std::ffi::OsStr>>(
        &self,
        s: &Setting,
        flag: Option<T>,
        file: Option<T>,
        key: &str,
    ) -> Option<Picked<T>> {
        self.layers
            .flag_env_file(s, flag, file.map(|v| (v, self.key(key))))
    }

    /// A setting read from the file's `key`, as errors name it:
    /// --bot-token-file (from receiver.yml key `telegram.bot_token_file`).
    pub(crate) fn file_origin(&self, s: &Setting, key: &str) -> String {
        Origin {
            flag: s.named().to_owned(),
            source: Source::File(self.key(key)),
        }
        .to_string()
    }

    /// An http(s) base URL, without its trailing slash.
    pub(crate) fn url(
        &self,
        setting: &Setting,
        flag: Option<String>,
        file: Option<String>,
        key: &str,
    ) -> Result<Option<Picked<String>>, ConfigError> {
        self.pick(setting, flag, file, key)
            .map(|p| {
                let origin = p.origin.clone();
                p.check(|v| {
                    let v = v.trim().trim_end_matches('/').to_string();
                    if v.starts_with("http://") || v.starts_with("https://") {
                        Ok(v)
                    } else {
                        Err(format!("{v:?} is not an http:// or https:// URL"))
                    }
                })
                .map(|value| Picked { value, origin })
            })
            .transpose()
            .map_err(Into::into)
    }

    /// A secret given as a value in an env var (`value`), or as a file by flag, env
    /// (`file_setting`) or config key. Setting it two ways at the same level is refused rather
    /// than guessed.
    pub(crate) fn secret(
        &self,
        flag_file: Option<PathBuf>,
        value: &Setting,
        file_setting: &Setting,
        file_key: (Option<PathBuf>, String),
    ) -> Result<Option<(Secret, String)>, ConfigError> {
        let read = |path: &Path, from: String| {
            vpsmon_common::secret::read_file(path)
                .map(|s| Some((s, from.clone())))
                .map_err(|source| ConfigError::Secret { key: from, source })
        };
        if let Some(p) = flag_file {
            return read(&p, file_setting.flag.to_string());
        }
        match (self.layers.env(value), self.layers.env(file_setting)) {
            (Some(v), Some(f)) => Err(invalid(
                v.origin.to_string(),
                format!("set either {} or {}, not both", var_of(&v), var_of(&f)),
            )),
            (Some(v), None) => Ok(Some((Secret::new(v.value.trim()), v.origin.to_string()))),
            (None, Some(f)) => read(Path::new(&f.value), f.origin.to_string()),
            (None, None) => match file_key.0 {
                Some(p) => read(&p, file_key.1),
                None => Ok(None),
            },
        }
    }

    /// A section's secret (`key`, `telegram.bot_token`): refused written in the file, where only
    /// its file (`<key>_file`) is read; else read as [`Sources::secret`] does.
    pub(crate) fn section_secret(
        &self,
        key: &str,
        inline: bool,
        flag_file: Option<PathBuf>,
        [value, file_setting]: [&Setting; 2],
        file: Option<PathBuf>,
    ) -> Result<Option<(Secret, String)>, ConfigError> {
        if inline {
            return Err(invalid(
                self.key(key),
                format!(
                    "secrets are not read from the config file; use {key}_file, {} or {}",
                    known(file_setting),
                    known(value)
                ),
            ));
        }
        let file_key = self.file_origin(file_setting, &format!("{key}_file"));
        self.secret(flag_file, value, file_setting, (file, file_key))
    }

    /// A destination's `digest_threshold`: a whole number of alerts, at least 1.
    pub(crate) fn digest_threshold(
        &self,
        setting: &Setting,
        flag: Option<String>,
        file: Option<usize>,
        key: &str,
    ) -> Result<usize, ConfigError> {
        match self.pick(setting, flag, file.map(|n| n.to_string()), key) {
            Some(p) => Ok(p.check(|v| {
                v.trim()
                    .parse::<usize>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| {
                        format!("{v:?} is not a number of alerts (a whole number, at least 1)")
                    })
            })?),
            None => Ok(crate::render::digest::DEFAULT_THRESHOLD),
        }
    }
}

pub(crate) fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}
