//! The command line: node_exporter's flag names, each also read from a `VPSMON_*` env var.
//!
//! The static flags are a clap derive struct; the `--collector.<name>` / `--no-collector.<name>`
//! pairs are generated from [`crate::collector::specs`] so that adding a collector adds its flags.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::OnceLock;
use std::time::Duration;

use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Args, Command, FromArgMatches, value_parser};
use vpsmon_common::config;
use vpsmon_common::telemetry::LogFormat;

use crate::collector::{self, Config, FlagKind, PathKind, Paths, tunnel};
use crate::http::auth::{Auth, AuthConfigError};
use crate::http::listen::ListenAddress;

/// Exit code for a configuration the exporter cannot start with (the same as clap's usage errors).
pub const EXIT_CONFIG: u8 = 2;

/// The env var of a flag: `--web.listen-address` -> `VPSMON_WEB_LISTEN_ADDRESS`.
pub fn env_name(flag: &str) -> String {
    let mut name = String::from("VPSMON_");
    name.extend(flag.trim_start_matches('-').chars().map(|c| match c {
        '.' | '-' => '_',
        c => c.to_ascii_uppercase(),
    }));
    name
}

#[derive(Debug, Clone, Args)]
pub struct Flags {
    /// Address to listen on for HTTP requests: IP:PORT, [IPv6]:PORT, HOST:PORT, or :PORT for
    /// every interface. The default is loopback only: expose it through a tunnel, a private
    /// network or a reverse proxy, not directly.
    #[arg(
        long = "web.listen-address",
        env = "VPSMON_WEB_LISTEN_ADDRESS",
        default_value = "127.0.0.1:9100",
        value_parser = ListenAddress::from_str
    )]
    pub listen_address: ListenAddress,

    /// File holding a static bearer token required on /metrics and /api/health. Re-read when it
    /// changes, so the token can be rotated without a restart.
    #[arg(
        long = "web.auth-token-file",
        env = "VPSMON_WEB_AUTH_TOKEN_FILE",
        hide_env_values = true,
        value_name = "FILE"
    )]
    pub auth_token_file: Option<PathBuf>,

    /// File holding the HS256 secret of the JWTs accepted on /metrics and /api/health.
    #[arg(
        long = "web.jwt-secret-file",
        env = "VPSMON_WEB_JWT_SECRET_FILE",
        hide_env_values = true,
        value_name = "FILE"
    )]
    pub jwt_secret_file: Option<PathBuf>,

    /// Required `aud` claim of accepted JWTs. Unset: tokens that carry an `aud` are refused.
    #[arg(
        long = "web.jwt-audience",
        env = "VPSMON_WEB_JWT_AUDIENCE",
        value_name = "AUD",
        requires = "jwt_secret_file"
    )]
    pub jwt_audience: Option<String>,

    /// Required `iss` claim of accepted JWTs.
    #[arg(
        long = "web.jwt-issuer",
        env = "VPSMON_WEB_JWT_ISSUER",
        value_name = "ISS",
        requires = "jwt_secret_file"
    )]
    pub jwt_issuer: Option<String>,

    /// Clock skew tolerated on a JWT's `exp` and `nbf` claims, in whole seconds (0s: none).
    #[arg(
        long = "web.jwt-leeway",
        env = "VPSMON_WEB_JWT_LEEWAY",
        default_value = "60s",
        value_name = "DURATION",
        value_parser = parse_leeway
    )]
    pub jwt_leeway: Duration,

    /// Refuse to start with a secret file that group or others may read (without it: a warning).
    #[arg(long = "strict-secrets", env = "VPSMON_STRICT_SECRETS")]
    pub strict_secrets: bool,

    /// Most /metrics and /api/health requests served at once; more get 503. 0 means no limit.
    #[arg(
        long = "web.max-requests",
        env = "VPSMON_WEB_MAX_REQUESTS",
        default_value_t = 40
    )]
    pub max_requests: usize,

    /// Most connections open at once; past it the oldest idle one is closed, so idle clients
    /// cannot use up the open-files limit (systemd's default is 1024).
    #[arg(
        long = "web.max-connections",
        env = "VPSMON_WEB_MAX_CONNECTIONS",
        default_value_t = 512
    )]
    pub max_connections: usize,

    /// Time a client has to send a request's header; an idle keep-alive connection is closed
    /// after it too.
    #[arg(
        long = "web.header-timeout",
        env = "VPSMON_WEB_HEADER_TIMEOUT",
        default_value = "10s",
        value_parser = parse_duration,
        value_name = "DURATION"
    )]
    pub header_timeout: Duration,

    /// How long a scraper's connection, once answered, may wait idle for its next scrape (then
    /// it is closed); longer than the scrape interval, so Prometheus keeps one connection.
    #[arg(
        long = "web.keep-alive-timeout",
        env = "VPSMON_WEB_KEEP_ALIVE_TIMEOUT",
        default_value = "2m",
        value_parser = parse_duration,
        value_name = "DURATION"
    )]
    pub keep_alive_timeout: Duration,

    /// procfs mount point.
    #[arg(
        long = "path.procfs",
        env = "VPSMON_PATH_PROCFS",
        default_value = "/proc",
        value_name = "DIR"
    )]
    pub procfs: PathBuf,

    /// sysfs mount point.
    #[arg(
        long = "path.sysfs",
        env = "VPSMON_PATH_SYSFS",
        default_value = "/sys",
        value_name = "DIR"
    )]
    pub sysfs: PathBuf,

    /// Root filesystem mount point (the host's / when running in a container).
    #[arg(
        long = "path.rootfs",
        env = "VPSMON_PATH_ROOTFS",
        default_value = "/",
        value_name = "DIR"
    )]
    pub rootfs: PathBuf,

    /// udev database directory (disk serials, device-mapper names).
    #[arg(
        long = "path.udev.data",
        env = "VPSMON_PATH_UDEV_DATA",
        default_value = "/run/udev/data",
        value_name = "DIR"
    )]
    pub udev_data: PathBuf,

    /// YAML file of the actions a signed `POST /api/actions/{name}` may run (see the README's
    /// "Actions"). Unset: the endpoint does not exist and nothing can run.
    #[arg(
        long = "actions.config",
        env = "VPSMON_ACTIONS_CONFIG",
        value_name = "FILE"
    )]
    pub actions_config: Option<PathBuf>,

    /// File holding this agent's action key (HMAC-SHA256, at least 32 bytes); required with
    /// --actions.config. Never the metrics token. Re-read when it changes.
    #[arg(
        long = "actions.key-file",
        env = "VPSMON_ACTIONS_KEY_FILE",
        hide_env_values = true,
        value_name = "FILE"
    )]
    pub actions_key_file: Option<PathBuf>,

    /// File every action request, run or refused, is appended to as a JSON line; required with
    /// --actions.config.
    #[arg(
        long = "actions.audit-log",
        env = "VPSMON_ACTIONS_AUDIT_LOG",
        value_name = "FILE"
    )]
    pub actions_audit_log: Option<PathBuf>,

    /// Disable every collector that is on by default; then enable some with --collector.<name>.
    #[arg(
        long = "collector.disable-defaults",
        env = "VPSMON_COLLECTOR_DISABLE_DEFAULTS"
    )]
    pub disable_defaults: bool,

    /// Log format.
    #[arg(long = "log.format", env = "VPSMON_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Log level (error, warn, info, debug, trace, or a tracing filter). RUST_LOG overrides it.
    #[arg(long = "log.level", env = "VPSMON_LOG_LEVEL", default_value = "info")]
    pub log_level: String,
}

use collector::duration as parse_duration;

/// A leeway may be zero; jsonwebtoken counts it in whole seconds.
fn parse_leeway(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s)
        .map_err(|e| format!("{e} (expected a duration like 60s or 0s)"))?;
    if d.subsec_nanos() != 0 {
        return Err("must be whole seconds".into());
    }
    Ok(d)
}

/// The generated names of one collector's flags.
struct CollectorFlagNames {
    on: &'static str,
    off: &'static str,
    env: &'static str,
}

/// clap wants `'static` names; they are made (and leaked) once per process.
fn collector_flag_names() -> &'static [CollectorFlagNames] {
    static NAMES: OnceLock<Vec<CollectorFlagNames>> = OnceLock::new();
    NAMES.get_or_init(|| {
        let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
        collector::specs()
            .iter()
            .map(|spec| {
                let on = format!("collector.{}", spec.name);
                CollectorFlagNames {
                    env: leak(env_name(&on)),
                    on: leak(on),
                    off: leak(format!("no-collector.{}", spec.name)),
                }
            })
            .collect()
    })
}

/// The generated names of one collector option flag: its env var and its `--no-` form.
struct OptionNames {
    env: &'static str,
    off: &'static str,
}

/// clap wants `'static` names; they are made (and leaked) once per process.
fn option_names(name: &str) -> &'static OptionNames {
    static NAMES: OnceLock<std::collections::HashMap<&'static str, OptionNames>> = OnceLock::new();
    let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
    &NAMES.get_or_init(|| {
        collector::specs()
            .iter()
            .flat_map(|spec| spec.flags)
            .map(|f| {
                let name = f.name.trim_start_matches('-');
                let names = OptionNames {
                    env: leak(env_name(name)),
                    off: leak(format!("no-{name}")),
                };
                (name, names)
            })
            .collect()
    })[name]
}

/// A collector's own flags, as clap args (a switch also gets its `--no-` form).
fn option_args(spec: &collector::CollectorSpec) -> Vec<Arg> {
    let mut args = Vec::new();
    for flag in spec.flags {
        let name = flag.name.trim_start_matches('-');
        let mut arg = Arg::new(name)
            .long(name)
            .env(option_names(name).env)
            .help(flag.help)
            .help_heading("Collector options");
        if let Some(check) = flag.check {
            arg = arg.value_parser(move |s: &str| check(s).map(|()| s.to_owned()));
        }
        if let Some(other) = flag.requires {
            arg = arg.requires(other.trim_start_matches('-'));
        }
        match flag.kind {
            FlagKind::Value { default } => {
                args.push(arg.default_value(default).value_name(flag.value_name));
            }
            FlagKind::Optional => args.push(arg.value_name(flag.value_name)),
            FlagKind::Switch { default } => {
                let off = option_names(name).off;
                args.push(
                    arg.num_args(0..=1)
                        .require_equals(true)
                        .default_missing_value("true")
                        .default_value(if default { "true" } else { "false" })
                        .value_name("BOOL")
                        .value_parser(value_parser!(bool))
                        .overrides_with(off),
                );
                args.push(
                    Arg::new(off)
                        .long(off)
                        .help(format!("Turn --{name} off"))
                        .action(ArgAction::SetTrue)
                        .overrides_with(name)
                        .hide(true),
                );
            }
            FlagKind::Repeated => {
                args.push(arg.action(ArgAction::Append).value_name(flag.value_name));
            }
        }
    }
    args
}

/// The collectors' own flags' values as given (a flag left at its default is not stored, so
/// `Config` compares equal to `Config::default()` when nothing was given).
fn collector_options(matches: &ArgMatches) -> collector::Options {
    let given = |id: &str| {
        matches!(
            matches.value_source(id),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        )
    };
    let mut options = collector::Options::default();
    for flag in collector::specs().iter().flat_map(|s| s.flags) {
        let name = flag.name.trim_start_matches('-');
        let values = match flag.kind {
            FlagKind::Switch { .. } => {
                let off = option_names(name).off;
                if matches.get_flag(off) {
                    vec!["false".to_owned()]
                } else if given(name) {
                    vec![
                        matches
                            .get_one::<bool>(name)
                            .copied()
                            .unwrap_or(true)
                            .to_string(),
                    ]
                } else {
                    continue;
                }
            }
            FlagKind::Value { .. } | FlagKind::Optional | FlagKind::Repeated if given(name) => {
                matches
                    .get_many::<String>(name)
                    .map(|v| v.cloned().collect())
                    .unwrap_or_default()
            }
            FlagKind::Value { .. } | FlagKind::Optional | FlagKind::Repeated => continue,
        };
        options.set(flag, values);
    }
    options
}

/// The clap command: the static flags plus two flags per collector and each collector's own.
pub fn command() -> Command {
    let mut cmd = Flags::augment_args(
        Command::new("vpsmon-exporter")
            .version(env!("CARGO_PKG_VERSION"))
            .about("node_exporter-compatible host metrics read straight from /proc")
            .arg(config::print_config_arg()),
    );
    for (spec, names) in collector::specs().iter().zip(collector_flag_names()) {
        let default = if spec.default_enabled {
            "enabled"
        } else {
            "disabled"
        };
        cmd = cmd
            .arg(
                Arg::new(names.on)
                    .long(names.on)
                    .env(names.env)
                    .help(format!(
                        "Enable the {} collector ({default} by default): {}",
                        spec.name, spec.help
                    ))
                    .num_args(0..=1)
                    .require_equals(true)
                    .default_missing_value("true")
                    .value_name("BOOL")
                    .value_parser(value_parser!(bool))
                    .overrides_with(names.off)
                    .help_heading("Collectors"),
            )
            .arg(
                Arg::new(names.off)
                    .long(names.off)
                    .help(format!("Disable the {} collector", spec.name))
                    .action(ArgAction::SetTrue)
                    .overrides_with(names.on)
                    .help_heading("Collectors"),
            );
        for arg in option_args(spec) {
            cmd = cmd.arg(arg);
        }
    }
    cmd
}

/// Everything the exporter runs with, resolved from flags and env vars.
#[derive(Debug, Clone)]
pub struct Settings {
    pub flags: Flags,
    pub collectors: Config,
    /// The path flags given on the command line or in the environment, checked at start.
    given_paths: Vec<GivenPath>,
    /// (flag, env var) of each value read from the environment, for errors naming their source.
    from_env: Vec<(String, String)>,
    /// `--print-config`'s listing, when it was asked for.
    pub print_config: Option<String>,
}

/// A path flag the user set: it must name something that exists (a default may be absent,
/// e.g. no utmp in a container).
#[derive(Debug, Clone)]
struct GivenPath {
    /// The flag and the env var, when the value came from there.
    origin: config::Origin,
    path: PathBuf,
    kind: PathKind,
}

/// The path flags of this file, by clap id. Collectors' own path flags say so in their
/// [`collector::FlagSpec::path`].
const PATH_FLAGS: [&str; 3] = ["procfs", "sysfs", "rootfs"];

impl GivenPath {
    fn check(&self) -> Result<(), String> {
        let flag = &self.origin;
        let path = self.path.display();
        let directory = self.kind == PathKind::Directory;
        match std::fs::metadata(&self.path) {
            Ok(m) if directory && !m.is_dir() => Err(format!("{flag}: {path} is not a directory")),
            Ok(m) if !directory && m.is_dir() => {
                Err(format!("{flag}: {path} is a directory, not a file"))
            }
            Ok(_) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(format!("{flag}: {path} does not exist"))
            }
            Err(e) => Err(format!("{flag}: cannot use {path}: {e}")),
        }
    }
}

impl Settings {
    /// Parses the command line. Usage errors are clap's (they print and exit 2 via `exit()`).
    pub fn try_parse_from<I, T>(args: I) -> Result<Settings, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
        let mut cmd = command();
        // `--no-x` on the command line beats x's env var (flag > env); clap itself would
        // report the pair as conflicting, so x does not read its variable then.
        for arg in &args {
            if let Some(on) = arg.to_str().and_then(|a| a.strip_prefix("--no-"))
                && cmd.get_arguments().any(|a| a.get_id() == on)
            {
                cmd = cmd.mut_arg(on, |a| a.env(None));
            }
        }
        let matches = config::parse(&cmd, args)?;
        let flags = Flags::from_arg_matches(&matches)?;
        let options = collector_options(&matches);
        let enabled = enabled_collectors(&matches, flags.disable_defaults, &options);
        let collectors = Config {
            paths: Paths {
                procfs: flags.procfs.clone(),
                sysfs: flags.sysfs.clone(),
                rootfs: flags.rootfs.clone(),
                udev_data: flags.udev_data.clone(),
            },
            enabled,
            options,
        };
        let layers = config::Layers::new(&cmd, &matches);
        let mut given_paths: Vec<GivenPath> = PATH_FLAGS
            .iter()
            .filter_map(|&id| {
                Some(GivenPath {
                    origin: layers.given(id)?,
                    path: matches.get_one::<PathBuf>(id)?.clone(),
                    kind: PathKind::Directory,
                })
            })
            .collect();
        for flag in collector::specs().iter().flat_map(|s| s.flags) {
            let (Some(kind), Some(path)) = (flag.path, collectors.options.optional(flag)) else {
                continue;
            };
            if let Some(origin) = layers.given(flag.name.trim_start_matches('-')) {
                given_paths.push(GivenPath {
                    origin,
                    path: PathBuf::from(path),
                    kind,
                });
            }
        }
        let from_env = cmd
            .get_arguments()
            .filter_map(|a| match layers.given(a.get_id().as_str())?.source {
                config::Source::Env(var) => Some((format!("--{}", a.get_long()?), var)),
                _ => None,
            })
            .collect();
        let print_config = matches.get_flag(config::PRINT_CONFIG).then(|| {
            let enabled: Vec<_> = collectors.enabled.iter().map(String::as_str).collect();
            format!(
                "{}# collectors that run: {}\n",
                layers.print(),
                enabled.join(", ")
            )
        });
        Ok(Settings {
            flags,
            collectors,
            given_paths,
            from_env,
            print_config,
        })
    }

    /// A start error naming a flag (`--x: …`) also names the env var the value came from
    /// (`--x (from VPSMON_X): …`), as the path checks and the command line's errors do.
    pub fn name_source(&self, message: String) -> String {
        for (flag, var) in &self.from_env {
            if let Some(rest) = message.strip_prefix(&format!("{flag}: ")) {
                return format!("{flag} (from {var}): {rest}");
            }
        }
        message
    }

    /// Refuses path flags that point nowhere, naming the flag: a typo in `--path.procfs` would
    /// otherwise start an exporter whose every collector fails.
    pub fn check_paths(&self) -> Result<(), String> {
        self.given_paths.iter().try_for_each(GivenPath::check)
    }

    /// The authentication the flags ask for; an error names the flag and file.
    pub fn auth(&self) -> Result<Auth, AuthConfigError> {
        Auth::from_files(
            self.flags.auth_token_file.as_deref(),
            self.flags.jwt_secret_file.as_deref(),
            self.flags.jwt_audience.as_deref(),
            self.flags.jwt_issuer.as_deref(),
        )
        .map(|auth| auth.with_jwt_leeway(self.flags.jwt_leeway))
    }
}

/// `--no-collector.x` beats the default; of `--collector.x` and `--no-collector.x` the last given
/// wins (clap's overrides_with), as with node_exporter's kingpin flags. The tunnel collector is
/// on when its tunnel list is given (and not switched off explicitly).
fn enabled_collectors(
    matches: &ArgMatches,
    disable_defaults: bool,
    options: &collector::Options,
) -> BTreeSet<String> {
    let tunnel_configured = options.optional(&tunnel::CONFIG).is_some();
    collector::specs()
        .iter()
        .zip(collector_flag_names())
        .filter(|(spec, names)| {
            if matches.get_flag(names.off) {
                return false;
            }
            match matches.get_one::<bool>(names.on) {
                Some(on) => *on,
                None => {
                    (spec.default_enabled && !disable_defaults)
                        || (spec.name == "tunnel" && tunnel_configured)
                }
            }
        })
        .map(|(spec, _)| spec.name.to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::collector::{logins, netclass, ports};
    use crate::tunnel::failover::Thresholds;

    fn parse(args: &[&str]) -> Result<Settings, clap::Error> {
        Settings::try_parse_from(std::iter::once("vpsmon-exporter").chain(args.iter().copied()))
    }

    fn enabled(args: &[&str]) -> Vec<String> {
        parse(args)
            .unwrap()
            .collectors
            .enabled
            .into_iter()
            .collect()
    }

    #[test]
    fn env_names_follow_the_flag_names() {
        assert_eq!(
            env_name("--web.listen-address"),
            "VPSMON_WEB_LISTEN_ADDRESS"
        );
        assert_eq!(env_name("collector.cpu"), "VPSMON_COLLECTOR_CPU");
    }

    #[test]
    fn defaults_are_node_exporters() {
        let s = parse(&[]).unwrap();
        assert_eq!(s.flags.listen_address.to_string(), "127.0.0.1:9100");
        assert_eq!(s.flags.max_requests, 40);
        assert_eq!(s.collectors, Config::default());
    }

    #[test]
    fn collector_flags_switch_collectors() {
        let all = enabled(&[]);
        assert!(all.contains(&"cpu".to_string()));
        let without_cpu = enabled(&["--no-collector.cpu"]);
        assert!(!without_cpu.contains(&"cpu".to_string()));
        assert_eq!(without_cpu.len(), all.len() - 1);
        // The last of a pair wins.
        assert!(enabled(&["--no-collector.cpu", "--collector.cpu"]).contains(&"cpu".to_string()));
        assert!(!enabled(&["--collector.cpu", "--no-collector.cpu"]).contains(&"cpu".to_string()));
        assert!(!enabled(&["--collector.cpu=false"]).contains(&"cpu".to_string()));
        assert_eq!(
            enabled(&[
                "--collector.disable-defaults",
                "--collector.cpu",
                "--collector.meminfo"
            ]),
            ["cpu", "meminfo"]
        );
    }

    #[test]
    fn a_switch_option_takes_its_three_forms_and_its_env_var() {
        let flag = &netclass::IGNORE_INVALID_SPEED;
        let switch = |args: &[&str]| parse(args).unwrap().collectors.options.switch(flag);
        let env = "VPSMON_COLLECTOR_NETCLASS_IGNORE_INVALID_SPEED";
        if std::env::var_os(env).is_some() {
            // The child below: the variable alone turns the switch on; the command line wins.
            assert!(switch(&[]));
            assert!(!switch(&["--no-collector.netclass.ignore-invalid-speed"]));
            assert!(!switch(&[
                "--collector.netclass.ignore-invalid-speed=false"
            ]));
            return;
        }
        assert!(!switch(&[]));
        assert!(switch(&["--collector.netclass.ignore-invalid-speed"]));
        assert!(switch(&["--collector.netclass.ignore-invalid-speed=true"]));
        assert!(!switch(&[
            "--collector.netclass.ignore-invalid-speed=false"
        ]));
        assert!(!switch(&["--no-collector.netclass.ignore-invalid-speed"]));
        assert!(!switch(&[
            "--collector.netclass.ignore-invalid-speed",
            "--no-collector.netclass.ignore-invalid-speed"
        ]));
        assert!(switch(&[
            "--no-collector.netclass.ignore-invalid-speed",
            "--collector.netclass.ignore-invalid-speed"
        ]));
        // The env var form runs in a child test process: setting a variable here would leak
        // into the other tests parsing command lines at the same time.
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "cli::tests::a_switch_option_takes_its_three_forms_and_its_env_var",
            ])
            .env(env, "true")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("1 passed"),
            "{stdout}"
        );
    }

    #[test]
    fn bad_values_name_the_flag() {
        let err = parse(&["--web.listen-address", "nowhere"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("--web.listen-address"), "{err}");
        let err = parse(&["--collector.filesystem.mount-timeout", "soon"]).unwrap_err();
        assert!(
            err.to_string()
                .contains("--collector.filesystem.mount-timeout"),
            "{err}"
        );
        let err = parse(&["--collector.nope"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn only_the_path_flags_given_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_str().unwrap();
        // No utmp under this root: fine, a container has none (the collector says so).
        assert_eq!(
            parse(&["--path.rootfs", root]).unwrap().check_paths(),
            Ok(())
        );
        let utmp = dir.path().join("utmp");
        let given = |utmp: &Path| {
            parse(&["--collector.logins.utmp-path", utmp.to_str().unwrap()])
                .unwrap()
                .check_paths()
        };
        assert_eq!(
            given(&utmp),
            Err(format!(
                "--collector.logins.utmp-path: {} does not exist",
                utmp.display()
            ))
        );
        assert_eq!(
            given(dir.path()),
            Err(format!(
                "--collector.logins.utmp-path: {root} is a directory, not a file"
            ))
        );
        std::fs::write(&utmp, b"").unwrap();
        assert_eq!(given(&utmp), Ok(()));
    }

    #[test]
    fn extras_flags_and_the_tunnel_collector_following_its_config() {
        let s = parse(&[]).unwrap();
        assert!(s.collectors.enabled.contains("logins"));
        assert!(!s.collectors.enabled.contains("ports"));
        assert!(!s.collectors.enabled.contains("processes"));
        assert!(!s.collectors.enabled.contains("tunnel"));
        assert_eq!(s.collectors.options.value(&ports::MAX), "1000");
        let t = tunnel::tunnel_options(&s.collectors.options).unwrap();
        assert_eq!(t.interval, Duration::from_secs(30));
        assert!(!t.failover.enabled);

        let s = parse(&[
            "--collector.tunnel.config",
            "/etc/vpsmon/tunnels.yml",
            "--collector.tunnel.interval",
            "1m",
            "--collector.tunnel.gateway",
            "192.168.1.1",
            "--failover.enabled",
            "--failover.start-after",
            "5",
            "--failover.stop-on-recovery",
            "--failover.systemctl",
            "/tmp/fake-systemctl",
            "--collector.ports.max",
            "50",
            "--collector.logins.utmp-path",
            "/run/utmp",
        ])
        .unwrap();
        let c = &s.collectors;
        assert!(c.enabled.contains("tunnel"));
        let t = tunnel::tunnel_options(&c.options).unwrap();
        assert_eq!(t.interval, Duration::from_secs(60));
        assert_eq!(t.gateway.as_deref(), Some("192.168.1.1"));
        assert_eq!(
            t.failover.thresholds,
            Thresholds {
                start_after: 5,
                stop_after: 3,
                stop_on_recovery: true
            }
        );
        assert_eq!(t.failover.systemctl, PathBuf::from("/tmp/fake-systemctl"));
        assert_eq!(c.options.value(&ports::MAX), "50");
        assert_eq!(c.options.optional(&logins::UTMP_PATH), Some("/run/utmp"));
        assert!(
            !enabled(&[
                "--collector.tunnel.config",
                "t.yml",
                "--no-collector.tunnel"
            ])
            .contains(&"tunnel".to_string())
        );

        for (args, flag) in [
            (&["--failover.enabled"][..], "--collector.tunnel.config"),
            (&["--collector.ports.max", "0"], "--collector.ports.max"),
            (&["--failover.start-after", "0"], "--failover.start-after"),
            (
                &["--collector.tunnel.interval", "0s"],
                "--collector.tunnel.interval",
            ),
        ] {
            let err = parse(args).unwrap_err().to_string();
            assert!(err.contains(flag), "{args:?}: {err}");
        }
    }
}
