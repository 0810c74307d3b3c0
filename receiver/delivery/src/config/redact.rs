//! How values show in `--print-config`: a secret as `<redacted>` (a secret file by its path),
//! a URL without its credentials, durations and formats as written. A leaf, shared by every
//! config section (the integrations' folders hold theirs).

use std::fmt;
use std::time::Duration;

use serde::Serializer;
use vpsmon_common::SecretFile;
use vpsmon_common::secret::redact_url;
use vpsmon_common::telemetry::LogFormat;

/// Serialises any secret as `<redacted>`.
pub fn redacted<S: Serializer, T>(_: &T, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str("<redacted>")
}

pub(crate) fn url_redacted<S: Serializer>(url: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    match url {
        Some(u) => s.serialize_some(&redact_url(u)),
        None => s.serialize_none(),
    }
}

pub(crate) fn secret_file<S: Serializer>(f: &SecretFile, s: S) -> Result<S::Ok, S::Error> {
    // The path is not secret and helps the reader; the content is.
    s.serialize_str(&format!("token file {}", f.path().display()))
}

pub(crate) fn from_file<S: Serializer>(f: &SecretFile, s: S) -> Result<S::Ok, S::Error> {
    // The path helps the reader and is not secret; the content is.
    s.serialize_str(&format!("<redacted> (from {})", f.path().display()))
}

pub(crate) fn display<S: Serializer, T: fmt::Display>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&v.to_string())
}

pub(crate) fn human_duration<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&humantime::format_duration(*d).to_string())
}

pub(crate) fn log_format<S: Serializer>(f: &LogFormat, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(match f {
        LogFormat::Text => "text",
        LogFormat::Json => "json",
    })
}
