//! What an integration tells the rest of delivery about itself, and the one list of them.
//!
//! An integration is a folder under `notify/` whose `mod.rs` has a type `Integration`
//! implementing [`Integration`]: its name (the key of its destination in a route, the prefix of
//! its destinations' labels, the `integration` label of its metrics), its template, its
//! destination as written in a route and as loaded, and how to build its sender. It is
//! registered by naming its folder in the one `integrations![…]` line of `notify/mod.rs`, which
//! declares the module and makes [`super::INTEGRATIONS`]: route parsing (`receiver.yml`), the
//! template loading ([`RenderContext::new`]), the dispatcher and the metrics iterate that list
//! and name no integration themselves. Adding one (Alertmanager's `notify/<x>/` + one `add(...)`)
//! is a folder and a word in that line.
//!
//! An integration's destination is a [`Destination::Integration`]: its own type behind
//! [`IntegrationDestination`] (the console, which has no settings, is [`Destination::Console`]).
//! With no routes in receiver.yml, each integration may give the default route a destination
//! built from its section ([`Integration::default_destination`]). What this module implements for other modules' types
//! (`Deserialize` for [`FileDestination`], [`RenderContext::new`]) lives here so that
//! `crate::config` and `crate::render` need nothing of `notify`: imports run one way.

use std::any::Any;
use std::sync::Arc;

use serde::de::{self, DeserializeOwned, Deserializer, MapAccess, Visitor};

use super::Notify;
use crate::config::error::ConfigError;
use crate::config::model::{Config, Destination, FileDestination, RouteContext};
use crate::render::{RenderContext, RenderError, Template};

/// One integration, as its folder describes it.
pub trait Integration {
    /// `telegram`: the key of its destination in a route (`- telegram: {…}`, or `- console`
    /// alone when it has no settings), its labels' prefix, its metrics' `integration` label.
    const NAME: &'static str;
    /// Its alert template: file name (also in `templates_dir`), embedded default, escape.
    const TEMPLATE: Template;
    /// Whether one notification may need several messages: its series of
    /// `vpsmon_receiver_messages_split_total` is then present (at 0) from the start.
    const SPLITS: bool;
    /// Its destination as written in a route. `()` for none: the bare word.
    type Route: DeserializeOwned + 'static;
    /// Checks a route's destination and reads its secret files; errors name the key
    /// ([`RouteContext::at`]).
    fn route(file: Self::Route, cx: &RouteContext) -> Result<Destination, ConfigError>;
    /// Its sender for `d`; `None` when `d` is another integration's.
    fn notify(d: &Destination, cx: &NotifyContext) -> Option<Result<Box<dyn Notify>, String>>;
    /// Its destination in the default route when receiver.yml has no routes (Telegram's alert
    /// chat, Slack's default webhook), built from its section of `config`; `None`: none.
    fn default_destination(_config: &Config) -> Option<Destination> {
        None
    }
}

/// What the dispatcher has to build a sender with.
pub struct NotifyContext<'a> {
    pub config: &'a Config,
    /// One HTTP client for every destination (no redirects, bounded timeouts).
    pub client: &'a reqwest::Client,
    /// The destination's label (`webhook:ntfy`).
    pub label: &'a str,
    /// Hashes a secret (a URL) into the number that tells apart two destinations of one name
    /// in rate-limit buckets; never shown.
    pub hash: &'a dyn Fn(&str) -> u64,
    /// What the receiver wired in for an integration beyond its config (Telegram: its one bot,
    /// whose rate limits span chats, and the fleet view's additions wired in `main`), each
    /// stored as its own type: an integration takes its own with [`NotifyContext::wired`], so
    /// this list names none of them.
    pub wired: &'a [Arc<dyn Any + Send + Sync>],
}

impl NotifyContext<'_> {
    /// The wired-in value of type `T`, if the receiver has one.
    pub fn wired<T: Any>(&self) -> Option<&T> {
        self.wired.iter().find_map(|w| w.downcast_ref::<T>())
    }
}

/// An integration's [`Integration::notify`].
type BuildNotify = fn(&Destination, &NotifyContext) -> Option<Result<Box<dyn Notify>, String>>;

/// An integration in the list: its description as plain data.
pub struct Entry {
    pub name: &'static str,
    pub template: Template,
    pub splits: bool,
    notify: BuildNotify,
    default_destination: fn(&Config) -> Option<Destination>,
}

impl Entry {
    pub const fn of<I: Integration>() -> Entry {
        Entry {
            name: I::NAME,
            template: I::TEMPLATE,
            splits: I::SPLITS,
            notify: I::notify,
            default_destination: I::default_destination,
        }
    }
}

/// The sender for `d`, from the integration that owns it.
pub fn notify(d: &Destination, cx: &NotifyContext) -> Result<Box<dyn Notify>, String> {
    super::INTEGRATIONS
        .iter()
        .find_map(|i| (i.notify)(d, cx))
        .unwrap_or_else(|| Err(format!("no integration delivers to {}", d.label())))
}

/// The default route when receiver.yml has none: each integration's own default destination, in
/// registration order (empty: the caller falls back to the console).
pub fn default_route(config: &Config) -> Vec<Destination> {
    super::INTEGRATIONS
        .iter()
        .filter_map(|i| (i.default_destination)(config))
        .collect()
}

/// A route's destination as written: the integration named by its key reads the rest.
pub fn route<I: Integration + 'static>(file: I::Route) -> FileDestination {
    FileDestination::new(move |cx| I::route(file, &cx.named(I::NAME)))
}

/// Registers the integrations: `integrations![telegram, slack]` declares each folder's module
/// and makes the list every part of delivery iterates.
macro_rules! integrations {
    ($($name:ident),+ $(,)?) => {
        $(pub mod $name;)+

        /// Every integration, in registration order.
        pub const INTEGRATIONS: &[registry::Entry] =
            &[$(registry::Entry::of::<$name::Integration>()),+];

        /// Their names: the keys a route's destination may have.
        pub const NAMES: &[&str] =
            &[$(<$name::Integration as registry::Integration>::NAME),+];

        /// The destination of integration `name`, its form read from `map`'s next value;
        /// `None`: no such integration.
        fn route_form<'de, A: serde::de::MapAccess<'de>>(
            name: &str,
            map: &mut A,
        ) -> Result<Option<crate::config::model::FileDestination>, A::Error> {
            $(if name == <$name::Integration as registry::Integration>::NAME {
                return map.next_value().map(|f| Some(registry::route::<$name::Integration>(f)));
            })+
            Ok(None)
        }

        /// A destination written as the bare word `name` (`- console`): one without settings.
        fn route_word<E: serde::de::Error>(
            name: &str,
        ) -> Result<Option<crate::config::model::FileDestination>, E> {
            use serde::Deserialize as _;
            $(if name == <$name::Integration as registry::Integration>::NAME {
                let unit = serde::de::value::UnitDeserializer::<E>::new();
                return <$name::Integration as registry::Integration>::Route::deserialize(unit)
                    .map(|f| Some(registry::route::<$name::Integration>(f)));
            })+
            Ok(None)
        }
    };
}
pub(crate) use integrations;

/// `- console` or `- telegram: { chat_id: -100123 }`: one key, naming the integration.
impl<'de> serde::Deserialize<'de> for FileDestination {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct OneKey;
        impl<'de> Visitor<'de> for OneKey {
            type Value = FileDestination;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                write!(f, "a destination: one of {}", super::NAMES.join(", "))
            }
            fn visit_str<E: de::Error>(self, name: &str) -> Result<FileDestination, E> {
                super::route_word(name)?.ok_or_else(|| E::unknown_variant(name, super::NAMES))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<FileDestination, A::Error> {
                let Some(name) = map.next_key::<String>()? else {
                    return Err(de::Error::invalid_length(0, &self));
                };
                let d = super::route_form(&name, &mut map)?
                    .ok_or_else(|| de::Error::unknown_variant(&name, super::NAMES))?;
                if map.next_key::<de::IgnoredAny>()?.is_some() {
                    return Err(de::Error::custom(
                        "a destination has one key, its integration (make two list items)",
                    ));
                }
                Ok(d)
            }
        }
        d.deserialize_any(OneKey)
    }
}

impl RenderContext {
    /// Loads every integration's template: the embedded default, replaced by
    /// `templates_dir/<name>` when that file exists. A template that does not parse is an
    /// error now, not at the first alert.
    pub fn new(
        tz: chrono_tz::Tz,
        templates_dir: Option<&std::path::Path>,
    ) -> Result<RenderContext, RenderError> {
        let templates: Vec<Template> = super::INTEGRATIONS.iter().map(|i| i.template).collect();
        RenderContext::load(tz, templates_dir, &templates)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::cli::Cli;
    use crate::payload::Notification;

    #[test]
    fn the_list_names_each_integration_once() {
        assert_eq!(
            super::super::NAMES,
            ["telegram", "slack", "console", "webhook"]
        );
    }

    /// Rust source as identifiers and punctuation, without comments and string literals.
    fn tokens(code: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut chars = code.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '/' if chars.peek() == Some(&'/') => {
                    for c in chars.by_ref() {
                        if c == '\n' {
                            break;
                        }
                    }
                }
                '"' => {
                    while let Some(c) = chars.next() {
                        match c {
                            '\\' => {
                                chars.next();
                            }
                            '"' => break,
                            _ => {}
                        }
                    }
                }
                c if c.is_alphanumeric() || c == '_' => {
                    let mut word = c.to_string();
                    while let Some(&n) = chars.peek() {
                        if !(n.is_alphanumeric() || n == '_') {
                            break;
                        }
                        word.push(n);
                        chars.next();
                    }
                    out.push(word);
                }
                c if !c.is_whitespace() => out.push(c.to_string()),
                _ => {}
            }
        }
        out
    }

    /// Where `code` names the generic webhook integration: its module in a path
    /// (`notify::webhook`, `webhook::X`, but not `vpsmon_common::webhook::X`, the Alertmanager
    /// webhook's helpers) or one of its types.
    fn names_the_webhook_integration(code: &str) -> Vec<String> {
        let t = tokens(code);
        let at = |i: usize| t.get(i).map_or("", String::as_str);
        let mut hits = Vec::new();
        for i in 0..t.len() {
            let after_path = i >= 3 && at(i - 1) == ":" && at(i - 2) == ":";
            let path_on = at(i + 1) == ":" && at(i + 2) == ":";
            match at(i) {
                w @ ("Webhook" | "WebhookConfig" | "FileWebhook" | "SectionError") => {
                    hits.push(w.to_string())
                }
                "webhook" if after_path && at(i - 3) == "notify" => {
                    hits.push("notify::webhook".into())
                }
                "webhook" if path_on && !(after_path && at(i - 3) == "vpsmon_common") => {
                    hits.push(format!("webhook::{}", at(i + 3)))
                }
                _ => {}
            }
        }
        hits
    }

    fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                rust_files(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }

    /// Issue 16: adding an integration is one folder and one line. The generic webhook is
    /// named in code only inside `notify/webhook/` and in the registration line: the route form,
    /// the template, the sender and the metrics label all come to the rest of delivery from the
    /// list. (The Alertmanager webhook, `vpsmon_common::webhook` and `webhook_auth`, is another
    /// thing: `webhook_auth` is a different word, `common::webhook` is skipped.)
    #[test]
    fn the_generic_webhook_is_one_folder_and_one_registration_line() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let folder = src.join("notify").join("webhook");
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        let mut mentions = Vec::new();
        for f in files.iter().filter(|f| !f.starts_with(&folder)) {
            let code = std::fs::read_to_string(f).unwrap();
            // This test names what it looks for.
            let code = code.split("#[cfg(test)]\nmod tests {").next().unwrap();
            for hit in names_the_webhook_integration(code) {
                mentions.push(format!(
                    "{}: {hit}",
                    f.strip_prefix(&src).unwrap().display()
                ));
            }
        }
        assert_eq!(mentions, Vec::<String>::new());
        // The check finds what it looks for.
        assert_eq!(
            names_the_webhook_integration(
                "use crate::notify::webhook; let w = webhook::Webhook::new(); \
                 vpsmon_common::webhook::WATCHDOG_ROUTE; webhook(state)"
            ),
            ["notify::webhook", "webhook::Webhook", "Webhook"]
        );
        let registration = std::fs::read_to_string(src.join("notify/mod.rs")).unwrap();
        assert_eq!(
            registration
                .lines()
                .filter(|l| {
                    l.contains("webhook")
                        && !l.contains("vpsmon_common::webhook")
                        && !l.trim_start().starts_with("//")
                })
                .collect::<Vec<_>>(),
            ["registry::integrations![telegram, slack, console, webhook];"],
            "notify/mod.rs names the webhook in its registration line only"
        );

        // What the rest of delivery gets from that line: its route form in receiver.yml …
        let yml = std::env::temp_dir().join(format!("vpsmon-registry-{}.yml", std::process::id()));
        std::fs::write(
            &yml,
            "routes:\n  push:\n    - webhook: { name: ntfy, url: 'https://ntfy.example/a', body: '[{{ count }}] {{ text }}' }\n",
        )
        .unwrap();
        let cli = Cli {
            config: Some(yml.clone()),
            ..Cli::default()
        };
        let config = crate::config::Config::load(&cli, &|_| None);
        std::fs::remove_file(&yml).unwrap();
        let config = config.unwrap();
        let route = config.route(Some("push")).unwrap();
        assert_eq!(route[0].label(), "webhook:ntfy");
        let shown = config.to_yaml();
        assert!(shown.contains("  push:\n  - webhook:\n"), "{shown}");
        assert!(shown.contains("      name: ntfy\n"), "{shown}");
        assert!(shown.contains("      url: <redacted>\n"), "{shown}");
        assert!(!shown.contains("ntfy.example"), "{shown}");
        // … its sender, rendering its template (`webhook.txt`) into its body …
        let client = reqwest::Client::new();
        let notify = notify(
            &route[0],
            &NotifyContext {
                config: &config,
                client: &client,
                label: "webhook:ntfy",
                hash: &|_| 0,
                wired: &[],
            },
        )
        .unwrap();
        let n = Notification::from_json(
            br#"{"version":"4","groupKey":"g","status":"firing","receiver":"r","alerts":[
            {"status":"firing","labels":{"alertname":"DiskFull","agent":"web1"},"startsAt":"2026-11-21T10:00:00Z"}]}"#,
        )
        .unwrap();
        let ctx = RenderContext::new(chrono_tz::UTC, None).unwrap();
        let messages = notify.render(&n, &ctx).unwrap();
        assert_eq!(notify.integration(), "webhook");
        assert_eq!(
            messages[0].text,
            "[1] ℹ\u{fe0f} FIRING DiskFull on web1\nStarted: 2026-11-21 10:00:00 UTC"
        );
        // … and its series of the split counter, present from the start.
        let (_, registry) = crate::metrics::Metrics::new();
        let text = crate::metrics::encode(&registry);
        assert!(
            text.contains("vpsmon_receiver_messages_split_total{integration=\"webhook\"} 0\n"),
            "{text}"
        );
        assert!(!text.contains("integration=\"console\""), "{text}");
    }
}
