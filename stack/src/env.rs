//! Which environment each child gets. Every child starts from an empty environment and gets only
//! the variables on its part's allowlist: a bot token in the user's shell or `.env` must not
//! reach Prometheus, Alertmanager or the exporter, which have no use for it (a process's
//! environment is readable through /proc by the same user and is inherited by whatever it runs).
//! The receiver's chat secrets reach it as files under the state dir, not as variables.

use std::ffi::OsString;
use std::path::Path;

use anyhow::Result;

use crate::dotenv;
use crate::parts::Part;

/// What every part may see: where programs are, locale and time zone, proxies and CA bundles
/// (for an agent or a chat API reached through them), and the Go runtime's own tuning.
const COMMON: &[&str] = &[
    "PATH",
    "HOME",
    "LANG",
    "LC_ALL",
    "TZ",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "GOMAXPROCS",
    "GOMEMLIMIT",
    "GOGC",
    "GODEBUG",
];

/// The receiver's settings that are not secrets (see receiver/README.md). Its secrets are the
/// `*_FILE` forms; BOT_TOKEN and SLACK_WEBHOOK_URL given as values are turned into files by
/// [`crate::secrets`]. WEBHOOK_* is absent on purpose: the stack sets the webhook auth itself.
const RECEIVER: &[&str] = &[
    "ALERT_CHAT_ID",
    "ALLOWED_USERS",
    "ACTION_USERS",
    "TELEGRAM_API_URL",
    "BOT_TOKEN_FILE",
    "SLACK_WEBHOOK_URL_FILE",
    "RUST_LOG",
];

/// The user's settings: the process environment over the `.env` file.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    vars: Vec<(String, OsString)>,
}

impl Settings {
    /// The environment of this process, plus the `.env` lines it does not set. An empty value
    /// in `.env` (as in .env.example) means "not configured" and is skipped.
    pub fn gather(env_file: &Path) -> Result<Settings> {
        let mut vars: Vec<(String, OsString)> = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v)))
            .collect();
        for (k, v) in dotenv::read(env_file)? {
            if !v.is_empty() && !vars.iter().any(|(e, _)| *e == k) {
                vars.push((k, v.into()));
            }
        }
        Ok(Settings { vars })
    }

    pub fn from_vars<K: Into<String>, V: Into<OsString>>(
        vars: impl IntoIterator<Item = (K, V)>,
    ) -> Settings {
        Settings {
            vars: vars
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// A set, non-empty value.
    pub fn get(&self, key: &str) -> Option<&OsString> {
        self.vars
            .iter()
            .find(|(k, v)| k == key && !v.is_empty())
            .map(|(_, v)| v)
    }

    /// The variables `part` may see.
    pub fn for_part(&self, part: Part) -> Vec<(String, OsString)> {
        self.filter(|k| match part {
            // Their flags' env vars are all VPSMON_*.
            Part::Exporter => k.starts_with("VPSMON_"),
            Part::Receiver => RECEIVER.contains(&k) || k.starts_with("RECEIVER_"),
            Part::Alertmanager | Part::Prometheus => false,
        })
    }

    /// The variables vpsmon-gen-config may see: its flags' env vars (VPSMON_*, e.g. rule
    /// thresholds).
    pub fn for_gen_config(&self) -> Vec<(String, OsString)> {
        self.filter(|k| k.starts_with("VPSMON_"))
    }

    fn filter(&self, allowed: impl Fn(&str) -> bool) -> Vec<(String, OsString)> {
        self.vars
            .iter()
            .filter(|(k, _)| COMMON.contains(&k.as_str()) || allowed(k))
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings::from_vars([
            ("PATH", "/usr/bin"),
            ("BOT_TOKEN", "123:secret"),
            (
                "SLACK_WEBHOOK_URL",
                "https://hooks.slack.com/services/T/B/secret",
            ),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("WEBHOOK_TOKEN_FILE", "/elsewhere"),
            ("ALERT_CHAT_ID", "-100"),
            ("RECEIVER_TIMEZONE", "Asia/Taipei"),
            ("VPSMON_LOG_LEVEL", "debug"),
        ])
    }

    fn keys(vars: Vec<(String, OsString)>) -> Vec<String> {
        vars.into_iter().map(|(k, _)| k).collect()
    }

    #[test]
    fn each_part_gets_only_its_allowlist_and_no_part_gets_a_secret_value() {
        let s = settings();
        assert_eq!(
            keys(s.for_part(Part::Receiver)),
            ["PATH", "ALERT_CHAT_ID", "RECEIVER_TIMEZONE"]
        );
        assert_eq!(
            keys(s.for_part(Part::Exporter)),
            ["PATH", "VPSMON_LOG_LEVEL"]
        );
        assert_eq!(keys(s.for_part(Part::Prometheus)), ["PATH"]);
        assert_eq!(keys(s.for_part(Part::Alertmanager)), ["PATH"]);
        assert_eq!(keys(s.for_gen_config()), ["PATH", "VPSMON_LOG_LEVEL"]);
    }

    #[test]
    fn the_environment_wins_over_the_env_file_and_empty_lines_are_unset() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(".env");
        // PATH is set in any test environment, so the file's value must lose.
        std::fs::write(&file, "PATH=/from/file\nVPSMON_UNSET_IN_TESTS=\n").unwrap();
        let s = Settings::gather(&file).unwrap();
        assert_ne!(s.get("PATH").unwrap(), "/from/file");
        assert_eq!(s.get("VPSMON_UNSET_IN_TESTS"), None);
    }
}
