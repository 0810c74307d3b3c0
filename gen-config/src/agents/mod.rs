//! The agent list: the seed's `agent_name_ip.txt` or `agents.yml`, read into one model and
//! validated the same way whichever format it came in.

mod address;
mod txt;
mod yaml;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

pub use address::normalize_address;
pub use yaml::RuleOverrides;

/// One machine to scrape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Agent {
    pub name: String,
    /// `host:port`, normalised (lower-case DNS name, canonical IPv6 in brackets).
    pub address: String,
    /// Extra target labels from agents.yml (never contains `agent`).
    pub labels: BTreeMap<String, String>,
    pub scrape: ScrapeSettings,
    /// Actions from the chat (issue 19): where the receiver reaches the agent's actions.
    pub action: Option<ActionAccess>,
    /// Where the agent was defined, for error messages.
    pub line: usize,
}

/// The receiver's way to the agent's actions: the exporter's URL and the action-key file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActionAccess {
    /// `http(s)://host:port`: `action_url`, else the scrape scheme and address.
    pub url: String,
    /// Absolute: a relative `action_key_file` resolves against agents.yml's directory.
    pub key_file: String,
}

/// How an agent is scraped. Agents with equal settings share one scrape job.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ScrapeSettings {
    pub scheme: Scheme,
    /// Paths as Prometheus sees them (relative ones resolve against prometheus.yml's directory).
    pub bearer_token_file: Option<String>,
    pub tls: Option<Tls>,
    pub cf_access: Option<CfAccess>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    #[default]
    Http,
    Https,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    pub ca_file: Option<String>,
    pub server_name: Option<String>,
    #[serde(default)]
    pub insecure_skip_verify: bool,
}

/// A Cloudflare Access service token, sent as `CF-Access-Client-Id` / `CF-Access-Client-Secret`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CfAccess {
    pub client_id_file: String,
    pub client_secret_file: String,
}

/// The parsed input: the agents, and rule settings from agents.yml's `rules:` section.
#[derive(Clone, Debug)]
pub struct AgentList {
    pub path: PathBuf,
    pub agents: Vec<Agent>,
    pub rules: RuleOverrides,
}

/// Everything wrong with an input file is reported as `file:line: reason`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct InputError {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub reason: String,
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.file.display(), self.reason),
            None => write!(f, "{}: {}", self.file.display(), self.reason),
        }
    }
}

impl InputError {
    pub(crate) fn at(file: &Path, line: usize, reason: impl Into<String>) -> Self {
        InputError {
            file: file.to_owned(),
            line: Some(line),
            reason: reason.into(),
        }
    }
}

/// Which format a file is in: by extension, else by its first meaningful line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Txt,
    Yaml,
}

pub fn detect_format(path: &Path, text: &str) -> Format {
    match path.extension().and_then(|e| e.to_str()) {
        Some("yml" | "yaml") => return Format::Yaml,
        Some("txt") => return Format::Txt,
        _ => {}
    }
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'));
    match first {
        Some(l) if l.starts_with('-') || l.starts_with('[') || l.starts_with('{') => Format::Yaml,
        Some(l) if l.ends_with(':') || l.contains(": ") => Format::Yaml,
        _ => Format::Txt,
    }
}

/// Reads and validates an agent list.
pub fn load(path: &Path) -> Result<AgentList, InputError> {
    let text = std::fs::read_to_string(path).map_err(|e| InputError {
        file: path.to_owned(),
        line: None,
        reason: format!("cannot read the agent list: {e}"),
    })?;
    parse(path, &text)
}

/// Parses `text` as if read from `path` (the path names the file in errors and picks the format).
pub fn parse(path: &Path, text: &str) -> Result<AgentList, InputError> {
    // Some Windows editors start UTF-8 files with a byte-order mark.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let (agents, rules) = match detect_format(path, text) {
        Format::Txt => (txt::parse(path, text)?, RuleOverrides::default()),
        Format::Yaml => yaml::parse(path, text)?,
    };
    if agents.is_empty() {
        return Err(InputError {
            file: path.to_owned(),
            line: None,
            reason: "no agents: the list is empty".into(),
        });
    }
    check_unique(path, &agents)?;
    Ok(AgentList {
        path: path.to_owned(),
        agents,
        rules,
    })
}

fn check_unique(path: &Path, agents: &[Agent]) -> Result<(), InputError> {
    let mut names: HashMap<&str, &Agent> = HashMap::new();
    let mut addresses: HashMap<&str, &Agent> = HashMap::new();
    for a in agents {
        if let Some(first) = names.insert(&a.name, a) {
            return Err(InputError::at(
                path,
                a.line,
                format!(
                    "duplicate agent name \"{}\" (first defined on line {})",
                    a.name, first.line
                ),
            ));
        }
        if let Some(first) = addresses.insert(&a.address, a) {
            return Err(InputError::at(
                path,
                a.line,
                format!(
                    "duplicate address {}: agent \"{}\" has the same address as \"{}\" (line {})",
                    a.address, a.name, first.name, first.line
                ),
            ));
        }
    }
    Ok(())
}

/// Agent names become the `agent` label and appear in chat commands, so they stay simple.
pub(crate) fn check_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let ok_first = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let ok_rest = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok_first && ok_rest {
        Ok(())
    } else {
        Err(format!(
            "invalid agent name \"{name}\": use letters, digits, '.', '_' and '-', starting with a letter or digit"
        ))
    }
}

/// Prometheus label names: `[a-zA-Z_][a-zA-Z0-9_]*`; `__` is reserved, `agent` is ours.
pub(crate) fn check_label_name(agent: &str, label: &str) -> Result<(), String> {
    let mut chars = label.chars();
    let valid = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(format!(
            "invalid label name \"{label}\" for agent \"{agent}\": a label name must match [a-zA-Z_][a-zA-Z0-9_]*"
        ));
    }
    if label.starts_with("__") {
        return Err(format!(
            "invalid label name \"{label}\" for agent \"{agent}\": names starting with \"__\" are reserved by Prometheus"
        ));
    }
    if label == "agent" {
        return Err(format!(
            "invalid label name \"agent\" for agent \"{agent}\": the agent label is set from the agent's name"
        ));
    }
    Ok(())
}
