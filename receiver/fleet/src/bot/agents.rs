//! `/agents` and `/cpu` `/mem` `/disk` `/load [agent]`: the fleet now, from one
//! [`fleet::snapshot`] (nine queries whatever the fleet's size), evaluated at a whole second
//! that the reply states. `/agents` of a large fleet is paged (Prev/Next buttons, `ag:<page>`).

use std::cmp::Ordering;

use teloxide::prelude::*;
use teloxide::types::{CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup};
use vpsmon_receiver_delivery::config::dashboard::Thresholds;

use crate::fleet::{self, AgentSnapshot, FleetSnapshot, series::Metric};
use crate::promapi::ApiError;

use super::{Context, MESSAGE_LIMIT, Reply, as_of, auth, settled_second};

/// The page buttons' `callback_data`: `ag:<page>`, pages counted from 1.
const PAGE_PREFIX: &str = "ag:";
/// The most pages a button may name (a fleet of 100,000 agents is about 2,500 pages).
const MAX_PAGE: usize = 99_999;

/// `/agents`: a summary line, then every agent with up/down, time since its last scrape, CPU,
/// memory and disk, the unhealthy ones first. A fleet whose list passes one message is shown a
/// page at a time, with Prev/Next buttons.
pub async fn agents(ctx: &Context) -> Result<Reply, ApiError> {
    let snap = fleet::snapshot(&ctx.prom, settled_second()).await?;
    if snap.agents.is_empty() {
        return Ok(Reply::Text(no_agents(ctx).await));
    }
    let thresholds = ctx.thresholds.get().await;
    let p = page(ctx, snap, &thresholds, 1);
    Ok(match p.keyboard {
        Some(keyboard) => Reply::Buttons {
            text: p.text,
            keyboard,
        },
        None => Reply::Text(p.text),
    })
}

/// One page of `/agents`.
struct Page {
    text: String,
    /// Prev/Next; `None` when the fleet fits one message.
    keyboard: Option<InlineKeyboardMarkup>,
    /// The page shown (from 1), of `pages`.
    page: usize,
    pages: usize,
}

/// Page `page` (from 1; past the last one, the last) of the fleet.
fn page(ctx: &Context, mut snap: FleetSnapshot, t: &Thresholds, page: usize) -> Page {
    unhealthy_first(&mut snap.agents, t);
    let up = snap.up_count();
    let over = snap
        .agents
        .iter()
        .filter(|a| a.up && a.badness(0, t).usage > 1.0)
        .count();
    let n = snap.agents.len();
    let head = |up: usize, down: usize, over: usize| {
        let mut head = format!(
            "{}: {up} up, {down} down",
            vpsmon_receiver_delivery::render::count(n, "agent", "agents"),
        );
        if over > 0 {
            head.push_str(&format!(", {over} over a threshold"));
        }
        head
    };
    let (widest_head, head) = (head(n, n, n), head(up, n - up, over));
    let foot = as_of(ctx, snap.time);
    let lines: Vec<String> = snap.agents.iter().map(line).collect();
    let sizes = sizes(&snap.agents, &lines);
    // As the lines, the header and the footer are counted at their widest (every count at the
    // fleet's size, the "over a threshold" clause, a time zone's name of up to 8), so that the
    // cuts do not move when a count or the clock's zone does. 48 is the room for the header's
    // " · page 99999/99999, unhealthy first" and the blank lines.
    let foot_room = utf16(&foot).max(utf16("as of 00:00:00 ") + 8);
    let room = MESSAGE_LIMIT.saturating_sub(utf16(&widest_head) + foot_room + 48);
    let pages = pages(&sizes, room);
    if pages.len() == 1 {
        return Page {
            text: format!("{head}\n\n{}\n\n{foot}", lines.join("\n")),
            keyboard: None,
            page: 1,
            pages: 1,
        };
    }
    let n = pages.len();
    let page = page.clamp(1, n);
    let text = format!(
        "{head} · page {page}/{n}, unhealthy first\n\n{}\n\n{foot}",
        lines[pages[page - 1].clone()].join("\n")
    );
    let mut row = Vec::new();
    if page > 1 {
        row.push(InlineKeyboardButton::callback(
            "« Prev",
            format!("{PAGE_PREFIX}{}", page - 1),
        ));
    }
    if page < n {
        row.push(InlineKeyboardButton::callback(
            "Next »",
            format!("{PAGE_PREFIX}{}", page + 1),
        ));
    }
    Page {
        text,
        keyboard: Some(InlineKeyboardMarkup::new([row])),
        page,
        pages: n,
    }
}

/// Down agents first, then those over a threshold (worst first), then the rest by name.
fn unhealthy_first(agents: &mut [AgentSnapshot], t: &Thresholds) {
    agents.sort_by(|a, b| {
        let (x, y) = (a.badness(0, t), b.badness(0, t));
        match (x.unhealthy(), y.unhealthy()) {
            (true, true) => x.worse_first(&y),
            (true, false) => Ordering::Less,
            (false, true) => Ordering::Greater,
            (false, false) => Ordering::Equal,
        }
    });
}

fn line(a: &AgentSnapshot) -> String {
    line_with(
        &a.agent,
        a.up,
        &a.scrape_age_seconds.map_or("never".into(), age),
        [a.cpu_percent, a.memory_percent, a.disk_percent].map(percent),
    )
}

/// `a`'s line with the parts that change from one snapshot to the next (up or down, the
/// scrape's age and the three percentages) as wide as they get: down ("down" is wider than
/// "up"), [`AGE_WIDTH`], [`PERCENT_WIDTH`]. Pages are cut by these widths, so that a press on
/// Next shows the agent after the last one of the page before, although every age has moved
/// on since: cut by the lines as they are, "9.8s ago" becoming "10.3s ago" moved the boundary
/// and an agent fell between two pages.
fn widest_line(a: &AgentSnapshot) -> String {
    let widest = |n| "0".repeat(n);
    line_with(
        &a.agent,
        false,
        &widest(AGE_WIDTH),
        [(); 3].map(|_| widest(PERCENT_WIDTH)),
    )
}

/// The UTF-16 sizes pages are cut by: each line's [`widest_line`] (or the line itself, were
/// it ever wider).
fn sizes(agents: &[AgentSnapshot], lines: &[String]) -> Vec<usize> {
    agents
        .iter()
        .zip(lines)
        .map(|(a, l)| utf16(l).max(utf16(&widest_line(a))))
        .collect()
}

/// The widest [`age`] can be: "99999d 23h ago" (it stops at 99999 days, 270 years).
const AGE_WIDTH: usize = 14;
/// The widest [`percent`]: "no value" ("100.0%" is shorter).
const PERCENT_WIDTH: usize = 8;

fn line_with(agent: &str, up: bool, age: &str, [cpu, mem, disk]: [String; 3]) -> String {
    format!(
        "{} {agent} {} · last scrape {age} · CPU {cpu} · mem {mem} · disk {disk}",
        if up { "🟢" } else { "🔴" },
        if up { "up" } else { "down" },
    )
}

/// Length as Telegram counts it (UTF-16 code units: 🟢 is two).
fn utf16(s: &str) -> usize {
    s.encode_utf16().count()
}

/// Packs lines of `sizes` UTF-16 code units, in order, into pages of at most `room` (a line
/// longer than a page by itself is a page, which `send` cuts).
fn pages(sizes: &[usize], room: usize) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let (mut start, mut used) = (0, 0);
    for (i, size) in sizes.iter().enumerate() {
        let len = size + 1;
        if i > start && used + len > room {
            out.push(start..i);
            (start, used) = (i, 0);
        }
        used += len;
    }
    out.push(start..sizes.len());
    out
}

/// The page a button names, if it is one of the page buttons this bot makes: `ag:` and a page
/// number from 1 to [`MAX_PAGE`], digits only.
pub fn page_button(data: &str) -> Option<usize> {
    let digits = data.strip_prefix(PAGE_PREFIX)?;
    if digits.is_empty() || digits.len() > 5 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().filter(|p| (1..=MAX_PAGE).contains(p))
}

/// Whether a button press is for `/agents`' pages (`ag:…`, valid or not).
pub fn is_page_press(q: &CallbackQuery) -> bool {
    q.data
        .as_deref()
        .is_some_and(|d| d.starts_with(PAGE_PREFIX))
}

/// A Prev/Next press: the fleet as of now, at the page asked for, in place of the message.
pub async fn press(bot: &Bot, ctx: &Context, q: CallbackQuery) {
    let answer = if !auth::allowed(ctx, &q.from) {
        auth::refuse(ctx, &q.from);
        auth::NOT_AUTHORIZED.to_string()
    } else {
        match q.data.as_deref().and_then(page_button) {
            None => "This button is not one of this receiver's.".to_string(),
            Some(asked) => turn(bot, ctx, &q, asked).await,
        }
    };
    if let Err(e) = bot.answer_callback_query(q.id).text(answer).await {
        tracing::warn!(error = %e, "Telegram bot: answerCallbackQuery failed");
    }
}

/// Edits the message to page `asked`; the short answer shown to the presser.
async fn turn(bot: &Bot, ctx: &Context, q: &CallbackQuery, asked: usize) -> String {
    let snap = match fleet::snapshot(&ctx.prom, settled_second()).await {
        Ok(s) if s.agents.is_empty() => return no_agents(ctx).await,
        Ok(s) => s,
        Err(e) => return super::truncate(&e.to_string(), 200),
    };
    let thresholds = ctx.thresholds.get().await;
    let p = page(ctx, snap, &thresholds, asked);
    let Some(m) = q.message.as_ref().and_then(|m| m.regular_message()) else {
        return "That message is gone: send /agents again.".into();
    };
    let mut edit = bot.edit_message_text(m.chat.id, m.id, p.text);
    // Without a keyboard (the fleet fits one message now) the buttons go.
    if let Some(k) = p.keyboard {
        edit = edit.reply_markup(k);
    }
    let edit = edit.await;
    if let Err(e) = edit {
        tracing::warn!(error = %e, "Telegram bot: cannot show the /agents page");
    }
    if p.page < asked {
        format!("The fleet has {} pages now: page {}.", p.pages, p.page)
    } else {
        format!("Page {}/{}.", p.page, p.pages)
    }
}

/// `/cpu [agent]` etc.: one agent (by name or address) or every agent.
pub async fn usage(ctx: &Context, metric: Metric, agent: Option<&str>) -> Result<String, ApiError> {
    let snap = fleet::snapshot(&ctx.prom, settled_second()).await?;
    let chosen: Vec<&AgentSnapshot> = match agent {
        Some(name) => match snap.find(name) {
            Some(a) => vec![a],
            None => return Ok(unknown_agent(name, &snap)),
        },
        None if snap.agents.is_empty() => return Ok(no_agents(ctx).await),
        None => snap.agents.iter().collect(),
    };
    let mut s = String::new();
    for a in chosen {
        s.push_str(&format!(
            "{}: {}{}\n",
            a.agent,
            value(metric, a),
            if a.up { "" } else { " (down)" }
        ));
    }
    s.push_str(&format!("\n{}", as_of(ctx, snap.time)));
    Ok(s)
}

fn value(metric: Metric, a: &AgentSnapshot) -> String {
    match metric {
        Metric::Cpu => match a.cpu_count {
            Some(n) => format!("CPU {} of {n} CPUs", percent(a.cpu_percent)),
            None => format!("CPU {}", percent(a.cpu_percent)),
        },
        Metric::Memory => format!("memory {}", percent(a.memory_percent)),
        Metric::Disk => format!("disk {} (fullest filesystem)", percent(a.disk_percent)),
        Metric::Load => match a.load_per_cpu {
            Some(l) => format!("load {l:.2} per CPU"),
            None => "load no value".into(),
        },
        Metric::Network => format!(
            "network in {} out {}",
            a.net_rx_bytes_per_second
                .map_or("no value".into(), |v| format!(
                    "{}/s",
                    crate::chart::human_bytes(v)
                )),
            a.net_tx_bytes_per_second
                .map_or("no value".into(), |v| format!(
                    "{}/s",
                    crate::chart::human_bytes(v)
                )),
        ),
    }
}

/// `12.5%`, or "no value" when Prometheus has none (down, or too new for a rate).
pub fn percent(v: Option<f64>) -> String {
    v.map_or("no value".into(), |v| format!("{v:.1}%"))
}

/// How long ago, to a tenth of a second under a minute, then in the two largest units:
/// "42.5s ago", "7m 5s ago", "3h 12m ago", "12d 4h ago". Never wider than [`AGE_WIDTH`].
fn age(seconds: f64) -> String {
    if seconds < 60.0 {
        return format!("{:.1}s ago", seconds.max(0.0));
    }
    let s = seconds.min(99_999.0 * 86_400.0) as u64;
    let (d, h, m) = (s / 86_400, s / 3_600 % 24, s / 60 % 60);
    if d > 0 {
        format!("{d}d {h}h ago")
    } else if h > 0 {
        format!("{h}h {m}m ago")
    } else {
        format!("{m}m {}s ago", s % 60)
    }
}

/// No `up` series: no agent configured, or none scraped yet (Prometheus' targets tell).
pub async fn no_agents(ctx: &Context) -> String {
    match ctx.prom.target_agents().await.map(|a| a.len()) {
        Ok(n) if n > 0 => crate::fleet::waiting_for_first_scrape(n),
        _ => "No agents yet: Prometheus scrapes no target with an agent label.".into(),
    }
}

/// The reply to an agent nobody knows: the known ones, so the next try is right.
pub fn unknown_agent(name: &str, snap: &FleetSnapshot) -> String {
    if snap.agents.is_empty() {
        return format!("Unknown agent {name:?}: Prometheus knows no agents yet.");
    }
    let known: Vec<&str> = snap.agents.iter().map(|a| a.agent.as_str()).collect();
    format!(
        "Unknown agent {name:?}. Known agents: {}.",
        known.join(", ")
    )
}

/// An agent by name or address → its name, or the "unknown agent" reply.
pub async fn resolve(ctx: &Context, name: &str) -> Result<Result<String, String>, ApiError> {
    let snap = fleet::snapshot(&ctx.prom, settled_second()).await?;
    Ok(match snap.find(name) {
        Some(a) => Ok(a.agent.clone()),
        None => Err(unknown_agent(name, &snap)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_buttons_are_validated() {
        assert_eq!(page_button("ag:1"), Some(1));
        assert_eq!(page_button("ag:25"), Some(25));
        for bad in [
            "ag:",
            "ag:0",
            "ag:-1",
            "ag:+2",
            "ag:1a",
            "ag:123456",
            "ag: 2",
            "s:1h:x",
            "2",
        ] {
            assert_eq!(page_button(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn pages_keep_lines_whole_within_the_room() {
        // Lines of 6 characters and a newline.
        let lines = [6; 10];
        let bounds = |room: usize, n: usize| -> Vec<(usize, usize)> {
            pages(&lines[..n], room)
                .into_iter()
                .map(|r| (r.start, r.end))
                .collect()
        };
        assert_eq!(bounds(21, 10), [(0, 3), (3, 6), (6, 9), (9, 10)]);
        assert_eq!(bounds(1000, 10), [(0, 10)]);
        // A line longer than a page is a page of its own.
        assert_eq!(bounds(2, 2), [(0, 1), (1, 2)]);
    }

    fn agent(i: usize, up: bool, age: Option<f64>, usage: Option<f64>) -> AgentSnapshot {
        AgentSnapshot {
            agent: format!("node-{}", "x".repeat(i % 7)),
            instances: vec![],
            up,
            scrape_age_seconds: age,
            cpu_percent: usage,
            cpu_count: None,
            memory_percent: usage,
            disk_percent: usage,
            load_per_cpu: None,
            net_rx_bytes_per_second: None,
            net_tx_bytes_per_second: None,
        }
    }

    #[test]
    fn pages_are_cut_in_the_same_places_however_the_ages_and_figures_move() {
        // `down_every`: every so many agents is down (1: all, 0: none).
        let cut = |down_every: usize, age: Option<f64>, usage: Option<f64>| {
            let agents: Vec<AgentSnapshot> = (0..400)
                .map(|i| agent(i, down_every == 0 || i % down_every != 0, age, usage))
                .collect();
            let lines: Vec<String> = agents.iter().map(line).collect();
            let pages = pages(&sizes(&agents, &lines), 3000);
            // Every page still fits the room with the lines as they are.
            for p in &pages {
                let text = lines[p.clone()].join("\n");
                assert!(utf16(&text) <= 3000, "{} > 3000", utf16(&text));
            }
            pages
        };
        let first = cut(5, Some(9.8), Some(5.0));
        assert!(first.len() > 3, "{first:?}");
        for (down_every, age, usage) in [
            (5, Some(10.3), Some(5.0)),
            (5, Some(61.0), Some(100.0)),
            (3, Some(3_601.0), None),
            (0, Some(86_400.0 * 400.0), Some(55.5)),
            (1, None, None),
        ] {
            assert_eq!(
                cut(down_every, age, usage),
                first,
                "down every {down_every}, age {age:?}, usage {usage:?}"
            );
        }
    }

    #[test]
    fn ages_are_two_units_and_never_wider_than_their_room() {
        for (seconds, want) in [
            (0.0, "0.0s ago"),
            (-0.4, "0.0s ago"),
            (42.46, "42.5s ago"),
            (59.94, "59.9s ago"),
            (60.0, "1m 0s ago"),
            (425.0, "7m 5s ago"),
            (3_599.0, "59m 59s ago"),
            (3_600.0, "1h 0m ago"),
            (11_545.0, "3h 12m ago"),
            (86_399.0, "23h 59m ago"),
            (1_051_200.0, "12d 4h ago"),
            (1e12, "99999d 0h ago"),
        ] {
            assert_eq!(age(seconds), want, "{seconds}");
        }
        for s in (0..200_000u64).step_by(7).chain([8_639_999_999]) {
            assert!(age(s as f64).len() <= AGE_WIDTH, "{s}: {}", age(s as f64));
        }
        assert_eq!(
            [None, Some(100.0), Some(999.9)].map(|v| percent(v).len()),
            [PERCENT_WIDTH, 6, 6]
        );
    }
}
