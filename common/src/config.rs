//! One configuration idiom for every binary: **flag > env > file > default**, typed, and every
//! value knowing where it came from, so that an error names its source
//! (`--listen (from RECEIVER_LISTEN): …`) and `--print-config` shows it, secrets redacted.
//!
//! The flag and env layers are clap's (`#[arg(long, env = "PREFIX_NAME")]`): clap parses and
//! types them, [`Layers`] asks clap which of the two gave a value. A binary with a file layer
//! (gen-config's agents.yml `rules:`) or computed defaults (a profile) resolves each such value
//! with [`Layers::pick`]. [`parse`] runs clap and names the env var in its value errors.
//!
//! A binary adopts it in four steps: give each `#[arg]` its `env = "<PREFIX>_<NAME>"`; parse with
//! [`parse`] (a command with [`print_config_arg`]); resolve every value that has a file layer or
//! a computed default with one [`Layers::pick`] (`.check(parse)?` for typed checks, so the error
//! names the source), and old variable names with [`Layers::alias`]; print [`Layers::print`]
//! when [`Layers::print_config_asked`]. Secret values are redacted by `hide_env_values` on their
//! arg or by [`Layers::secret`].

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Command};

/// The id of the `--print-config` flag every binary has.
pub const PRINT_CONFIG: &str = "print_config";

/// The `--print-config` flag: print the effective configuration, secrets redacted, and exit.
pub fn print_config_arg() -> Arg {
    Arg::new(PRINT_CONFIG)
        .long("print-config")
        .action(ArgAction::SetTrue)
        .global(true)
        .help("Print the effective configuration (each value with where it came from; secrets redacted) and exit")
}

/// Where one value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The command line.
    Flag,
    /// This env var.
    Env(String),
    /// A config file: `agents.yml: rules.cpu_threshold`.
    File(String),
    /// The built-in default, or the named one (`profile fast`).
    Default(Option<String>),
}

/// A setting (by its flag) and where its value came from. Shown as `--x`, `--x (from VAR)`,
/// `--x (from agents.yml: rules.x)` or `--x (default)`: what errors start with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub flag: String,
    pub source: Source,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            Source::Flag => write!(f, "{}", self.flag),
            // A setting without a flag (a secret value) is named by the variable it was read from.
            Source::Env(var) if *var == self.flag => write!(f, "{var}"),
            Source::Env(var) => write!(f, "{} (from {var})", self.flag),
            Source::File(key) => write!(f, "{} (from {key})", self.flag),
            Source::Default(None) => write!(f, "{} (default)", self.flag),
            Source::Default(Some(which)) => write!(f, "{} (default of {which})", self.flag),
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Flag => f.write_str("command line"),
            Source::Env(var) => write!(f, "env {var}"),
            Source::File(key) => f.write_str(key),
            Source::Default(None) => f.write_str("default"),
            Source::Default(Some(which)) => write!(f, "default of {which}"),
        }
    }
}

/// A value that cannot be used, naming the setting and its source.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}: {message}")]
pub struct ConfigError {
    pub origin: Origin,
    pub message: String,
}

/// A resolved value and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Picked<T> {
    pub value: T,
    pub origin: Origin,
}

impl<T> Picked<T> {
    /// Checks or converts the value; an error names the setting and its source.
    pub fn check<U>(self, f: impl FnOnce(T) -> Result<U, String>) -> Result<U, ConfigError> {
        let origin = self.origin;
        f(self.value).map_err(|message| ConfigError { origin, message })
    }
}

/// The layers of one parsed command line: which flag or env var gave each value, the values
/// resolved from a file or a computed default, and the `--print-config` listing of them all.
pub struct Layers<'a> {
    cmd: &'a Command,
    matches: &'a ArgMatches,
    /// Settings resolved beyond clap (file, profile), by flag, for `--print-config`.
    picked: RefCell<BTreeMap<String, (String, Source)>>,
    /// Ids whose values are never printed, besides those clap hides from `--help`.
    secret: Vec<&'static str>,
}

impl<'a> Layers<'a> {
    /// `cmd` is the command (or subcommand) `matches` were parsed with.
    pub fn new(cmd: &'a Command, matches: &'a ArgMatches) -> Layers<'a> {
        Layers {
            cmd,
            matches,
            picked: RefCell::default(),
            secret: Vec::new(),
        }
    }

    /// Marks args whose values `--print-config` redacts. Args with `hide_env_values` (secret
    /// files, whose very paths stay out of `--help`) are redacted without being named here.
    pub fn secret(mut self, ids: &[&'static str]) -> Self {
        self.secret.extend_from_slice(ids);
        self
    }

    /// Whether `--print-config` ([`print_config_arg`]) was given.
    pub fn print_config_asked(&self) -> bool {
        matches!(
            self.matches.try_get_one::<bool>(PRINT_CONFIG),
            Ok(Some(true))
        )
    }

    fn arg(&self, id: &str) -> Option<&'a Arg> {
        self.cmd.get_arguments().find(|a| a.get_id() == id)
    }

    fn flag(&self, id: &str) -> String {
        match self.arg(id).and_then(Arg::get_long) {
            Some(long) => format!("--{long}"),
            None => id.to_owned(),
        }
    }

    /// The flag or env var that gave `id` a value, if either did.
    pub fn given(&self, id: &str) -> Option<Origin> {
        let source = match self.matches.value_source(id)? {
            ValueSource::CommandLine => Source::Flag,
            ValueSource::EnvVariable => Source::Env(
                self.arg(id)
                    .and_then(Arg::get_env)
                    .map(|v| v.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            ),
            _ => return None,
        };
        Some(Origin {
            flag: self.flag(id),
            source,
        })
    }

    /// Where `id`'s value came from: a flag, an env var, or clap's default.
    pub fn origin(&self, id: &str) -> Origin {
        self.given(id).unwrap_or_else(|| Origin {
            flag: self.flag(id),
            source: Source::Default(None),
        })
    }

    /// Flag > env > file > default. `given` is clap's typed value of `id` (`Some` when a flag
    /// or env var set it); `file` the file's value and its key (`agents.yml: rules.x`);
    /// `default` the default and, if it is not the built-in one, whose it is (`profile fast`).
    pub fn pick<T: fmt::Display>(
        &self,
        id: &str,
        given: Option<T>,
        file: Option<(T, String)>,
        default: (T, Option<String>),
    ) -> Picked<T> {
        let (value, source) = match (given, file) {
            (Some(v), _) => (v, self.origin(id).source),
            (None, Some((v, key))) => (v, Source::File(key)),
            (None, None) => (default.0, Source::Default(default.1)),
        };
        let flag = self.flag(id);
        self.picked
            .borrow_mut()
            .insert(flag.clone(), (value.to_string(), source.clone()));
        Picked {
            value,
            origin: Origin { flag, source },
        }
    }

    /// An older name of `id`'s env var (a seed's `BOT_TOKEN`), read only when neither the flag
    /// nor the prefixed variable gave a value: the raw value, with an origin naming the old name
    /// (parse it with [`Picked::check`], so an error names it too). Shown by `--print-config`.
    pub fn alias(&self, id: &str, var: &str) -> Option<Picked<String>> {
        if self.given(id).is_some() {
            return None;
        }
        let value = std::env::var_os(var)?.to_string_lossy().into_owned();
        let origin = Origin {
            flag: self.flag(id),
            source: Source::Env(var.to_owned()),
        };
        self.picked
            .borrow_mut()
            .insert(origin.flag.clone(), (value.clone(), origin.source.clone()));
        Some(Picked { value, origin })
    }

    /// `--print-config`'s listing: one `--flag=value  (source)` line per setting, in the
    /// command's order, then the settings resolved beyond clap; secrets as `<redacted>`.
    pub fn print(&self) -> String {
        let mut picked = self.picked.borrow().clone();
        let mut out = String::new();
        for arg in self.cmd.get_arguments() {
            let id = arg.get_id().as_str();
            let Some(long) = arg.get_long() else { continue };
            if id == PRINT_CONFIG
                || matches!(arg.get_action(), ArgAction::Help | ArgAction::Version)
            {
                continue;
            }
            let flag = format!("--{long}");
            let (value, source) = match picked.remove(&flag) {
                Some(p) => p,
                None => {
                    let Ok(Some(raw)) = self.matches.try_get_raw(id) else {
                        continue;
                    };
                    let values: Vec<_> = raw.map(|v| v.to_string_lossy().into_owned()).collect();
                    // A `--no-x` switch left off says nothing its `--x` does not.
                    if self.given(id).is_none() && long.starts_with("no-") {
                        continue;
                    }
                    (values.join(","), self.origin(id).source)
                }
            };
            let secret = arg.is_hide_env_values_set() || self.secret.contains(&id);
            let value = if secret && !value.is_empty() {
                "<redacted>".to_owned()
            } else {
                value
            };
            out.push_str(&format!("{flag}={value}  ({source})\n"));
        }
        for (flag, (value, source)) in picked {
            out.push_str(&format!("{flag}={value}  ({source})\n"));
        }
        out
    }
}

/// Parses `args` with `cmd`. A bad value read from an env var is reported naming the variable
/// (`invalid value 'lots' for '--web.max-requests <N>' (from VPSMON_WEB_MAX_REQUESTS)`), which
/// clap's own message leaves out.
pub fn parse<I, T>(cmd: &Command, args: I) -> Result<ArgMatches, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    cmd.clone()
        .try_get_matches_from(&args)
        .map_err(|e| name_env_source(e, cmd, &args))
}

fn find_long<'c>(cmd: &'c Command, long: &str) -> Option<&'c Arg> {
    cmd.get_arguments()
        .find(|a| a.get_long() == Some(long))
        .or_else(|| cmd.get_subcommands().find_map(|s| find_long(s, long)))
}

fn name_env_source(err: clap::Error, cmd: &Command, args: &[OsString]) -> clap::Error {
    if !matches!(
        err.kind(),
        ErrorKind::InvalidValue | ErrorKind::ValueValidation
    ) {
        return err;
    }
    let Some(ContextValue::String(shown)) = err.get(ContextKind::InvalidArg) else {
        return err;
    };
    let long = shown.split([' ', '=']).next().unwrap_or_default();
    let Some(var) = find_long(cmd, long.trim_start_matches('-')).and_then(Arg::get_env) else {
        return err;
    };
    let on_command_line = args.iter().any(|a| {
        let a = a.to_string_lossy();
        a == long || a.starts_with(&format!("{long}="))
    });
    if on_command_line || std::env::var_os(var).is_none() {
        return err;
    }
    let text = err.render().to_string();
    let quoted = format!("'{shown}'");
    let text = text.strip_prefix("error: ").unwrap_or(&text).replacen(
        &quoted,
        &format!("{quoted} (from {})", var.to_string_lossy()),
        1,
    );
    clap::Error::raw(err.kind(), text)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `prefix`: the env vars' prefix, one per test so that tests running at once stay apart.
    fn cmd(prefix: &str) -> Command {
        let env = |name: &str| -> &'static str { Box::leak(format!("{prefix}_{name}").into()) };
        Command::new("t")
            .arg(
                Arg::new("listen")
                    .long("listen")
                    .env(env("LISTEN"))
                    .default_value("127.0.0.1:9097"),
            )
            .arg(
                Arg::new("limit")
                    .long("limit")
                    .env(env("LIMIT"))
                    .value_parser(clap::value_parser!(u32)),
            )
            .arg(
                Arg::new("token_file")
                    .long("token-file")
                    .env(env("TOKEN_FILE"))
                    .hide_env_values(true),
            )
            .arg(Arg::new("threshold").long("threshold"))
            .arg(print_config_arg())
    }

    #[test]
    fn origins_name_the_flag_and_its_source() {
        let origin = |source| Origin {
            flag: "--listen".into(),
            source,
        };
        assert_eq!(origin(Source::Flag).to_string(), "--listen");
        assert_eq!(
            origin(Source::Env("RECEIVER_LISTEN".into())).to_string(),
            "--listen (from RECEIVER_LISTEN)"
        );
        assert_eq!(
            origin(Source::File("receiver.yml: listen".into())).to_string(),
            "--listen (from receiver.yml: listen)"
        );
        assert_eq!(
            origin(Source::Default(Some("profile fast".into()))).to_string(),
            "--listen (default of profile fast)"
        );
    }

    #[test]
    fn flag_beats_file_beats_default_and_errors_name_the_source() {
        let cmd = cmd("VPSMON_TEST_UNSET");
        let m = parse(&cmd, ["t", "--threshold", "70"]).unwrap();
        let layers = Layers::new(&cmd, &m);
        let file = || Some((90, "agents.yml: rules.threshold".to_string()));
        let from_flag = layers.pick("threshold", Some(70), file(), (80, None));
        assert_eq!(from_flag.value, 70);
        assert_eq!(from_flag.origin.to_string(), "--threshold");
        let m = parse(&cmd, ["t"]).unwrap();
        let layers = Layers::new(&cmd, &m);
        let from_file = layers.pick("threshold", None, file(), (80, None));
        assert_eq!(
            from_file
                .check(|v| if v > 85 {
                    Err(format!("{v} is over 85"))
                } else {
                    Ok(v)
                })
                .unwrap_err()
                .to_string(),
            "--threshold (from agents.yml: rules.threshold): 90 is over 85"
        );
        let default = layers.pick("threshold", None, None, (80, Some("profile fast".into())));
        assert_eq!(default.value, 80);
        assert_eq!(
            layers.print(),
            "--listen=127.0.0.1:9097  (default)\n--threshold=80  (default of profile fast)\n"
        );
    }

    /// The one test that sets env vars (names no other test reads).
    #[test]
    fn env_values_are_named_in_errors_and_secrets_are_redacted() {
        // SAFETY: no other test reads or writes these variables.
        unsafe {
            std::env::set_var("VPSMON_TEST_CONFIG_LIMIT", "lots");
            std::env::set_var("VPSMON_TEST_CONFIG_TOKEN_FILE", "/etc/secret-path");
            std::env::set_var("VPSMON_TEST_CONFIG_LISTEN", "[::1]:9097");
        }
        let cmd = cmd("VPSMON_TEST_CONFIG");
        let err = parse(&cmd, ["t"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(
            err.to_string().starts_with(
                "error: invalid value 'lots' for '--limit <limit>' (from VPSMON_TEST_CONFIG_LIMIT): invalid digit"
            ),
            "{err}"
        );
        // Given on the command line, the flag is the source.
        let err = parse(&cmd, ["t", "--limit=x"]).unwrap_err().to_string();
        assert!(
            err.starts_with("error: invalid value 'x' for '--limit <limit>': "),
            "{err}"
        );
        let m = parse(&cmd, ["t", "--limit", "3"]).unwrap();
        let layers = Layers::new(&cmd, &m);
        // The old name is read only when the flag and the prefixed variable say nothing.
        unsafe { std::env::set_var("VPSMON_TEST_OLD_LIMIT", "4") };
        assert_eq!(layers.alias("limit", "VPSMON_TEST_OLD_LIMIT"), None);
        let m2 = parse(
            &cmd.clone().mut_arg("limit", |a| a.env(None::<&str>)),
            ["t"],
        )
        .unwrap();
        let old = Layers::new(&cmd, &m2)
            .alias("limit", "VPSMON_TEST_OLD_LIMIT")
            .unwrap();
        assert_eq!(old.value, "4");
        assert_eq!(
            old.origin.to_string(),
            "--limit (from VPSMON_TEST_OLD_LIMIT)"
        );
        assert_eq!(
            layers.origin("listen").to_string(),
            "--listen (from VPSMON_TEST_CONFIG_LISTEN)"
        );
        assert_eq!(
            layers.print(),
            "--listen=[::1]:9097  (env VPSMON_TEST_CONFIG_LISTEN)\n--limit=3  (command line)\n--token-file=<redacted>  (env VPSMON_TEST_CONFIG_TOKEN_FILE)\n"
        );
        unsafe {
            std::env::remove_var("VPSMON_TEST_CONFIG_LIMIT");
            std::env::remove_var("VPSMON_TEST_CONFIG_TOKEN_FILE");
            std::env::remove_var("VPSMON_TEST_CONFIG_LISTEN");
            std::env::remove_var("VPSMON_TEST_OLD_LIMIT");
        }
    }
}
