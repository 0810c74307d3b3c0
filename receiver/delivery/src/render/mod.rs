//! What every integration's rendering shares: the alert view a template sees, the loaded
//! templates, and time, count and length helpers. Each integration renders in its own folder
//! (`crate::notify::<integration>::render`: Telegram HTML, Slack blocks, console lines, the
//! generic webhook's text); this module knows none of them: each gives its [`Template`] (name,
//! default, escape) to the list `crate::notify::INTEGRATIONS`, whose templates
//! `RenderContext::new` (in `crate::notify::registry`) loads.
//!
//! Each alert is rendered on its own by a tera template (the defaults are embedded from each
//! integration's folder; a file of the same name in `templates_dir` replaces one), then the
//! per-alert texts are packed into messages that respect each service's limits. Every returned
//! [`Part`] says which alerts it carries (`alert_indices`, indices into `Notification::alerts`),
//! so delivery can tell exactly which alerts reached a destination. An alert longer than one
//! message by itself is split inside its text; its index then appears in each of the consecutive
//! parts that carry a piece of it.
//!
//! Escaping is done by tera's autoescape with a per-service escape function, so an overriding
//! template is safe by default: `{{ summary }}` is escaped for Telegram HTML in `telegram.html`,
//! for Slack mrkdwn in `slack.md`, and kept on one line in `console.txt`.

pub mod digest;

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use serde::Serialize;

use crate::config::model::Config;
use crate::payload::{Alert, Notification, Status};
use prometheus_client::encoding::EncodeLabelSet;

/// `integration="telegram"`: the label of the split counter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct IntegrationLabels {
    pub integration: &'static str,
}

/// The counter of extra messages a notification needed (`vpsmon_receiver_messages_split_total`),
/// as the metrics registry holds it.
pub type SplitCounter = Family<IntegrationLabels, Counter>;

/// One message to send and the alerts it carries.
#[derive(Debug, Clone, PartialEq)]
pub struct Part<T> {
    pub body: T,
    /// Indices into `Notification::alerts`, ascending.
    pub alert_indices: Vec<usize>,
}

/// A template that cannot be loaded or rendered, or rendered to text a service would refuse.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("cannot read template {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("template {name}: {message}")]
    Template { name: String, message: String },
}

impl RenderError {
    pub(crate) fn template(name: &str, err: tera::Error) -> RenderError {
        // tera nests the useful cause; print the whole chain once.
        let mut message = err.to_string();
        let mut source = std::error::Error::source(&err);
        while let Some(s) = source {
            message.push_str(": ");
            message.push_str(&s.to_string());
            source = s.source();
        }
        RenderError::Template {
            name: name.to_string(),
            message,
        }
    }
}

/// What rendering needs: the time zone, the loaded templates, and the split counter.
pub struct RenderContext {
    pub tz: Tz,
    /// Every integration's template, by name.
    templates: std::collections::BTreeMap<&'static str, tera::Tera>,
    messages_split: Family<IntegrationLabels, Counter>,
}

impl std::fmt::Debug for RenderContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RenderContext")
            .field("tz", &self.tz)
            .finish_non_exhaustive()
    }
}

/// An integration's alert template: its name (also its file name in `templates_dir`), the
/// embedded default, and the escape every `{{ value }}` in it gets.
#[derive(Debug, Clone, Copy)]
pub struct Template {
    pub name: &'static str,
    pub default: &'static str,
    pub escape: fn(&str) -> String,
}

impl RenderContext {
    /// Loads `templates`: each embedded default, replaced by `templates_dir/<name>` when that
    /// file exists. A template that does not parse is an error now, not at the first alert.
    pub(crate) fn load(
        tz: Tz,
        templates_dir: Option<&Path>,
        templates: &[Template],
    ) -> Result<RenderContext, RenderError> {
        let mut loaded = std::collections::BTreeMap::new();
        for &Template {
            name,
            default,
            escape,
        } in templates
        {
            let text = match templates_dir.map(|d| d.join(name)) {
                Some(path) if path.exists() => std::fs::read_to_string(&path)
                    .map_err(|source| RenderError::Read { path, source })?,
                _ => default.to_string(),
            };
            let mut t = tera::Tera::default();
            // Escape every `{{ }}` in every template, with the service's own rules.
            t.autoescape_on(vec![""]);
            t.set_escape_fn(escape);
            t.add_raw_template(name, &text)
                .map_err(|e| RenderError::template(name, e))?;
            loaded.insert(name, t);
        }
        Ok(RenderContext {
            tz,
            templates: loaded,
            messages_split: Family::default(),
        })
    }

    /// The context for a loaded configuration, counting splits into the receiver's metrics.
    pub fn from_config(
        config: &Config,
        metrics: &impl AsRef<SplitCounter>,
    ) -> Result<RenderContext, RenderError> {
        let mut ctx = RenderContext::new(config.timezone, config.templates_dir.as_deref())?;
        ctx.messages_split = metrics.as_ref().clone();
        Ok(ctx)
    }

    pub(crate) fn count_split(&self, integration: &'static str, parts: usize) {
        if parts > 1 {
            self.messages_split
                .get_or_create(&IntegrationLabels { integration })
                .inc_by(parts as u64 - 1);
        }
    }

    /// Renders `alert` with the template `name` (an integration's [`Template::name`]).
    pub(crate) fn render_alert(
        &self,
        name: &str,
        n: &Notification,
        alert: &Alert,
    ) -> Result<String, RenderError> {
        let ctx = tera::Context::from_serialize(AlertView::new(n, alert, self.tz))
            .map_err(|e| RenderError::template(name, e))?;
        let Some(tera) = self.templates.get(name) else {
            return Err(RenderError::Template {
                name: name.to_string(),
                message: "no integration registers this template".into(),
            });
        };
        tera.render(name, &ctx)
            .map_err(|e| RenderError::template(name, e))
    }
}

/// The variables a template sees for one alert. Times are already formatted in the configured
/// time zone; `labels` and `annotations` hold every label and annotation.
#[derive(Debug, Serialize)]
pub struct AlertView<'a> {
    /// "firing" or "resolved".
    pub status: &'static str,
    /// 🔥 critical, ⚠️ warning, ℹ️ other, ✅ resolved.
    pub mark: &'static str,
    pub severity: &'a str,
    pub name: &'a str,
    pub agent: &'a str,
    pub summary: &'a str,
    pub description: &'a str,
    pub starts_at: String,
    /// Empty while firing.
    pub ends_at: String,
    /// How long a resolved alert lasted ("5m 3s"); empty while firing.
    pub duration: String,
    /// Links; empty when Alertmanager sent none.
    pub generator_url: &'a str,
    pub external_url: &'a str,
    pub fingerprint: &'a str,
    pub receiver: &'a str,
    pub timezone: String,
    pub labels: &'a crate::payload::Kv,
    pub annotations: &'a crate::payload::Kv,
}

/// Links longer than this are left out: an `<a href>` cannot be split across messages, and no
/// real Prometheus or Alertmanager URL comes near it.
const MAX_LINK: usize = 2048;

impl<'a> AlertView<'a> {
    pub fn new(n: &'a Notification, a: &'a Alert, tz: Tz) -> AlertView<'a> {
        let severity = a.labels.get("severity").map_or("", String::as_str);
        let mark = match (a.status, severity.to_ascii_lowercase().as_str()) {
            (Status::Resolved, _) => "✅",
            (_, "critical" | "error" | "page" | "high") => "🔥",
            (_, "warning" | "warn" | "medium") => "⚠️",
            _ => "ℹ️",
        };
        let annotation = |k: &str| a.annotations.get(k).map_or("", String::as_str);
        let link = |u: &'a str| if u.len() > MAX_LINK { "" } else { u };
        let duration = match (a.status, a.ends_at) {
            (Status::Resolved, Some(end)) => human_duration(end - a.starts_at),
            _ => String::new(),
        };
        AlertView {
            status: a.status.as_str(),
            mark,
            severity,
            name: a.name(),
            agent: a.agent().unwrap_or(""),
            summary: annotation("summary"),
            description: annotation("description"),
            starts_at: format_time(a.starts_at, tz),
            ends_at: a.ends_at.map(|t| format_time(t, tz)).unwrap_or_default(),
            duration,
            generator_url: link(&a.generator_url),
            external_url: link(&n.external_url),
            fingerprint: &a.fingerprint,
            receiver: &n.receiver,
            timezone: tz.name().to_string(),
            labels: &a.labels,
            annotations: &a.annotations,
        }
    }
}

/// `2026-11-21 18:00:00 UTC+08:00`, or `... UTC` in UTC: the offset is unambiguous where zone
/// abbreviations are not (Asia/Taipei's "CST" is also US Central).
pub fn format_time(t: DateTime<Utc>, tz: Tz) -> String {
    let local = t.with_timezone(&tz);
    if tz == chrono_tz::UTC {
        local.format("%Y-%m-%d %H:%M:%S UTC").to_string()
    } else {
        local.format("%Y-%m-%d %H:%M:%S UTC%:z").to_string()
    }
}

/// `3d 4h`, `2h 5m`, `5m 3s`, `42s`: the two largest units, which is what a reader wants.
pub fn human_duration(d: chrono::TimeDelta) -> String {
    let s = d.num_seconds().max(0);
    let (days, hours, mins, secs) = (s / 86400, s / 3600 % 24, s / 60 % 60, s % 60);
    if days > 0 {
        format!("{days}d {hours}h")
    } else if hours > 0 {
        format!("{hours}h {mins}m")
    } else if mins > 0 {
        format!("{mins}m {secs}s")
    } else {
        format!("{secs}s")
    }
}

/// `1 agent`, `2 agents`, `0 agents`: a count with its noun.
pub fn count<N: std::fmt::Display + PartialEq + From<u8>>(n: N, one: &str, many: &str) -> String {
    let noun = if n == N::from(1) { one } else { many };
    format!("{n} {noun}")
}

/// Length as Telegram and Slack limits count it, bounded from above: UTF-16 code units of the
/// text as sent. Telegram counts after entity parsing (tags and `&lt;` shrink), so the raw
/// length is never less than what Telegram measures.
pub fn utf16_len(s: &str) -> usize {
    s.chars().map(char::len_utf16).sum()
}
