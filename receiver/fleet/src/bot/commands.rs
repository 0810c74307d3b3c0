//! Parsing a chat message into a [`Command`]: the English names and the seed's aliases
//! (`/mon_cpu`, `/mon_cpu_picture`, `/op_port`), `@botname` suffixes as Telegram sends them in
//! groups. A bad argument is an `Err` holding the one-line reply (what was wrong + usage).

use std::time::Duration;

use crate::fleet::series::Metric;

/// The longest chart a command may ask for: one day.
pub const MAX_MINUTES: u32 = 24 * 60;
/// The chart period when none is given (the seed's default).
pub const DEFAULT_MINUTES: u32 = 5;

/// A parsed command.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Help,
    Agents,
    /// `/cpu`, `/mem`, `/disk`, `/load` (`/mon_*`): current values, one agent or all.
    Usage {
        metric: Metric,
        agent: Option<String>,
    },
    /// `/chart <metric> [agent] [minutes] [hhmm]` (`/mon_cpu_picture` …).
    Chart {
        metric: Metric,
        agent: Option<String>,
        minutes: u32,
        /// (hour, minute) today in the configured time zone: the chart is centred on it.
        at: Option<(u32, u32)>,
    },
    Alerts,
    Silences,
    /// `/silence <alertname|agent> <duration> [comment]`.
    Silence {
        target: String,
        duration: Duration,
        comment: String,
    },
    Ports {
        agent: String,
    },
}

/// Every command, its usage and an example: `/help` prints this, and bad input quotes a line.
pub const HELP: &[(&str, &str, &str)] = &[
    (
        "/agents",
        "every agent: up/down, last scrape, CPU, memory, disk now",
        "/agents",
    ),
    ("/cpu [agent]", "CPU busy now (alias /mon_cpu)", "/cpu web1"),
    (
        "/mem [agent]",
        "memory used now (alias /mon_mem)",
        "/mem 10.0.0.5",
    ),
    (
        "/disk [agent]",
        "fullest filesystem now (alias /mon_disk)",
        "/disk",
    ),
    (
        "/load [agent]",
        "1-minute load per CPU now (alias /mon_load)",
        "/load web1",
    ),
    (
        "/chart <cpu|mem|disk|load|net> [agent] [minutes] [hhmm]",
        "a line chart of the last minutes (default 5), or of the minutes around hhmm today \
         (alias /mon_cpu_picture [agent] [minutes] [hhmm])",
        "/chart cpu web1 30 0915",
    ),
    ("/alerts", "firing alerts", "/alerts"),
    ("/silences", "active silences", "/silences"),
    (
        "/silence <alertname|agent> <duration> [comment]",
        "silence an alert or an agent",
        "/silence web1 2h upgrading",
    ),
    (
        "/ports <agent>",
        "listening ports (alias /op_port)",
        "/ports web1",
    ),
    ("/help", "this list (also /start)", "/help"),
];

fn usage(cmd: &str) -> &'static str {
    HELP.iter()
        .find(|(u, _, _)| u.split_whitespace().next() == Some(cmd))
        .map_or("/help", |(u, _, _)| u)
}

/// `why`, then the usage of `cmd`: the one-line reply to bad input.
fn bad(cmd: &str, why: impl std::fmt::Display) -> String {
    format!("{why}. Usage: {}", usage(cmd))
}

/// `Ok(None)`: not a command (plain text). `Err(reply)`: a command used wrongly, or unknown.
pub fn parse(text: &str) -> Result<Option<Command>, String> {
    let text = text.trim();
    let Some(rest) = text.strip_prefix('/') else {
        return Ok(None);
    };
    let mut words = rest.split_whitespace();
    let head = words.next().unwrap_or("");
    // In groups Telegram appends the bot's username: /cpu@vpsmon_bot.
    let name = head.split('@').next().unwrap_or("").to_ascii_lowercase();
    let args: Vec<&str> = words.collect();
    let no_args = |cmd: Command, name: &str| {
        if args.is_empty() {
            Ok(Some(cmd))
        } else {
            Err(bad(
                &format!("/{name}"),
                format!("/{name} takes no arguments"),
            ))
        }
    };
    let usage_cmd = |metric: Metric, cmd: &str| match args[..] {
        [] => Ok(Some(Command::Usage {
            metric,
            agent: None,
        })),
        [agent] => Ok(Some(Command::Usage {
            metric,
            agent: Some(agent.to_string()),
        })),
        _ => Err(bad(cmd, "give at most one agent")),
    };
    match name.as_str() {
        "start" | "help" => Ok(Some(Command::Help)),
        "agents" => no_args(Command::Agents, "agents"),
        "cpu" | "mon_cpu" => usage_cmd(Metric::Cpu, "/cpu"),
        "mem" | "memory" | "mon_mem" | "mon_memory" => usage_cmd(Metric::Memory, "/mem"),
        "disk" | "mon_disk" => usage_cmd(Metric::Disk, "/disk"),
        "load" | "mon_load" => usage_cmd(Metric::Load, "/load"),
        "chart" => {
            let Some((metric, rest)) = args.split_first() else {
                return Err(bad("/chart", "name a chart: cpu, mem, disk, load or net"));
            };
            let metric: Metric = metric.parse().map_err(|e| bad("/chart", e))?;
            chart(metric, rest, "/chart")
        }
        "mon_cpu_picture" => chart(Metric::Cpu, &args, "/chart"),
        "mon_mem_picture" => chart(Metric::Memory, &args, "/chart"),
        "mon_disk_picture" => chart(Metric::Disk, &args, "/chart"),
        "mon_load_picture" => chart(Metric::Load, &args, "/chart"),
        "alerts" => no_args(Command::Alerts, "alerts"),
        "silences" => no_args(Command::Silences, "silences"),
        "silence" => {
            let [target, duration, comment @ ..] = &args[..] else {
                return Err(bad("/silence", "give what to silence and for how long"));
            };
            let duration = humantime::parse_duration(duration)
                .ok()
                .filter(|d| !d.is_zero())
                .ok_or_else(|| {
                    bad(
                        "/silence",
                        format!("{duration:?} is not a duration (e.g. 30m, 2h, 1d)"),
                    )
                })?;
            Ok(Some(Command::Silence {
                target: target.to_string(),
                duration,
                comment: comment.join(" "),
            }))
        }
        "ports" | "op_port" => match args[..] {
            [agent] => Ok(Some(Command::Ports {
                agent: agent.to_string(),
            })),
            _ => Err(bad("/ports", "name one agent")),
        },
        _ => Err(format!(
            "Unknown command /{name}. /help lists the commands."
        )),
    }
}

/// `[agent] [minutes] [hhmm]`: the agent is the first argument unless it is a number.
fn chart(metric: Metric, args: &[&str], cmd: &str) -> Result<Option<Command>, String> {
    let numeric = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let (agent, rest) = match args.split_first() {
        Some((a, rest)) if !numeric(a) => (Some(a.to_string()), rest),
        _ => (None, args),
    };
    let (minutes, hhmm) = match rest {
        [] => (None, None),
        [m] => (Some(*m), None),
        [m, t] => (Some(*m), Some(*t)),
        _ => return Err(bad(cmd, "too many arguments")),
    };
    let minutes = match minutes {
        None => DEFAULT_MINUTES,
        Some(m) => m
            .parse::<u32>()
            .ok()
            .filter(|m| (1..=MAX_MINUTES).contains(m))
            .ok_or_else(|| {
                bad(
                    cmd,
                    format!("minutes {m:?} must be a whole number from 1 to {MAX_MINUTES}"),
                )
            })?,
    };
    let at = match hhmm {
        None => None,
        Some(t) => Some(parse_hhmm(t).ok_or_else(|| {
            bad(
                cmd,
                format!("hhmm {t:?} is not a time of day (24-hour hhmm, e.g. 0930)"),
            )
        })?),
    };
    Ok(Some(Command::Chart {
        metric,
        agent,
        minutes,
        at,
    }))
}

fn parse_hhmm(t: &str) -> Option<(u32, u32)> {
    if t.len() != 4 || !t.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m) = (t[..2].parse().ok()?, t[2..].parse().ok()?);
    (h < 24 && m < 60).then_some((h, m))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart_of(text: &str) -> Command {
        parse(text).unwrap().unwrap()
    }

    #[test]
    fn names_aliases_and_bot_suffix() {
        assert_eq!(parse("hello"), Ok(None));
        assert_eq!(parse("/start"), Ok(Some(Command::Help)));
        assert_eq!(parse("/agents@vpsmon_bot"), Ok(Some(Command::Agents)));
        assert_eq!(
            parse("/mon_cpu 10.0.0.5:9100"),
            Ok(Some(Command::Usage {
                metric: Metric::Cpu,
                agent: Some("10.0.0.5:9100".into())
            }))
        );
        assert_eq!(
            parse("/mem"),
            Ok(Some(Command::Usage {
                metric: Metric::Memory,
                agent: None
            }))
        );
        assert_eq!(
            parse("/nope"),
            Err("Unknown command /nope. /help lists the commands.".into())
        );
    }

    #[test]
    fn chart_arguments() {
        assert_eq!(
            chart_of("/chart net"),
            Command::Chart {
                metric: Metric::Network,
                agent: None,
                minutes: 5,
                at: None
            }
        );
        assert_eq!(
            chart_of("/chart cpu web1 30 0915"),
            Command::Chart {
                metric: Metric::Cpu,
                agent: Some("web1".into()),
                minutes: 30,
                at: Some((9, 15))
            }
        );
        assert_eq!(
            chart_of("/mon_cpu_picture 10 2359"),
            Command::Chart {
                metric: Metric::Cpu,
                agent: None,
                minutes: 10,
                at: Some((23, 59))
            }
        );
        assert_eq!(
            parse("/chart cpu web1 0"),
            Err("minutes \"0\" must be a whole number from 1 to 1440. Usage: /chart <cpu|mem|disk|load|net> [agent] [minutes] [hhmm]".into())
        );
        assert_eq!(
            parse("/chart cpu web1 ten"),
            Err("minutes \"ten\" must be a whole number from 1 to 1440. Usage: /chart <cpu|mem|disk|load|net> [agent] [minutes] [hhmm]".into())
        );
        assert_eq!(
            parse("/chart cpu 5 2460"),
            Err("hhmm \"2460\" is not a time of day (24-hour hhmm, e.g. 0930). Usage: /chart <cpu|mem|disk|load|net> [agent] [minutes] [hhmm]".into())
        );
        assert_eq!(
            parse("/chart fan"),
            Err("\"fan\" is not a chart (use cpu, mem, disk, load or net). Usage: /chart <cpu|mem|disk|load|net> [agent] [minutes] [hhmm]".into())
        );
    }

    #[test]
    fn silence_arguments() {
        assert_eq!(
            parse("/silence HighCPU 2h deploying the app"),
            Ok(Some(Command::Silence {
                target: "HighCPU".into(),
                duration: Duration::from_secs(7200),
                comment: "deploying the app".into()
            }))
        );
        assert_eq!(
            parse("/silence web1 soon"),
            Err("\"soon\" is not a duration (e.g. 30m, 2h, 1d). Usage: /silence <alertname|agent> <duration> [comment]".into())
        );
        assert_eq!(
            parse("/silence web1"),
            Err("give what to silence and for how long. Usage: /silence <alertname|agent> <duration> [comment]".into())
        );
    }
}
