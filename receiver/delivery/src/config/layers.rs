//! The receiver's settings on the shared idiom (`vpsmon_common::config`): **flag > env > file >
//! default**, each value a [`Picked`] that knows where it came from, so that an error names its
//! source.
//!
//! Every setting has one env var, `RECEIVER_` and its flag (`--alert-chat-id` →
//! `RECEIVER_ALERT_CHAT_ID`); the names it had before (the seed's `BOT_TOKEN`, `ALERT_CHAT_ID`,
//! `ALLOWED_USERS`, `PROMETHEUS_URL`, and `TELEGRAM_API_URL`, `WEBHOOK_TOKEN_FILE`, …) are
//! read when that one is unset, as [`vpsmon_common::config::Layers::alias`] does. The env layer
//! is a lookup function rather than clap's `env`, so that tests hand it their variables without
//! touching the process environment.
//!
//! The settings themselves (flag, variable, older names) are one table, `crate::cli::vars`,
//! which `--help` lists too.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::PathBuf;

use vpsmon_common::config::{Origin, Picked, Source};

use crate::cli::vars::Setting;

/// The layers of one load: the env lookup, the file's name for its keys, and which settings a
/// flag or a variable gave (for `--print-config`).
pub struct Layers<'a> {
    env: &'a dyn Fn(&str) -> Option<String>,
    path: Option<PathBuf>,
    given: RefCell<BTreeMap<&'static str, Source>>,
}

impl<'a> Layers<'a> {
    pub fn new(env: &'a dyn Fn(&str) -> Option<String>, path: Option<PathBuf>) -> Layers<'a> {
        Layers {
            env,
            path,
            given: RefCell::default(),
        }
    }

    /// The same layers, with the config file read from `path`.
    pub fn with_path(self, path: Option<PathBuf>) -> Layers<'a> {
        Layers { path, ..self }
    }

    /// `--listen: env RECEIVER_LISTEN`: each setting a flag or a variable gave, and which.
    pub fn given_settings(&self) -> Vec<String> {
        self.given
            .borrow()
            .iter()
            .map(|(name, source)| format!("{name}: {source}"))
            .collect()
    }

    /// A switch (`--strict-secrets`): `on` when the command line gave it.
    pub fn switch(&self, s: &Setting, on: bool) -> bool {
        if on {
            self.given.borrow_mut().insert(s.named(), Source::Flag);
        }
        on
    }

    fn note<T>(&self, s: &Setting, p: Option<Picked<T>>) -> Option<Picked<T>> {
        if let Some(p) = &p {
            self.given
                .borrow_mut()
                .insert(s.named(), p.origin.source.clone());
        }
        p
    }

    /// A key of receiver.yml as errors name it: receiver.yml key `telegram.chat_id`.
    pub fn key(&self, key: &str) -> String {
        match &self.path {
            Some(p) => format!("{} key `{key}`", p.display()),
            None => format!("config key `{key}`"),
        }
    }

    /// A variable's value; set but blank counts as unset.
    pub fn var(&self, name: &str) -> Option<String> {
        (self.env)(name).filter(|v| !v.trim().is_empty())
    }

    /// `s`'s env var: the `RECEIVER_` one, else the first older name that is set.
    pub fn env(&self, s: &Setting) -> Option<Picked<String>> {
        let p = s.vars().find_map(|var| {
            self.var(var).map(|value| Picked {
                value,
                origin: Origin {
                    // A setting without a flag (a secret value) is named by the variable read.
                    flag: if s.flag.is_empty() { var } else { s.flag }.to_owned(),
                    source: Source::Env(var.to_owned()),
                },
            })
        });
        self.note(s, p)
    }

    /// Flag > env: the value given for `s` outside the file.
    pub fn given<T: From<String>>(&self, s: &Setting, flag: Option<T>) -> Option<Picked<T>> {
        match flag {
            Some(value) => self.note(
                s,
                Some(Picked {
                    value,
                    origin: Origin {
                        flag: s.named().to_owned(),
                        source: Source::Flag,
                    },
                }),
            ),
            None => self.env(s).map(|p| Picked {
                value: T::from(p.value),
                origin: p.origin,
            }),
        }
    }

    /// Flag > env > file (`key`, a key of receiver.yml): the value and where it came from;
    /// `None`: the default applies.
    pub fn pick<T: From<String>>(
        &self,
        s: &Setting,
        flag: Option<T>,
        file: Option<T>,
        key: &str,
    ) -> Option<Picked<T>> {
        self.given(s, flag).or_else(|| {
            file.map(|value| Picked {
                value,
                origin: Origin {
                    flag: s.named().to_owned(),
                    source: Source::File(self.key(key)),
                },
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::vars::{ALERT_CHAT_ID, ALL, LISTEN, PREFIX};

    #[test]
    fn every_variable_has_the_prefix_and_names_its_flag() {
        for s in ALL {
            assert!(s.env.starts_with(PREFIX), "{s:?}");
            if !s.flag.is_empty() {
                let from_flag = format!(
                    "{PREFIX}{}",
                    s.flag
                        .trim_start_matches("--")
                        .to_ascii_uppercase()
                        .replace('-', "_")
                );
                assert_eq!(s.env, from_flag);
            }
        }
    }

    #[test]
    fn the_prefixed_name_wins_over_the_seeds_and_errors_name_the_one_read() {
        let env = |k: &str| match k {
            "ALERT_CHAT_ID" => Some("-1001".to_string()),
            "RECEIVER_LISTEN" => Some(" ".to_string()),
            _ => None,
        };
        let layers = Layers::new(&env, Some("receiver.yml".into()));
        // Blank is unset: the file's value, named by its key.
        let p = layers
            .pick(&LISTEN, None, Some("nowhere".to_string()), "listen")
            .unwrap();
        assert_eq!(
            p.origin.to_string(),
            "--listen (from receiver.yml key `listen`)"
        );
        let p = layers.pick::<String>(&ALERT_CHAT_ID, None, None, "telegram.chat_id");
        assert_eq!(p.as_ref().map(|p| p.value.as_str()), Some("-1001"));
        assert_eq!(
            p.unwrap()
                .check(|v| v.parse::<u8>().map_err(|e| e.to_string()))
                .unwrap_err()
                .to_string(),
            "--alert-chat-id (from ALERT_CHAT_ID): invalid digit found in string"
        );
        let env = |k: &str| match k {
            "ALERT_CHAT_ID" => Some("-1001".to_string()),
            "RECEIVER_ALERT_CHAT_ID" => Some("-1002".to_string()),
            _ => None,
        };
        let layers = Layers::new(&env, Some("receiver.yml".into()));
        assert_eq!(
            layers.env(&ALERT_CHAT_ID).unwrap().origin.source,
            Source::Env("RECEIVER_ALERT_CHAT_ID".into())
        );
    }
}
