//! `/alerts` (firing, from Alertmanager), `/silences` (active) and
//! `/silence <alertname|agent|label=value> <duration> [comment]`.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use teloxide::types::User;

use crate::fleet;
use crate::promapi::ApiError;
use crate::promapi::alertmanager::{AlertFilter, Matcher, NewSilence};

use super::{Context, auth};

/// `/alerts`: firing alerts that are neither silenced nor inhibited, oldest first.
pub async fn alerts(ctx: &Context) -> Result<String, ApiError> {
    let alerts = ctx.am.alerts(AlertFilter::FIRING).await?;
    if alerts.is_empty() {
        return Ok("✅ No firing alerts.".into());
    }
    let now = Utc::now();
    let mut s = format!("🔥 {} firing:\n", alerts.len());
    for a in &alerts {
        s.push_str(&format!("\n• {}", a.alertname()));
        if let Some(agent) = a.label("agent") {
            s.push_str(&format!(" on {agent}"));
        }
        if let Some(sev) = a.label("severity") {
            s.push_str(&format!(" ({sev})"));
        }
        s.push_str(&format!(", for {}", since(now, a.starts_at)));
        if let Some(summary) = a.annotations.get("summary") {
            s.push_str(&format!(" — {summary}"));
        }
    }
    Ok(s)
}

/// `/silences`: the active ones, soonest to end first.
pub async fn silences(ctx: &Context) -> Result<String, ApiError> {
    let mut active: Vec<_> = ctx
        .am
        .silences()
        .await?
        .into_iter()
        .filter(|s| s.status.state == "active")
        .collect();
    if active.is_empty() {
        return Ok("No active silences.".into());
    }
    active.sort_by_key(|s| s.ends_at);
    let mut s = format!("🔕 {} active:\n", active.len());
    for x in &active {
        let matchers: Vec<String> = x.matchers.iter().map(matcher_text).collect();
        s.push_str(&format!(
            "\n• {} until {} by {}",
            matchers.join(", "),
            local(ctx, x.ends_at),
            x.created_by
        ));
        if !x.comment.is_empty() {
            s.push_str(&format!(" — {}", x.comment));
        }
        s.push_str(&format!(" (id {})", x.id));
    }
    Ok(s)
}

/// `/silence`: `label=value` as given; a known agent → `agent="…"`; anything else is an
/// alert name → `alertname="…"`.
pub async fn silence(
    ctx: &Context,
    user: &User,
    target: &str,
    duration: Duration,
    comment: &str,
) -> Result<String, ApiError> {
    let matcher = match target.split_once('=') {
        Some((name, value)) if !name.is_empty() && !value.is_empty() => {
            Matcher::equal(name, value.trim_matches('"'))
        }
        _ => {
            let agents = fleet::agent_names(&ctx.prom).await?;
            if agents.iter().any(|a| a == target) {
                Matcher::equal("agent", target)
            } else {
                Matcher::equal("alertname", target)
            }
        }
    };
    let who = auth::who(user);
    let starts_at = Utc::now();
    let ends_at = starts_at + TimeDelta::from_std(duration).unwrap_or(TimeDelta::days(365));
    let silence = NewSilence {
        matchers: vec![matcher.clone()],
        starts_at,
        ends_at,
        created_by: format!("telegram {who}"),
        comment: if comment.is_empty() {
            format!("silenced from Telegram by {who}")
        } else {
            comment.to_string()
        },
    };
    let id = ctx.am.create_silence(&silence).await?;
    tracing::info!(silence = %id, matcher = %matcher_text(&matcher), by = %who, "Telegram bot: silence created");
    Ok(format!(
        "🔕 Silenced {} until {} ({}). Id {id}.",
        matcher_text(&matcher),
        local(ctx, ends_at),
        humantime::format_duration(duration)
    ))
}

/// `name="value"`, `name=~"regex"`, `name!="value"`, `name!~"regex"`.
pub fn matcher_text(m: &Matcher) -> String {
    let op = match (m.is_equal, m.is_regex) {
        (true, false) => "=",
        (true, true) => "=~",
        (false, false) => "!=",
        (false, true) => "!~",
    };
    format!("{}{op}{:?}", m.name, m.value)
}

/// A time in the configured zone: `2026-11-21 21:55 UTC`.
pub fn local(ctx: &Context, t: DateTime<Utc>) -> String {
    t.with_timezone(&ctx.tz)
        .format("%Y-%m-%d %H:%M %Z")
        .to_string()
}

fn since(now: DateTime<Utc>, t: DateTime<Utc>) -> String {
    let secs = (now - t).num_seconds().max(0) as u64;
    humantime::format_duration(Duration::from_secs(secs)).to_string()
}
