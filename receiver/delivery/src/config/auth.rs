//! The credentials the receiver checks (the webhook's, the dashboard's: [`WebhookAuth`]) and
//! sends (to Prometheus and Alertmanager: [`ClientAuth`]), as loaded and as written in
//! receiver.yml ([`FileWebhookAuth`]).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use vpsmon_common::{Secret, SecretFile};

use super::redact::{from_file, redacted, secret_file};

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookAuth {
    /// `Authorization: Bearer <token>`; the file is re-read when it changes (rotation).
    Bearer(#[serde(serialize_with = "secret_file")] SecretFile),
    Basic {
        user: String,
        #[serde(serialize_with = "redacted")]
        password: Secret,
    },
}

/// A credential the fleet view sends to Prometheus or Alertmanager; the files are re-read when
/// they change (rotation).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuth {
    /// `Authorization: Bearer <token>`.
    Bearer(#[serde(serialize_with = "from_file")] SecretFile),
    /// `Authorization: Basic base64(user:password)`.
    Basic {
        user: String,
        #[serde(serialize_with = "from_file")]
        password: SecretFile,
    },
}

/// Also the form of `dashboard.auth` (crate::dashboard::settings), `prometheus_auth` and
/// `alertmanager_auth`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileWebhookAuth {
    pub(crate) bearer_token_file: Option<PathBuf>,
    pub(crate) basic: Option<FileBasic>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileBasic {
    pub(crate) username: String,
    pub(crate) password_file: PathBuf,
}
