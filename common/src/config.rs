//! One configuration idiom for every binary: **flag > env > file > default**, typed, and every
//! value knowing where it came from, so that an error names its source
//! (`--listen (from RECEIVER_LISTEN): …`) and `--print-config` shows it (`--flag=value  (source)`
//! lines), secrets redacted. [`Layers`] is that one idea; it takes its flag and env layers in
//! one of two ways, and resolves, names and lists them the same way either way.
//!
//! **clap's env** (the exporter, gen-config, stack): [`Layers::new`] over clap's matches.
//! 1. give each `#[arg]` its `env = "<PREFIX>_<NAME>"`; parse with [`parse`] (a command with
//!    [`print_config_arg`]), which names the env var in clap's value errors;
//! 2. resolve every value that has a file layer or a computed default (gen-config's agents.yml
//!    `rules:`, a profile) with one [`Layers::pick`], and old variable names with
//!    [`Layers::alias`];
//! 3. print [`Layers::print`] when [`Layers::print_config_asked`]. Secret values are redacted by
//!    `hide_env_values` on their arg or by [`Layers::secret`].
//!
//! **a table and an env lookup** (the receiver): [`Layers::lookup`] over a `&[Setting]` table
//! (flag, `<PREFIX>_` variable, older names) and a lookup function: `|n| std::env::var(n).ok()`
//! in `main`, a closure over the test's own variables in tests, so they never touch the process
//! env. clap parses only the flags (no `env`).
//! 1. one [`Setting`] per setting in the binary's table;
//! 2. resolve each with [`Layers::flag_env_file`] (flag value, file value and its key) or
//!    [`Layers::flag_or_env`], a switch with [`Layers::switch`], a flag-less secret value with
//!    [`Layers::env`]; `None` leaves the default to the caller;
//! 3. print [`Layers::print`]: the settings in the table's order; flag-less ones (secret
//!    values) are `<redacted>`.
//!
//! Either way, check a value with [`Picked::check`], so that its error ([`ConfigError`]) names
//! the setting and its source.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
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

/// A setting of a binary whose env layer is a lookup (the receiver's table, `vars`): its flag
/// (`""` for a secret value, which never goes on a command line that `ps` shows), its env var
/// (`<PREFIX>_<FLAG>`) and the older names of that var, read when it is unset.
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    pub flag: &'static str,
    pub env: &'static str,
    pub aliases: &'static [&'static str],
}

impl Setting {
    /// Every name of its env var, the prefixed one first.
    pub fn vars(&self) -> impl Iterator<Item = &'static str> + use<> {
        std::iter::once(self.env).chain(self.aliases.iter().copied())
    }

    /// How errors and `--print-config` name it: its flag, or its variable when it has none.
    pub fn named(&self) -> &'static str {
        if self.flag.is_empty() {
            self.env
        } else {
            self.flag
        }
    }
}

/// Where the flag and env layers come from.
enum Given<'a> {
    /// clap parsed both (`#[arg(long, env = …)]`).
    Clap {
        cmd: &'a Command,
        matches: &'a ArgMatches,
    },
    /// The binary's clap parsed the flags; the env vars of its `settings` are read through `env`
    /// (the process env in `main`, a closure in tests).
    Lookup {
        settings: &'a [Setting],
        env: &'a dyn Fn(&str) -> Option<String>,
    },
}

/// The layers of one start: which flag or env var gave each value, the values resolved from a
/// file or a computed default, and the `--print-config` listing of them all.
pub struct Layers<'a> {
    given: Given<'a>,
    /// Settings resolved beyond clap (file, profile, looked-up env), by flag, for
    /// `--print-config`.
    picked: RefCell<BTreeMap<String, (String, Source)>>,
    /// Ids whose values are never printed, besides those clap hides from `--help` and the
    /// flag-less settings of a table.
    secret: Vec<&'static str>,
}

impl<'a> Layers<'a> {
    /// `cmd` is the command (or subcommand) `matches` were parsed with.
    pub fn new(cmd: &'a Command, matches: &'a ArgMatches) -> Layers<'a> {
        Layers::with(Given::Clap { cmd, matches })
    }

    /// Layers over a table of settings whose env vars `env` looks up (a blank value is unset).
    /// The flags are the caller's clap values, handed to [`Layers::flag_or_env`] and
    /// [`Layers::flag_env_file`].
    pub fn lookup(settings: &'a [Setting], env: &'a dyn Fn(&str) -> Option<String>) -> Layers<'a> {
        Layers::with(Given::Lookup { settings, env })
    }

    fn with(given: Given<'a>) -> Layers<'a> {
        Layers {
            given,
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
        let Given::Clap { matches, .. } = self.given else {
            return false;
        };
        matches!(matches.try_get_one::<bool>(PRINT_CONFIG), Ok(Some(true)))
    }

    fn arg(&self, id: &str) -> Option<&'a Arg> {
        match self.given {
            Given::Clap { cmd, .. } => cmd.get_arguments().find(|a| a.get_id() == id),
            Given::Lookup { .. } => None,
        }
    }

    fn flag(&self, id: &str) -> String {
        match self.arg(id).and_then(Arg::get_long) {
            Some(long) => format!("--{long}"),
            None => id.to_owned(),
        }
    }

    /// An env var's value, from the process env or the lookup; set but blank counts as unset
    /// for a lookup.
    pub fn var(&self, name: &str) -> Option<String> {
        match self.given {
            Given::Clap { .. } => std::env::var_os(name).map(|v| v.to_string_lossy().into_owned()),
            Given::Lookup { env, .. } => env(name).filter(|v| !v.trim().is_empty()),
        }
    }

    /// The flag or env var that gave `id` a value, if either did (clap's layers).
    pub fn given(&self, id: &str) -> Option<Origin> {
        let Given::Clap { matches, .. } = self.given else {
            return None;
        };
        let source = match matches.value_source(id)? {
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

    /// Flag > env > file > default, the one precedence both kinds of layers resolve with:
    /// the first of `given` (flag or env), `file` (the value and its key) and `default` (the
    /// value and, if not the built-in one, whose). Noted for `--print-config` as `shown`.
    fn resolve<T>(
        &self,
        flag: String,
        given: Option<Picked<T>>,
        file: Option<(T, String)>,
        default: Option<(T, Option<String>)>,
        shown: impl Fn(&T) -> String,
    ) -> Option<Picked<T>> {
        let picked = given
            .or_else(|| {
                file.map(|(value, key)| Picked {
                    value,
                    origin: Origin {
                        flag: flag.clone(),
                        source: Source::File(key),
                    },
                })
            })
            .or_else(|| {
                default.map(|(value, which)| Picked {
                    value,
                    origin: Origin {
                        flag: flag.clone(),
                        source: Source::Default(which),
                    },
                })
            })?;
        self.picked
            .borrow_mut()
            .insert(flag, (shown(&picked.value), picked.origin.source.clone()));
        Some(picked)
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
        let given = given.map(|value| Picked {
            value,
            origin: self.origin(id),
        });
        self.resolve(self.flag(id), given, file, Some(default), T::to_string)
            .expect("a default is always there")
    }

    /// `var`'s value as `flag`'s, its origin naming the variable (an older name included).
    fn read_var(&self, flag: &str, var: &str) -> Option<Picked<String>> {
        let value = self.var(var)?;
        let origin = Origin {
            flag: flag.to_owned(),
            source: Source::Env(var.to_owned()),
        };
        Some(Picked { value, origin })
    }

    /// An older name of `id`'s env var (a seed's `BOT_TOKEN`), read only when neither the flag
    /// nor the prefixed variable gave a value: the raw value, with an origin naming the old name
    /// (parse it with [`Picked::check`], so an error names it too). Shown by `--print-config`.
    pub fn alias(&self, id: &str, var: &str) -> Option<Picked<String>> {
        if self.given(id).is_some() {
            return None;
        }
        let p = self.read_var(&self.flag(id), var)?;
        self.resolve(self.flag(id), Some(p), None, None, String::clone)
    }

    /// `s`'s env var: the prefixed one, else the first older name that is set ([`Layers::alias`]
    /// for a table). A setting without a flag is named by the variable read.
    pub fn env(&self, s: &Setting) -> Option<Picked<String>> {
        self.flag_env_file(s, None, None)
    }

    /// Flag > env for a table's setting: `flag` is the caller's clap value of `s`'s flag.
    pub fn flag_or_env<T: From<String> + AsRef<OsStr>>(
        &self,
        s: &Setting,
        flag: Option<T>,
    ) -> Option<Picked<T>> {
        self.flag_env_file(s, flag, None)
    }

    /// Flag > env > file for a table's setting: `file` is the file's value and its key as
    /// errors name it. `None`: the default applies (the caller's; not listed).
    pub fn flag_env_file<T: From<String> + AsRef<OsStr>>(
        &self,
        s: &Setting,
        flag: Option<T>,
        file: Option<(T, String)>,
    ) -> Option<Picked<T>> {
        let given = match flag {
            Some(value) => Some(Picked {
                value,
                origin: Origin {
                    flag: s.named().to_owned(),
                    source: Source::Flag,
                },
            }),
            None => s
                .vars()
                .find_map(|var| self.read_var(if s.flag.is_empty() { var } else { s.flag }, var))
                .map(|p| Picked {
                    value: T::from(p.value),
                    origin: p.origin,
                }),
        };
        let shown = |v: &T| v.as_ref().to_string_lossy().into_owned();
        self.resolve(s.named().to_owned(), given, file, None, shown)
    }

    /// A table's switch (`--strict-secrets`): `on` when the command line gave it.
    pub fn switch(&self, s: &Setting, on: bool) -> bool {
        let given = on.then(|| Picked {
            value: "true".to_owned(),
            origin: Origin {
                flag: s.named().to_owned(),
                source: Source::Flag,
            },
        });
        self.resolve(s.named().to_owned(), given, None, None, String::clone)
            .is_some()
    }

    /// `--print-config`'s listing: one `--flag=value  (source)` line per setting, in the
    /// command's (or table's) order, then the settings resolved beyond clap; secrets as
    /// `<redacted>`, a URL's credentials too.
    pub fn print(&self) -> String {
        let mut picked = self.picked.borrow().clone();
        let mut out = String::new();
        let mut line = |flag: &str, value: String, source: Source, secret: bool| {
            let value = if secret && !value.is_empty() {
                "<redacted>".to_owned()
            } else {
                crate::secret::redact_url(&value)
            };
            out.push_str(&format!("{flag}={value}  ({source})\n"));
        };
        match self.given {
            Given::Clap { cmd, matches } => {
                for arg in cmd.get_arguments() {
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
                            let Ok(Some(raw)) = matches.try_get_raw(id) else {
                                continue;
                            };
                            let values: Vec<_> =
                                raw.map(|v| v.to_string_lossy().into_owned()).collect();
                            // A `--no-x` switch left off says nothing its `--x` does not.
                            if self.given(id).is_none() && long.starts_with("no-") {
                                continue;
                            }
                            (values.join(","), self.origin(id).source)
                        }
                    };
                    let secret = arg.is_hide_env_values_set() || self.secret.contains(&id);
                    line(&flag, value, source, secret);
                }
            }
            Given::Lookup { settings, .. } => {
                for s in settings {
                    let Some((value, source)) = picked.remove(s.named()) else {
                        continue;
                    };
                    let secret = s.flag.is_empty() || self.secret.contains(&s.named());
                    line(s.named(), value, source, secret);
                }
            }
        }
        for (flag, (value, source)) in picked {
            let secret = self.secret.iter().any(|id| self.flag(id) == flag);
            line(&flag, value, source, secret);
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

    const LISTEN: Setting = Setting {
        flag: "--listen",
        env: "T_LISTEN",
        aliases: &[],
    };
    const CHAT: Setting = Setting {
        flag: "--alert-chat-id",
        env: "T_ALERT_CHAT_ID",
        aliases: &["ALERT_CHAT_ID"],
    };
    const TOKEN: Setting = Setting {
        flag: "",
        env: "T_BOT_TOKEN",
        aliases: &["BOT_TOKEN"],
    };
    const SWITCH: Setting = Setting {
        flag: "--no-auth",
        env: "T_NO_AUTH",
        aliases: &[],
    };
    const TABLE: &[Setting] = &[LISTEN, CHAT, TOKEN, SWITCH];

    fn lookup<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn a_table_resolves_flag_over_env_over_file_and_names_the_source() {
        let env = lookup(&[("T_LISTEN", "[::1]:1"), ("ALERT_CHAT_ID", "-1001")]);
        let layers = Layers::lookup(TABLE, &env);
        let file = |v: &str| Some((v.to_string(), "receiver.yml key `listen`".to_string()));
        let from_flag = layers.flag_env_file(&LISTEN, Some("a:1".to_string()), file("b:1"));
        assert_eq!(from_flag.unwrap().origin.to_string(), "--listen");
        let from_env = layers.flag_env_file(&LISTEN, None, file("b:1")).unwrap();
        assert_eq!(from_env.value, "[::1]:1");
        assert_eq!(from_env.origin.to_string(), "--listen (from T_LISTEN)");
        // Blank is unset: the file's value, named by its key.
        let env = lookup(&[("T_LISTEN", " ")]);
        let layers = Layers::lookup(TABLE, &env);
        let from_file = layers
            .flag_env_file(&LISTEN, None, file("nowhere"))
            .unwrap();
        assert_eq!(
            from_file
                .check(|v| v.parse::<std::net::SocketAddr>().map_err(|e| e.to_string()))
                .unwrap_err()
                .to_string(),
            "--listen (from receiver.yml key `listen`): invalid socket address syntax"
        );
        assert!(
            layers
                .flag_env_file::<String>(&LISTEN, None, None)
                .is_none()
        );
    }

    #[test]
    fn a_table_reads_the_older_name_when_the_prefixed_one_is_unset() {
        let env = lookup(&[("ALERT_CHAT_ID", "-1001"), ("BOT_TOKEN", "1:secret")]);
        let layers = Layers::lookup(TABLE, &env);
        let old = layers.env(&CHAT).unwrap();
        assert_eq!(
            old.check(|v| v.parse::<u8>().map_err(|e| e.to_string()))
                .unwrap_err()
                .to_string(),
            "--alert-chat-id (from ALERT_CHAT_ID): invalid digit found in string"
        );
        // A setting without a flag is named by the variable read.
        assert_eq!(layers.env(&TOKEN).unwrap().origin.to_string(), "BOT_TOKEN");
        let env = lookup(&[("ALERT_CHAT_ID", "-1001"), ("T_ALERT_CHAT_ID", "-1002")]);
        let layers = Layers::lookup(TABLE, &env);
        let new = layers.env(&CHAT).unwrap();
        assert_eq!(new.value, "-1002");
        assert_eq!(
            new.origin.to_string(),
            "--alert-chat-id (from T_ALERT_CHAT_ID)"
        );
    }

    #[test]
    fn a_tables_listing_is_in_its_order_with_secrets_and_url_credentials_redacted() {
        let env = lookup(&[
            ("BOT_TOKEN", "1:very-secret"),
            ("T_ALERT_CHAT_ID", "-1002"),
            ("T_LISTEN", "http://user:pass@host:1"),
        ]);
        let layers = Layers::lookup(TABLE, &env);
        assert!(layers.switch(&SWITCH, true));
        assert!(layers.env(&TOKEN).is_some());
        assert!(layers.flag_or_env::<String>(&CHAT, None).is_some());
        assert!(layers.flag_or_env::<String>(&LISTEN, None).is_some());
        assert!(!layers.print_config_asked());
        assert_eq!(
            layers.print(),
            "--listen=http://<redacted>@host:1  (env T_LISTEN)\n\
             --alert-chat-id=-1002  (env T_ALERT_CHAT_ID)\n\
             T_BOT_TOKEN=<redacted>  (env BOT_TOKEN)\n\
             --no-auth=true  (command line)\n"
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
