//! The command line. Every flag also reads a `VPSMON_*` env var; a flag or env var beats the
//! agents.yml `rules:` section, which beats the `--profile` default.

use std::path::{Path, PathBuf};

use clap::{CommandFactory, FromArgMatches, Parser, ValueEnum};
use vpsmon_common::config::{self, Layers};

use crate::agents::{RuleOverrides, normalize_address};
use crate::duration::PromDuration;
use crate::settings::{
    Intervals, Profile, Settings, Thresholds, check_load, check_min_agents, check_percent,
};
use crate::version::Version;

const DEFAULT_PROMETHEUS: &str = "127.0.0.1:9090";
const DEFAULT_ALERTMANAGER: &str = "127.0.0.1:9093";
pub const DEFAULT_RECEIVER_URL: &str = "http://127.0.0.1:9097/alerts";
/// Debian 12's prometheus package.
pub const DEFAULT_PROMETHEUS_VERSION: &str = "2.42.0";

#[derive(Debug, Parser)]
#[command(
    name = "vpsmon-gen-config",
    version,
    about = "Turns the agent list into prometheus.yml, alert rules, file_sd targets and alertmanager.yml",
    long_about = None
)]
pub struct Cli {
    /// The agent list: agent_name_ip.txt (`Name host:port` lines) or agents.yml.
    #[arg(long, env = "VPSMON_AGENTS", value_name = "FILE")]
    pub agents: PathBuf,

    /// Where prometheus/ and alertmanager/ are written.
    #[arg(long, env = "VPSMON_OUT_DIR", value_name = "DIR", default_value = ".")]
    pub out_dir: PathBuf,

    /// Defaults to start from: `default` for real use, `fast` (1s intervals, 5s `for`) for end-to-end tests.
    #[arg(long, env = "VPSMON_PROFILE", value_enum, default_value_t = Profile::Default)]
    pub profile: Profile,

    /// Compare the files on disk with what would be generated; print a diff and exit 1 if they differ. Writes nothing.
    #[arg(long, env = "VPSMON_CHECK")]
    pub check: bool,

    /// After prometheus.yml or the rules changed, POST URL/-/reload (Prometheus needs --web.enable-lifecycle). Repeatable.
    #[arg(
        long,
        env = "VPSMON_RELOAD_URL",
        value_name = "URL",
        value_delimiter = ','
    )]
    pub reload_url: Vec<String>,

    /// Prometheus version the config is for; Cloudflare Access headers need 2.55 or newer.
    #[arg(long, env = "VPSMON_PROMETHEUS_VERSION", value_name = "VERSION", default_value = DEFAULT_PROMETHEUS_VERSION)]
    pub prometheus_version: Version,

    /// Split the agents across N Prometheus servers (hashmod); writes prometheus-shard-0.yml … instead of prometheus.yml.
    #[arg(long, env = "VPSMON_SHARDS", value_name = "N", default_value_t = 1)]
    pub shards: u32,

    /// Add a remote_write to this URL (VictoriaMetrics, Mimir, Thanos Receive). Repeatable.
    #[arg(
        long,
        env = "VPSMON_REMOTE_WRITE",
        value_name = "URL",
        value_delimiter = ','
    )]
    pub remote_write: Vec<String>,

    // --- addresses ---
    /// Prometheus' own host:port (its self-scrape job). With --shards N give N, or one: shard i then uses port+i.
    #[arg(long, env = "VPSMON_PROMETHEUS_ADDRESS", value_name = "HOST:PORT", value_delimiter = ',', default_value = DEFAULT_PROMETHEUS)]
    pub prometheus_address: Vec<String>,

    /// Alertmanager's host:port; Prometheus sends alerts there and scrapes it. Repeatable for a cluster.
    #[arg(long, env = "VPSMON_ALERTMANAGER_ADDRESS", value_name = "HOST:PORT", value_delimiter = ',', default_value = DEFAULT_ALERTMANAGER)]
    pub alertmanager_address: Vec<String>,

    /// The receiver's webhook URL, where Alertmanager posts notifications.
    #[arg(long, env = "VPSMON_RECEIVER_URL", value_name = "URL", default_value = DEFAULT_RECEIVER_URL)]
    pub receiver_url: String,

    /// The receiver's host:port for scraping its /metrics [default: host and port of --receiver-url].
    #[arg(
        long,
        env = "VPSMON_RECEIVER_METRICS_ADDRESS",
        value_name = "HOST:PORT"
    )]
    pub receiver_metrics_address: Option<String>,

    /// File with the receiver's webhook bearer token, as Alertmanager sees the path (credentials_file).
    #[arg(long, env = "VPSMON_RECEIVER_TOKEN_FILE", value_name = "FILE")]
    pub receiver_token_file: Option<String>,

    // --- intervals (default: profile) ---
    /// How often Prometheus scrapes [default: 15s; fast: 1s].
    #[arg(long, env = "VPSMON_SCRAPE_INTERVAL", value_name = "DURATION")]
    pub scrape_interval: Option<PromDuration>,
    /// Scrape timeout [default: the smaller of 10s and the scrape interval].
    #[arg(long, env = "VPSMON_SCRAPE_TIMEOUT", value_name = "DURATION")]
    pub scrape_timeout: Option<PromDuration>,
    /// How often rules are evaluated [default: 15s; fast: 1s].
    #[arg(long, env = "VPSMON_EVALUATION_INTERVAL", value_name = "DURATION")]
    pub evaluation_interval: Option<PromDuration>,
    /// file_sd refresh_interval, a fallback to Prometheus' inotify watch [default: 5m; fast: 5s].
    #[arg(long, env = "VPSMON_FILE_SD_REFRESH", value_name = "DURATION")]
    pub file_sd_refresh: Option<PromDuration>,
    /// rate() window of the CPU rule [default: 2m; fast: 10s].
    #[arg(long, env = "VPSMON_RATE_WINDOW", value_name = "DURATION")]
    pub rate_window: Option<PromDuration>,
    /// Alertmanager group_wait [default: 30s; fast: 1s].
    #[arg(long, env = "VPSMON_GROUP_WAIT", value_name = "DURATION")]
    pub group_wait: Option<PromDuration>,
    /// Alertmanager group_interval [default: 5m; fast: 2s].
    #[arg(long, env = "VPSMON_GROUP_INTERVAL", value_name = "DURATION")]
    pub group_interval: Option<PromDuration>,
    /// Alertmanager repeat_interval [default: 4h; fast: 1h].
    #[arg(long, env = "VPSMON_REPEAT_INTERVAL", value_name = "DURATION")]
    pub repeat_interval: Option<PromDuration>,

    // --- rules (default: agents.yml `rules:`, else profile) ---
    /// AgentDown: how long `up == 0` lasts before it fires [default: 1m; fast: 5s].
    #[arg(long, env = "VPSMON_AGENT_DOWN_FOR", value_name = "DURATION")]
    pub agent_down_for: Option<PromDuration>,
    /// HighCPU: busy percent [default: 80].
    #[arg(long, env = "VPSMON_CPU_THRESHOLD", value_name = "PERCENT", value_parser = parse_percent)]
    pub cpu_threshold: Option<f64>,
    /// HighCPU `for` [default: 2m; fast: 5s].
    #[arg(long, env = "VPSMON_CPU_FOR", value_name = "DURATION")]
    pub cpu_for: Option<PromDuration>,
    /// HighMemory: used percent, 1 - MemAvailable/MemTotal [default: 85].
    #[arg(long, env = "VPSMON_MEMORY_THRESHOLD", value_name = "PERCENT", value_parser = parse_percent)]
    pub memory_threshold: Option<f64>,
    /// HighMemory `for` [default: 2m; fast: 5s].
    #[arg(long, env = "VPSMON_MEMORY_FOR", value_name = "DURATION")]
    pub memory_for: Option<PromDuration>,
    /// HighDisk: used percent of a filesystem [default: 90].
    #[arg(long, env = "VPSMON_DISK_THRESHOLD", value_name = "PERCENT", value_parser = parse_percent)]
    pub disk_threshold: Option<f64>,
    /// HighDisk `for` [default: 1m; fast: 5s].
    #[arg(long, env = "VPSMON_DISK_FOR", value_name = "DURATION")]
    pub disk_for: Option<PromDuration>,
    /// HighLoad: node_load1 per CPU [default: 1.5].
    #[arg(long, env = "VPSMON_LOAD_THRESHOLD", value_name = "LOAD", value_parser = parse_load)]
    pub load_threshold: Option<f64>,
    /// HighLoad `for` [default: 5m; fast: 5s].
    #[arg(long, env = "VPSMON_LOAD_FOR", value_name = "DURATION")]
    pub load_for: Option<PromDuration>,
    /// CollectorFailed `for` [default: 5m; fast: 5s].
    #[arg(long, env = "VPSMON_COLLECTOR_FAILED_FOR", value_name = "DURATION")]
    pub collector_failed_for: Option<PromDuration>,
    /// MonitorCutOff: percent of the agents down at once that means the monitoring host itself is cut off; it holds back their AgentDown alerts [default: 50].
    #[arg(long, env = "VPSMON_CUTOFF_THRESHOLD", value_name = "PERCENT", value_parser = parse_percent)]
    pub cutoff_threshold: Option<f64>,
    /// MonitorCutOff: how many agents at least must be down at once [default: 3].
    #[arg(long, env = "VPSMON_CUTOFF_MIN_AGENTS", value_name = "N", value_parser = parse_min_agents)]
    pub cutoff_min_agents: Option<u32>,
    /// Add the host rule pack (disk full within 24h, inodes, OOM kills, reboots, clock, network errors, failed units) [default: agents.yml `rules: {host_pack: ...}`, else off].
    #[arg(long, env = "VPSMON_HOST_PACK", value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub host_pack: Option<bool>,

    // --- your own rules ---
    /// Directory of your own Prometheus rule files (*.yml, *.yaml), checked by promtool and copied to prometheus/rules.d/ [default: rules.d next to the agent list, if it exists].
    #[arg(long, env = "VPSMON_RULES_DIR", value_name = "DIR")]
    pub rules_dir: Option<PathBuf>,
    /// promtool, which checks your rule files (Debian package `prometheus`).
    #[arg(
        long,
        env = "VPSMON_PROMTOOL",
        value_name = "FILE",
        default_value = "promtool"
    )]
    pub promtool: PathBuf,
}

fn parse_percent(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("\"{s}\" is not a number"))?;
    check_percent(v)
}

fn parse_load(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("\"{s}\" is not a number"))?;
    check_load(v)
}

fn parse_min_agents(s: &str) -> Result<u32, String> {
    let v: u32 = s
        .parse()
        .map_err(|_| format!("\"{s}\" is not a whole number"))?;
    check_min_agents(v)
}

/// The receiver serves /metrics where it takes webhooks, unless told otherwise.
fn receiver_metrics_default(receiver_url: &str) -> Result<String, String> {
    let url = reqwest::Url::parse(receiver_url).map_err(|e| e.to_string())?;
    // host_str() keeps the brackets of an IPv6 address.
    let host = url
        .host_str()
        .ok_or_else(|| format!("--receiver-url \"{receiver_url}\" has no host"))?;
    let port = url.port_or_known_default().unwrap_or(80);
    check_address("--receiver-metrics-address", &format!("{host}:{port}"))
}

fn check_url(flag: &str, url: &str) -> Result<String, String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| {
        format!("{flag} \"{url}\": not a valid URL ({e}); expected an http:// or https:// URL")
    })?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(format!(
            "{flag} \"{url}\": expected an http:// or https:// URL"
        ));
    }
    Ok(url.to_owned())
}

/// The receiver's webhook: no query string, because gen-config writes the receiver's one
/// parameter itself (`?dedup_window=`) and the receiver refuses any other.
fn check_receiver_url(flag: &str, url: &str) -> Result<String, String> {
    let url = check_url(flag, url)?;
    if url.contains('?') {
        return Err(format!(
            "{flag} \"{url}\": must have no query string (gen-config adds ?{}= itself)",
            vpsmon_common::webhook::DEDUP_WINDOW_PARAM
        ));
    }
    Ok(url)
}

fn check_address(flag: &str, addr: &str) -> Result<String, String> {
    normalize_address(addr).map_err(|e| format!("{flag}: {e}"))
}

/// Shard i's own address: given per shard, or one address whose port counts up.
/// `flag`: the flag and, when it is not the command line, where the value came from.
fn shard_addresses(flag: &str, given: &[String], shards: u32) -> Result<Vec<String>, String> {
    let addrs = given
        .iter()
        .map(|a| check_address(flag, a))
        .collect::<Result<Vec<_>, _>>()?;
    match addrs.len() {
        n if n == shards as usize => Ok(addrs),
        1 => {
            let (host, port) = addrs[0]
                .rsplit_once(':')
                .expect("normalized address has a port");
            let port: u32 = port.parse().expect("normalized port is numeric");
            (0..shards)
                .map(|i| {
                    let p = port + i;
                    if p > 65535 {
                        Err(format!(
                            "{flag} {}: shard {i} would need port {p}",
                            addrs[0]
                        ))
                    } else {
                        Ok(format!("{host}:{p}"))
                    }
                })
                .collect()
        }
        n => Err(format!(
            "{flag} was given {n} times for --shards {shards}: give one per shard, or one (shard i then uses port+i)"
        )),
    }
}

/// The command line: [`Cli`]'s flags and `--print-config`.
pub fn command() -> clap::Command {
    Cli::command().arg(config::print_config_arg())
}

impl Cli {
    /// Parses `args` with [`command`]; a bad value from an env var is reported naming it.
    pub fn parse_from_env<I, T>(
        cmd: &clap::Command,
        args: I,
    ) -> Result<(Cli, clap::ArgMatches), clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let matches = config::parse(cmd, args)?;
        Ok((Cli::from_arg_matches(&matches)?, matches))
    }

    /// The user's rule directory, and whether it was asked for (then it must exist).
    pub fn rules_dir(&self) -> (PathBuf, bool) {
        match &self.rules_dir {
            Some(d) => (d.clone(), true),
            None => (
                self.agents
                    .parent()
                    .unwrap_or(Path::new("."))
                    .join(crate::rules::user::COPY_DIR),
                false,
            ),
        }
    }

    /// Resolves every value: flag/env, else agents.yml `rules:`, else the profile's default.
    /// An error names the setting and where its value came from.
    pub fn settings(
        &self,
        layers: &Layers,
        from_file: &RuleOverrides,
        source: &Path,
    ) -> Result<Settings, String> {
        let source_name = source
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| source.display().to_string());
        let d = self.profile.defaults();
        let profile = self
            .profile
            .to_possible_value()
            .map(|v| format!("profile {}", v.get_name()));
        let layer = ProfileLayers {
            layers,
            file: &source_name,
            profile,
        };
        let r = &d.rules;
        let (dur, num) = (
            |id, given, file, def| layer.rule::<PromDuration>(id, given, file, def),
            |id, given, file, def| layer.rule::<f64>(id, given, file, def),
        );
        let profile_default = |id, given, def| layer.rule::<PromDuration>(id, given, None, def);
        let rules = Thresholds {
            agent_down_for: dur(
                "agent_down_for",
                self.agent_down_for,
                from_file.agent_down_for,
                r.agent_down_for,
            ),
            cpu_percent: num(
                "cpu_threshold",
                self.cpu_threshold,
                from_file.cpu_threshold,
                r.cpu_percent,
            ),
            cpu_for: dur("cpu_for", self.cpu_for, from_file.cpu_for, r.cpu_for),
            memory_percent: num(
                "memory_threshold",
                self.memory_threshold,
                from_file.memory_threshold,
                r.memory_percent,
            ),
            memory_for: dur(
                "memory_for",
                self.memory_for,
                from_file.memory_for,
                r.memory_for,
            ),
            disk_percent: num(
                "disk_threshold",
                self.disk_threshold,
                from_file.disk_threshold,
                r.disk_percent,
            ),
            disk_for: dur("disk_for", self.disk_for, from_file.disk_for, r.disk_for),
            load_per_cpu: num(
                "load_threshold",
                self.load_threshold,
                from_file.load_threshold,
                r.load_per_cpu,
            ),
            load_for: dur("load_for", self.load_for, from_file.load_for, r.load_for),
            collector_failed_for: dur(
                "collector_failed_for",
                self.collector_failed_for,
                from_file.collector_failed_for,
                r.collector_failed_for,
            ),
            cutoff_percent: num(
                "cutoff_threshold",
                self.cutoff_threshold,
                from_file.cutoff_threshold,
                r.cutoff_percent,
            ),
            cutoff_min_agents: layer.rule(
                "cutoff_min_agents",
                self.cutoff_min_agents,
                from_file.cutoff_min_agents,
                r.cutoff_min_agents,
            ),
            rate_window: profile_default("rate_window", self.rate_window, r.rate_window),
        };
        let i = &d.intervals;
        let scrape_interval =
            profile_default("scrape_interval", self.scrape_interval, i.scrape_interval);
        let scrape_timeout = layers
            .pick(
                "scrape_timeout",
                self.scrape_timeout,
                None,
                (std::cmp::min(PromDuration::secs(10), scrape_interval), None),
            )
            .value;
        let host_pack = layer.rule("host_pack", self.host_pack, from_file.host_pack, false);
        let named = |id: &str| layers.origin(id).to_string();
        // Checked before the metrics address derived from it, whose error would be less clear.
        let receiver_url = check_receiver_url(&named("receiver_url"), &self.receiver_url)?;
        let receiver_metrics_address = match &self.receiver_metrics_address {
            Some(a) => check_address(&named("receiver_metrics_address"), a)?,
            None => receiver_metrics_default(&self.receiver_url)?,
        };
        // Shown by --print-config with the value it resolved to.
        layers.pick(
            "receiver_metrics_address",
            self.receiver_metrics_address
                .as_ref()
                .map(|_| receiver_metrics_address.clone()),
            None,
            (
                receiver_metrics_address.clone(),
                Some("--receiver-url".into()),
            ),
        );
        let settings = Settings {
            intervals: Intervals {
                scrape_interval,
                evaluation_interval: profile_default(
                    "evaluation_interval",
                    self.evaluation_interval,
                    i.evaluation_interval,
                ),
                file_sd_refresh: profile_default(
                    "file_sd_refresh",
                    self.file_sd_refresh,
                    i.file_sd_refresh,
                ),
                group_wait: profile_default("group_wait", self.group_wait, i.group_wait),
                group_interval: profile_default(
                    "group_interval",
                    self.group_interval,
                    i.group_interval,
                ),
                repeat_interval: profile_default(
                    "repeat_interval",
                    self.repeat_interval,
                    i.repeat_interval,
                ),
                watchdog_interval: i.watchdog_interval,
            },
            scrape_timeout,
            rules,
            prometheus_addresses: shard_addresses(
                &named("prometheus_address"),
                &self.prometheus_address,
                self.shards.max(1),
            )?,
            alertmanager_addresses: self
                .alertmanager_address
                .iter()
                .map(|a| check_address(&named("alertmanager_address"), a))
                .collect::<Result<_, _>>()?,
            receiver_url,
            receiver_metrics_address,
            receiver_token_file: self.receiver_token_file.clone(),
            prometheus_version: self.prometheus_version,
            shards: self.shards,
            remote_write: self
                .remote_write
                .iter()
                .map(|u| check_url(&named("remote_write"), u))
                .collect::<Result<_, _>>()?,
            source_name,
            host_pack,
            user_rule_files: Vec::new(),
        };
        settings.validate()?;
        Ok(settings)
    }
}

/// gen-config's layers: flag or env > the agent list's `rules:` > the profile's default.
struct ProfileLayers<'a> {
    layers: &'a Layers<'a>,
    /// The agent list's file name, as sources name it.
    file: &'a str,
    /// `profile default` or `profile fast`.
    profile: Option<String>,
}

impl ProfileLayers<'_> {
    /// `id` is both the flag's id and the key under `rules:`.
    fn rule<T: std::fmt::Display>(
        &self,
        id: &str,
        given: Option<T>,
        file: Option<T>,
        default: T,
    ) -> T {
        let file = file.map(|v| (v, format!("{}: rules.{id}", self.file)));
        self.layers
            .pick(id, given, file, (default, self.profile.clone()))
            .value
    }
}
