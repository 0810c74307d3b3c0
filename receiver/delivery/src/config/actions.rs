//! Actions from the chat (issue 19), the receiver's settings: who may run them (`ACTION_USERS`,
//! which must be a subset of `ALLOWED_USERS`) and the actions file (`--actions-file`), which
//! names each agent's action URL and action-key file. vpsmon-gen-config writes that file from
//! agents.yml (`receiver/action-agents.yml`); it can also be written by hand:
//!
//! ```yaml
//! concurrency: 8                # requests in flight at once, default 8
//! agents:
//!   - name: web1
//!     url: http://10.0.0.5:9100   # the exporter's listener
//!     key_file: keys/web1.key     # relative to this file's directory
//!     labels: { env: prod }       # for `/run env=prod ...`
//! ```
//!
//! Each key file is re-read when it changes, and deleting it revokes the key on the bot's side
//! too. Its content is never printed: `--print-config` shows the path.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use vpsmon_common::SecretFile;

use super::error::{ConfigError, invalid};
use super::redact::from_file;

pub const DEFAULT_CONCURRENCY: usize = 8;
const MAX_CONCURRENCY: usize = 64;

/// Who may run actions, and on which agents with which keys. Empty without `--actions-file`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ActionsConfig {
    /// `ACTION_USERS`: Telegram user ids that may run actions; all are in `ALLOWED_USERS`.
    pub users: Vec<i64>,
    pub file: Option<PathBuf>,
    pub concurrency: usize,
    pub agents: Vec<ActionAgent>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ActionAgent {
    pub name: String,
    /// `http(s)://host:port` of the exporter, without a path.
    pub url: String,
    #[serde(serialize_with = "from_file")]
    pub key: SecretFile,
    pub labels: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    concurrency: Option<usize>,
    agents: Vec<RawAgent>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAgent {
    name: String,
    url: String,
    key_file: PathBuf,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

impl ActionsConfig {
    /// `users` and `file` with the names of the layer each came from; `allowed` is the
    /// effective `ALLOWED_USERS`. Returns the settings and a warning, if any.
    pub(super) fn build(
        (users, users_from): (Vec<i64>, String),
        file: Option<(PathBuf, String)>,
        allowed: &[i64],
    ) -> Result<(ActionsConfig, Option<String>), ConfigError> {
        let outside: Vec<String> = users
            .iter()
            .filter(|u| !allowed.contains(u))
            .map(|u| u.to_string())
            .collect();
        if !outside.is_empty() {
            return Err(invalid(
                users_from,
                format!(
                    "{} not in ALLOWED_USERS (an action user must also be allowed to use the bot)",
                    match outside.len() {
                        1 => format!("{} is", outside[0]),
                        _ => format!("{} are", outside.join(", ")),
                    }
                ),
            ));
        }
        let Some((path, from)) = file else {
            if users.is_empty() {
                return Ok((ActionsConfig::default(), None));
            }
            return Err(invalid(
                users_from,
                "action users are set, but no actions file (--actions-file, \
                 RECEIVER_ACTIONS_FILE) says which agents to reach with which key",
            ));
        };
        let (concurrency, agents) = read(&path).map_err(|e| invalid(from, e))?;
        let warning = users.is_empty().then(|| {
            format!(
                "actions: {} names {} agent(s) but ACTION_USERS is empty, so nobody can run \
                 actions",
                path.display(),
                agents.len()
            )
        });
        Ok((
            ActionsConfig {
                users,
                file: Some(path),
                concurrency,
                agents,
            },
            warning,
        ))
    }
}

/// The file's agents, or an error naming the file, the agent and the field.
fn read(path: &Path) -> Result<(usize, Vec<ActionAgent>), String> {
    let at = |what: String| format!("{}: {what}", path.display());
    let text = std::fs::read_to_string(path).map_err(|e| at(e.to_string()))?;
    let raw: RawFile =
        serde_saphyr::from_str(&text).map_err(|e| at(e.without_snippet().to_string()))?;
    let concurrency = raw.concurrency.unwrap_or(DEFAULT_CONCURRENCY);
    if !(1..=MAX_CONCURRENCY).contains(&concurrency) {
        return Err(at(format!("concurrency must be 1 to {MAX_CONCURRENCY}")));
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut seen = BTreeSet::new();
    let mut agents = Vec::with_capacity(raw.agents.len());
    for (i, a) in raw.agents.into_iter().enumerate() {
        let field = |f: &str, why: String| at(format!("agents[{i}] ({}): {f}: {why}", a.name));
        if a.name.is_empty() || a.name.eq_ignore_ascii_case("all") || a.name.contains('=') {
            return Err(field(
                "name",
                "must be non-empty, not `all` and without `=` (those pick several agents)".into(),
            ));
        }
        if !seen.insert(a.name.clone()) {
            return Err(field("name", "listed twice".into()));
        }
        let Some(url) = vpsmon_common::action_sig::base_url(&a.url) else {
            return Err(field(
                "url",
                format!("{:?} is not http(s)://host:port", a.url),
            ));
        };
        let key_path = dir.join(&a.key_file);
        let key = SecretFile::open(&key_path).map_err(|e| field("key_file", e.to_string()))?;
        agents.push(ActionAgent {
            url: url.to_owned(),
            name: a.name,
            key,
            labels: a.labels,
        });
    }
    Ok((concurrency, agents))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(
        users: &[i64],
        file: Option<&Path>,
        allowed: &[i64],
    ) -> Result<(ActionsConfig, Option<String>), String> {
        ActionsConfig::build(
            (users.to_vec(), "--action-users (from ACTION_USERS)".into()),
            file.map(|f| (f.to_owned(), "--actions-file".into())),
            allowed,
        )
        .map_err(|e| e.to_string())
    }

    #[test]
    fn action_users_must_be_allowed_users_and_need_an_actions_file() {
        assert_eq!(
            build(&[1, 7, 8], None, &[1, 2]).unwrap_err(),
            "--action-users (from ACTION_USERS): 7, 8 are not in ALLOWED_USERS (an action user must also be \
             allowed to use the bot)"
        );
        assert_eq!(
            build(&[7], None, &[1]).unwrap_err(),
            "--action-users (from ACTION_USERS): 7 is not in ALLOWED_USERS (an action user must also be allowed \
             to use the bot)"
        );
        assert_eq!(
            build(&[1], None, &[1]).unwrap_err(),
            "--action-users (from ACTION_USERS): action users are set, but no actions file (--actions-file, \
             RECEIVER_ACTIONS_FILE) says which agents to reach with which key"
        );
        let (none, warning) = build(&[], None, &[1]).unwrap();
        assert!(none.agents.is_empty() && warning.is_none());
    }

    #[test]
    fn the_actions_file_is_read_and_each_error_names_agent_and_field() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("action-agents.yml");
        std::fs::create_dir(dir.path().join("keys")).unwrap();
        std::fs::write(dir.path().join("keys/web1.key"), "k".repeat(64)).unwrap();
        let write = |text: &str| std::fs::write(&file, text).unwrap();
        write(
            "agents:\n  - name: web1\n    url: http://10.0.0.5:9100/\n    key_file: keys/web1.key\n    labels: {env: prod}\n",
        );
        let (c, warning) = build(&[1], Some(&file), &[1]).unwrap();
        assert_eq!(warning, None);
        assert_eq!(c.concurrency, DEFAULT_CONCURRENCY);
        assert_eq!(c.agents[0].url, "http://10.0.0.5:9100");
        assert_eq!(c.agents[0].key.current().expose(), "k".repeat(64));
        assert_eq!(c.agents[0].labels["env"], "prod");
        let printed = serde_json::to_string(&c).unwrap();
        assert!(
            !printed.contains("kkkk"),
            "the key is never printed: {printed}"
        );
        let (_, warning) = build(&[], Some(&file), &[1]).unwrap();
        assert!(warning.unwrap().contains("ACTION_USERS is empty"));

        let f = file.display();
        for (text, want) in [
            (
                "agents:\n  - {name: web1, url: 'http://a:1', key_file: keys/nope.key}\n".to_string(),
                format!("--actions-file: {f}: agents[0] (web1): key_file: cannot read secret file"),
            ),
            (
                "agents:\n  - {name: web1, url: 'ftp://a:1', key_file: keys/web1.key}\n".into(),
                format!("--actions-file: {f}: agents[0] (web1): url: \"ftp://a:1\" is not http(s)://host:port"),
            ),
            (
                "agents:\n  - {name: web1, url: 'http://a:1', key_file: keys/web1.key}\n  - {name: web1, url: 'http://b:1', key_file: keys/web1.key}\n".into(),
                format!("--actions-file: {f}: agents[1] (web1): name: listed twice"),
            ),
            (
                "agents:\n  - {name: all, url: 'http://a:1', key_file: keys/web1.key}\n".into(),
                format!("--actions-file: {f}: agents[0] (all): name: must be non-empty, not `all`"),
            ),
            (
                "concurrency: 0\nagents: []\n".into(),
                format!("--actions-file: {f}: concurrency must be 1 to 64"),
            ),
        ] {
            write(&text);
            let got = build(&[1], Some(&file), &[1]).unwrap_err();
            assert!(got.starts_with(&want), "{text}\ngot:  {got}\nwant: {want}");
        }
    }
}
