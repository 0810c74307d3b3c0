//! `agents.yml`: either a bare list of agents, or a mapping with `agents:` and an optional
//! `rules:` section of thresholds. Unknown keys are errors, so a typo never silently does nothing.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::{
    ActionAccess, Agent, CfAccess, InputError, Scheme, ScrapeSettings, Tls, check_label_name,
    check_name, normalize_address,
};
use crate::duration::PromDuration;
use crate::settings::{check_load, check_min_agents, check_percent};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAgent {
    name: Spanned<String>,
    address: Spanned<String>,
    #[serde(default)]
    labels: Option<HashMap<Spanned<String>, String>>,
    #[serde(default)]
    scheme: Option<Scheme>,
    #[serde(default)]
    bearer_token_file: Option<String>,
    #[serde(default)]
    tls: Option<Tls>,
    #[serde(default)]
    cf_access: Option<CfAccess>,
    /// The agent's action key (issue 19), for the receiver; relative to agents.yml.
    #[serde(default)]
    action_key_file: Option<String>,
    /// Where the receiver sends actions, when not the scrape address (`http(s)://host:port`).
    #[serde(default)]
    action_url: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    agents: Vec<RawAgent>,
    #[serde(default)]
    rules: RawRules,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRules {
    agent_down_for: Option<Spanned<String>>,
    cpu_threshold: Option<Spanned<f64>>,
    cpu_for: Option<Spanned<String>>,
    memory_threshold: Option<Spanned<f64>>,
    memory_for: Option<Spanned<String>>,
    disk_threshold: Option<Spanned<f64>>,
    disk_for: Option<Spanned<String>>,
    load_threshold: Option<Spanned<f64>>,
    load_for: Option<Spanned<String>>,
    collector_failed_for: Option<Spanned<String>>,
    cutoff_threshold: Option<Spanned<f64>>,
    cutoff_min_agents: Option<Spanned<u32>>,
    host_pack: Option<bool>,
}

/// Rule thresholds and `for` durations given in agents.yml; flags and env vars override them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RuleOverrides {
    pub agent_down_for: Option<PromDuration>,
    pub cpu_threshold: Option<f64>,
    pub cpu_for: Option<PromDuration>,
    pub memory_threshold: Option<f64>,
    pub memory_for: Option<PromDuration>,
    pub disk_threshold: Option<f64>,
    pub disk_for: Option<PromDuration>,
    pub load_threshold: Option<f64>,
    pub load_for: Option<PromDuration>,
    pub collector_failed_for: Option<PromDuration>,
    pub cutoff_threshold: Option<f64>,
    pub cutoff_min_agents: Option<u32>,
    /// Turns on the host rule pack.
    pub host_pack: Option<bool>,
}

pub(super) fn parse(path: &Path, text: &str) -> Result<(Vec<Agent>, RuleOverrides), InputError> {
    let meaningful = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#') && *l != "---");
    let Some(first) = meaningful else {
        return Ok((Vec::new(), RuleOverrides::default()));
    };
    let raw = if first.starts_with('-') || first.starts_with('[') {
        RawFile {
            agents: serde_saphyr::from_str(text).map_err(|e| yaml_error(path, &e))?,
            rules: RawRules::default(),
        }
    } else {
        serde_saphyr::from_str(text).map_err(|e| yaml_error(path, &e))?
    };
    let agents = raw
        .agents
        .into_iter()
        .map(|a| convert(path, a))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((agents, convert_rules(path, raw.rules)?))
}

/// serde-saphyr's message ends in "at line L, column C"; we put the place first, like a compiler.
fn yaml_error(path: &Path, e: &serde_saphyr::Error) -> InputError {
    let message = e.without_snippet().to_string();
    let reason = match message.rfind(" at line ") {
        Some(i) if e.location().is_some() => message[..i].to_owned(),
        _ => message,
    };
    InputError {
        file: path.to_owned(),
        line: e.location().map(|l| l.line() as usize).filter(|&l| l > 0),
        reason,
    }
}

fn line_of<T>(s: &Spanned<T>) -> usize {
    s.referenced.line() as usize
}

fn convert(path: &Path, raw: RawAgent) -> Result<Agent, InputError> {
    let line = line_of(&raw.name);
    let name = raw.name.value;
    check_name(&name).map_err(|r| InputError::at(path, line, r))?;
    let address = normalize_address(&raw.address.value)
        .map_err(|r| InputError::at(path, line_of(&raw.address), r))?;
    let mut labels: Vec<(Spanned<String>, String)> =
        raw.labels.unwrap_or_default().into_iter().collect();
    // Report the first bad label in file order.
    labels.sort_by_key(|(k, _)| line_of(k));
    for (key, _) in &labels {
        check_label_name(&name, &key.value).map_err(|r| InputError::at(path, line_of(key), r))?;
    }
    let labels: BTreeMap<String, String> = labels.into_iter().map(|(k, v)| (k.value, v)).collect();
    let scheme = raw.scheme.unwrap_or_default();
    let action = match (raw.action_key_file, raw.action_url) {
        (None, None) => None,
        (None, Some(u)) => {
            return Err(InputError::at(
                path,
                line_of(&u),
                format!("agent {name:?}: action_url needs action_key_file"),
            ));
        }
        (Some(key), url) => {
            let url = match url {
                None => format!("{}://{address}", scheme.as_str()),
                Some(u) => {
                    let Some(v) = vpsmon_common::action_sig::base_url(&u.value) else {
                        return Err(InputError::at(
                            path,
                            line_of(&u),
                            format!(
                                "agent {name:?}: action_url {:?} is not http(s)://host:port",
                                u.value
                            ),
                        ));
                    };
                    v.to_owned()
                }
            };
            let dir = path.parent().unwrap_or(Path::new("."));
            let key_file = std::path::absolute(dir.join(&key))
                .unwrap_or_else(|_| dir.join(&key))
                .display()
                .to_string();
            Some(ActionAccess { url, key_file })
        }
    };
    Ok(Agent {
        name,
        address,
        labels,
        scrape: ScrapeSettings {
            scheme,
            bearer_token_file: raw.bearer_token_file,
            tls: raw.tls,
            cf_access: raw.cf_access,
        },
        action,
        line,
    })
}

fn convert_rules(path: &Path, raw: RawRules) -> Result<RuleOverrides, InputError> {
    let dur = |d: Option<Spanned<String>>, key: &str| -> Result<Option<PromDuration>, InputError> {
        d.map(|s| {
            s.value
                .parse::<PromDuration>()
                .map_err(|r| InputError::at(path, line_of(&s), format!("rules.{key}: {r}")))
        })
        .transpose()
    };
    let num = |v: Option<Spanned<f64>>,
               key: &str,
               check: fn(f64) -> Result<f64, String>|
     -> Result<Option<f64>, InputError> {
        v.map(|s| {
            check(s.value)
                .map_err(|r| InputError::at(path, line_of(&s), format!("rules.{key}: {r}")))
        })
        .transpose()
    };
    Ok(RuleOverrides {
        agent_down_for: dur(raw.agent_down_for, "agent_down_for")?,
        cpu_threshold: num(raw.cpu_threshold, "cpu_threshold", check_percent)?,
        cpu_for: dur(raw.cpu_for, "cpu_for")?,
        memory_threshold: num(raw.memory_threshold, "memory_threshold", check_percent)?,
        memory_for: dur(raw.memory_for, "memory_for")?,
        disk_threshold: num(raw.disk_threshold, "disk_threshold", check_percent)?,
        disk_for: dur(raw.disk_for, "disk_for")?,
        load_threshold: num(raw.load_threshold, "load_threshold", check_load)?,
        load_for: dur(raw.load_for, "load_for")?,
        collector_failed_for: dur(raw.collector_failed_for, "collector_failed_for")?,
        cutoff_threshold: num(raw.cutoff_threshold, "cutoff_threshold", check_percent)?,
        cutoff_min_agents: raw
            .cutoff_min_agents
            .map(|s| {
                check_min_agents(s.value).map_err(|r| {
                    InputError::at(path, line_of(&s), format!("rules.cutoff_min_agents: {r}"))
                })
            })
            .transpose()?,
        host_pack: raw.host_pack,
    })
}
