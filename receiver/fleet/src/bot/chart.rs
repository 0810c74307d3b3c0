//! `/chart <cpu|mem|disk|load|net> [agent] [minutes] [hhmm]` (`/mon_cpu_picture`): a PNG line
//! chart from `query_range`, one line per agent with a legend, the alert threshold dashed.
//! Without hhmm it covers the last `minutes`; with it, the `minutes` around hh:mm today in the
//! configured time zone (the seed's semantics), cut at now.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};

use crate::chart::{self, Chart, Line, Unit};
use crate::fleet::queries::FLEET;
use crate::fleet::series::{Metric, agent_selector};
use crate::thresholds;

use super::{CAPTION_LIMIT, Context, Reply, agents, truncate};

/// The chart's size in pixels (what Telegram shows well on a phone).
pub const WIDTH: u32 = 800;
pub const HEIGHT: u32 = 400;
/// Points per line at most: a day at one point per ~5 min, five minutes at one per second.
const MAX_POINTS: i64 = 300;

pub async fn chart(
    ctx: &Context,
    metric: Metric,
    agent: Option<&str>,
    minutes: u32,
    at: Option<(u32, u32)>,
) -> Result<Reply, crate::promapi::ApiError> {
    let agent = match agent {
        None => None,
        Some(a) => match agents::resolve(ctx, a).await? {
            Ok(a) => Some(a),
            Err(reply) => return Ok(Reply::Text(reply)),
        },
    };
    let now = Utc::now();
    let (start, end) = match window(ctx, now, minutes, at) {
        Ok(w) => w,
        Err(reply) => return Ok(Reply::Text(reply)),
    };
    let span = (end - start).num_seconds().max(1);
    let step = Duration::from_secs((span / MAX_POINTS).max(1) as u64);
    let selector = agent.as_deref().map_or(FLEET.to_string(), agent_selector);
    let mut lines = Vec::new();
    for (suffix, q) in metric.queries(&selector) {
        for s in ctx.prom.query_range(&q, start, end, step).await? {
            lines.push(Line {
                name: format!("{}{suffix}", s.label("agent").unwrap_or("?")),
                points: s.points,
            });
        }
    }
    lines.sort_by(|a, b| a.name.cmp(&b.name));
    let who = agent.as_deref().unwrap_or("all agents");
    let title = format!("{} — {who}", metric.title());
    let c = Chart {
        title: title.clone(),
        unit: unit(metric),
        threshold: thresholds::for_metric(&ctx.thresholds.get().await, metric),
        lines,
        start,
        end,
        tz: ctx.tz,
        width: WIDTH,
        height: HEIGHT,
    };
    let png = match chart::to_png(&c) {
        Ok(p) => p,
        Err(e) => return Ok(Reply::Text(format!("⚠️ {e}"))),
    };
    let fmt = |t: DateTime<Utc>| t.with_timezone(&ctx.tz).format("%H:%M").to_string();
    let caption = format!(
        "{title}, {}–{} {} ({minutes} min){}",
        fmt(start),
        fmt(end),
        ctx.tz,
        if c.lines.is_empty() {
            " — no data for this period"
        } else {
            ""
        }
    );
    Ok(Reply::Photo {
        png,
        caption: truncate(&caption, CAPTION_LIMIT),
    })
}

/// The period: the last `minutes`, or the `minutes` centred on hh:mm today (cut at now).
/// `Err` is the reply for a time of day that has not come yet.
pub fn window(
    ctx: &Context,
    now: DateTime<Utc>,
    minutes: u32,
    at: Option<(u32, u32)>,
) -> Result<(DateTime<Utc>, DateTime<Utc>), String> {
    let len = TimeDelta::minutes(minutes.into());
    let Some((h, m)) = at else {
        return Ok((now - len, now));
    };
    let today = now.with_timezone(&ctx.tz).date_naive();
    let local = today
        .and_hms_opt(h, m, 0)
        .and_then(|t| ctx.tz.from_local_datetime(&t).earliest())
        .ok_or_else(|| format!("{h:02}:{m:02} does not exist today in {}", ctx.tz))?;
    let centre = local.with_timezone(&Utc);
    let start = centre - len / 2;
    if start >= now {
        return Err(format!(
            "{h:02}{m:02} is later than now ({} {}): the chart would be empty. Usage: /chart <cpu|mem|disk|load|net> [agent] [minutes] [hhmm]",
            now.with_timezone(&ctx.tz).format("%H:%M"),
            ctx.tz
        ));
    }
    Ok((start, (centre + len / 2).min(now)))
}

fn unit(metric: Metric) -> Unit {
    match metric {
        Metric::Cpu | Metric::Memory | Metric::Disk => Unit::Percent,
        Metric::Load => Unit::PerCpu,
        Metric::Network => Unit::BytesPerSecond,
    }
}
