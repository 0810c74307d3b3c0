//! The action list (`--actions.config`): a YAML file, unknown keys refused. Every error names
//! the file, the action and the field.
//!
//! ```yaml
//! actions:
//!   restart-unit:
//!     description: restart a web server   # shown by the bot's /actions
//!     argv: [/usr/bin/systemctl, restart, "{unit}"]
//!     params:
//!       unit: { regex: 'nginx\.service|caddy\.service' }
//!     user: root          # required: root only when written here
//!     timeout: 60s        # default 30s
//!     max_output: 16384   # bytes, default 16384
//!     all_agents: false   # may the bot run it on every agent at once (default false)
//! ```

use std::collections::BTreeMap;
use std::ffi::{CStr, CString};
use std::path::{Path, PathBuf};
use std::time::Duration;

use regex::Regex;
use serde::Deserialize;

/// A configuration the exporter cannot start with.
#[derive(Debug, thiserror::Error)]
#[error("--actions.config: {}: {}{reason}", file.display(), where_.as_deref().map(|w| format!("{w}: ")).unwrap_or_default())]
pub struct ActionsConfigError {
    pub file: PathBuf,
    /// `action X, field Y`, when the error is in one.
    pub where_: Option<String>,
    pub reason: String,
}

/// A parameter's type: what its value must also parse as, besides matching its regex.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamType {
    String,
    Integer,
}

#[derive(Debug, Clone)]
pub struct Param {
    pub kind: ParamType,
    /// The configured regex, anchored at both ends.
    pub regex: Regex,
}

/// Who an action runs as, looked up when the file is loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunAs {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
    pub home: PathBuf,
}

/// One element of an action's argv: a literal, or a parameter's whole value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arg {
    Literal(String),
    Param(String),
}

#[derive(Debug, Clone)]
pub struct Action {
    pub name: String,
    /// What the bot shows next to the name; empty when not given.
    pub description: String,
    pub argv: Vec<Arg>,
    pub params: BTreeMap<String, Param>,
    pub user: RunAs,
    pub timeout: Duration,
    pub max_output: usize,
    pub all_agents: bool,
}

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_MAX_OUTPUT: usize = 16 * 1024;
/// The bot waits for the answer on an open request; longer work belongs in a systemd unit.
const MAX_TIMEOUT: Duration = Duration::from_secs(600);
/// The answer travels in one JSON body to Telegram, whose messages are far smaller.
const MAX_MAX_OUTPUT: usize = 1024 * 1024;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    actions: BTreeMap<String, RawAction>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAction {
    #[serde(default)]
    description: String,
    argv: Vec<String>,
    #[serde(default)]
    params: BTreeMap<String, RawParam>,
    user: String,
    timeout: Option<String>,
    max_output: Option<usize>,
    #[serde(default)]
    all_agents: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawParam {
    #[serde(rename = "type", default = "string_type")]
    kind: ParamType,
    regex: String,
}

fn string_type() -> ParamType {
    ParamType::String
}

/// Reads and checks the action list; users are looked up now.
pub fn load(path: &Path) -> Result<BTreeMap<String, Action>, ActionsConfigError> {
    let err = |where_: Option<String>, reason: String| ActionsConfigError {
        file: path.to_owned(),
        where_,
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(None, e.to_string()))?;
    let raw: RawFile =
        serde_saphyr::from_str(&text).map_err(|e| err(None, e.without_snippet().to_string()))?;
    if raw.actions.is_empty() {
        return Err(err(None, "no actions listed".into()));
    }
    raw.actions
        .into_iter()
        .map(|(name, a)| {
            let at = |field: &str| Some(format!("action {name:?}, field {field}"));
            let action = check(&name, a).map_err(|(field, reason)| err(at(&field), reason))?;
            Ok((name, action))
        })
        .collect()
}

/// The action's checked form, or (field, reason).
fn check(name: &str, a: RawAction) -> Result<Action, (String, String)> {
    let valid_name = |s: &str| {
        !s.is_empty()
            && s.len() <= 64
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    };
    if !valid_name(name) {
        return Err((
            "name".into(),
            "an action name is 1 to 64 of A-Z a-z 0-9 - _".into(),
        ));
    }
    let mut params = BTreeMap::new();
    for (p, raw) in a.params {
        let field = format!("params.{p}.regex");
        if !valid_name(&p) {
            return Err((
                format!("params.{p}"),
                "a parameter name is 1 to 64 of A-Z a-z 0-9 - _".into(),
            ));
        }
        let regex = Regex::new(&format!("^(?:{})$", raw.regex))
            .map_err(|e| (field.clone(), e.to_string()))?;
        params.insert(
            p,
            Param {
                kind: raw.kind,
                regex,
            },
        );
    }
    if a.argv.is_empty() {
        return Err(("argv".into(), "empty: name a program to run".into()));
    }
    let mut used = std::collections::BTreeSet::new();
    let mut argv = Vec::with_capacity(a.argv.len());
    for (i, arg) in a.argv.into_iter().enumerate() {
        let param = arg
            .strip_prefix('{')
            .and_then(|s| s.strip_suffix('}'))
            .map(str::to_owned);
        match param {
            Some(_) if i == 0 => {
                return Err((
                    "argv[0]".into(),
                    "the program must be a literal path, not a parameter".into(),
                ));
            }
            Some(p) if !params.contains_key(&p) => {
                return Err((
                    format!("argv[{i}]"),
                    format!("{{{p}}} names no parameter under params"),
                ));
            }
            Some(p) => {
                used.insert(p.clone());
                argv.push(Arg::Param(p));
            }
            None if i == 0 && !arg.starts_with('/') => {
                return Err((
                    "argv[0]".into(),
                    format!("{arg:?} is not an absolute path (no PATH lookup)"),
                ));
            }
            None => {
                if let Some(p) = params.keys().find(|p| arg.contains(&format!("{{{p}}}"))) {
                    return Err((
                        format!("argv[{i}]"),
                        format!("{{{p}}} must be a whole argument, not part of {arg:?}"),
                    ));
                }
                argv.push(Arg::Literal(arg));
            }
        }
    }
    if let Some(p) = params.keys().find(|p| !used.contains(*p)) {
        return Err((
            format!("params.{p}"),
            format!("not used in argv as {{{p}}}"),
        ));
    }
    let timeout = match a.timeout {
        None => DEFAULT_TIMEOUT,
        Some(t) => humantime::parse_duration(&t).map_err(|e| ("timeout".into(), e.to_string()))?,
    };
    if timeout.is_zero() || timeout > MAX_TIMEOUT {
        return Err((
            "timeout".into(),
            format!("must be above 0s and at most {}s", MAX_TIMEOUT.as_secs()),
        ));
    }
    let max_output = a.max_output.unwrap_or(DEFAULT_MAX_OUTPUT);
    if max_output == 0 || max_output > MAX_MAX_OUTPUT {
        return Err((
            "max_output".into(),
            format!("must be 1 to {MAX_MAX_OUTPUT} bytes"),
        ));
    }
    let user = lookup_user(&a.user).map_err(|r| ("user".into(), r))?;
    // SAFETY: plain getters.
    let (euid, egid) = unsafe { (libc::geteuid(), libc::getegid()) };
    if euid != 0 && (euid != user.uid || egid != user.gid) {
        return Err((
            "user".into(),
            format!(
                "the exporter runs as uid {euid}, not root, so it can run actions only as itself, \
                 not as {:?} (uid {})",
                user.name, user.uid
            ),
        ));
    }
    Ok(Action {
        name: name.to_owned(),
        description: a.description,
        argv,
        params,
        user,
        timeout,
        max_output,
        all_agents: a.all_agents,
    })
}

/// The user's uid, primary gid, supplementary groups and home, from the passwd and group
/// databases (getpwnam_r, getgrouplist).
pub fn lookup_user(name: &str) -> Result<RunAs, String> {
    let cname = CString::new(name).map_err(|_| format!("{name:?} contains a NUL byte"))?;
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call; buf outlives the use of pwd's strings below.
    let rc = unsafe {
        libc::getpwnam_r(
            cname.as_ptr(),
            &mut pwd,
            buf.as_mut_ptr(),
            buf.len(),
            &mut result,
        )
    };
    if rc != 0 || result.is_null() {
        return Err(format!("no user {name:?} on this system"));
    }
    // SAFETY: pw_dir points into buf, NUL-terminated by getpwnam_r.
    let home = unsafe { CStr::from_ptr(pwd.pw_dir) }
        .to_string_lossy()
        .into_owned();
    let mut groups = vec![0 as libc::gid_t; 256];
    let mut n = groups.len() as libc::c_int;
    // SAFETY: groups holds n entries.
    let rc = unsafe { libc::getgrouplist(cname.as_ptr(), pwd.pw_gid, groups.as_mut_ptr(), &mut n) };
    if rc < 0 {
        return Err(format!("user {name:?} is in more than 256 groups"));
    }
    groups.truncate(n as usize);
    Ok(RunAs {
        name: name.to_owned(),
        uid: pwd.pw_uid,
        gid: pwd.pw_gid,
        groups,
        home: PathBuf::from(home),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(text: &str) -> Result<BTreeMap<String, Action>, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("actions.yml");
        std::fs::write(&path, text).unwrap();
        load(&path).map_err(|e| e.to_string().replace(&path.display().to_string(), "F"))
    }

    #[test]
    fn a_full_action_loads() {
        let actions = load_text(
            "actions:\n  restart:\n    argv: [/usr/bin/systemctl, restart, '{unit}']\n    \
             params:\n      unit: { regex: 'nginx\\.service' }\n    user: root\n    \
             timeout: 10s\n    max_output: 100\n    all_agents: true\n",
        )
        .unwrap();
        let a = &actions["restart"];
        assert_eq!(
            a.argv,
            [
                Arg::Literal("/usr/bin/systemctl".into()),
                Arg::Literal("restart".into()),
                Arg::Param("unit".into())
            ]
        );
        assert_eq!(a.user.uid, 0);
        assert_eq!(a.timeout, Duration::from_secs(10));
        assert_eq!(a.max_output, 100);
        assert!(a.all_agents);
        // Anchored: a match inside a longer value is no match.
        let re = &a.params["unit"].regex;
        assert!(re.is_match("nginx.service"));
        assert!(!re.is_match("nginx.service; rm -rf /"));
        assert!(!re.is_match("xnginx.service"));
    }

    /// The README's example is a file that loads, as written.
    #[test]
    fn the_readme_example_loads() {
        let readme = include_str!("../../README.md");
        let section = &readme[readme.find("## Actions").unwrap()..];
        let start = section.find("```yaml\n").unwrap() + "```yaml\n".len();
        let yaml = &section[start..start + section[start..].find("```").unwrap()];
        let actions = load_text(yaml).unwrap();
        assert_eq!(
            actions.keys().collect::<Vec<_>>(),
            ["disk", "logs", "restart-unit", "stop_port"]
        );
        let port = &actions["stop_port"].params["port"];
        assert_eq!(port.kind, ParamType::Integer);
        assert!(port.regex.is_match("8080") && !port.regex.is_match("80800"));
        assert_eq!(actions["restart-unit"].timeout, Duration::from_secs(90));
        assert_eq!(actions["disk"].user.uid, 65534);
    }

    #[test]
    fn errors_name_the_file_the_action_and_the_field() {
        let cases = [
            (
                "actions:\n  df:\n    argv: [/bin/df]\n    user: no-such-user-xyz\n",
                "--actions.config: F: action \"df\", field user: no user \"no-such-user-xyz\" on this system",
            ),
            (
                "actions:\n  df:\n    argv: [/bin/df, '{x}']\n    user: root\n",
                "--actions.config: F: action \"df\", field argv[1]: {x} names no parameter under params",
            ),
            (
                "actions:\n  df:\n    argv: [df]\n    user: root\n",
                "--actions.config: F: action \"df\", field argv[0]: \"df\" is not an absolute path (no PATH lookup)",
            ),
            (
                "actions:\n  df:\n    argv: [/bin/df, '{p}']\n    params: {p: {regex: '('}}\n    user: root\n",
                "--actions.config: F: action \"df\", field params.p.regex: ",
            ),
            (
                "actions:\n  df:\n    argv: [/bin/df]\n    params: {p: {regex: 'a'}}\n    user: root\n",
                "--actions.config: F: action \"df\", field params.p: not used in argv as {p}",
            ),
            (
                "actions:\n  k:\n    argv: [/bin/fuser, '{p}/tcp']\n    params: {p: {regex: '1'}}\n    user: root\n",
                "--actions.config: F: action \"k\", field argv[1]: {p} must be a whole argument, not part of \"{p}/tcp\"",
            ),
            (
                "actions:\n  df:\n    argv: [/bin/df]\n    user: root\n    timeout: 1h\n",
                "--actions.config: F: action \"df\", field timeout: must be above 0s and at most 600s",
            ),
            (
                "actions:\n  df:\n    argv: [/bin/df]\n    user: root\n    max_output: 0\n",
                "--actions.config: F: action \"df\", field max_output: must be 1 to 1048576 bytes",
            ),
            ("actions: {}\n", "--actions.config: F: no actions listed"),
        ];
        for (text, want) in cases {
            let got = load_text(text).unwrap_err();
            assert!(got.starts_with(want), "{text}\ngot:  {got}\nwant: {want}");
        }
        // The user is required: root only when written.
        let got = load_text("actions:\n  df:\n    argv: [/bin/df]\n").unwrap_err();
        assert!(got.contains("user"), "{got}");
        let got =
            load_text("actions:\n  df:\n    argv: [/bin/df]\n    user: root\n    shell: true\n")
                .unwrap_err();
        assert!(got.contains("shell"), "{got}");
    }
}
