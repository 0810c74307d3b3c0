//! vpsmon-stack: the program behind `./vpsmon`. `up` runs the exporter, Prometheus, Alertmanager
//! and the receiver on loopback as one supervised stack; `status` and `down` find it again
//! through the state dir.
//!
//! - [`parts`]: the four parts, their ports, files and command lines.
//! - [`up`]: the supervisor (start, wait ready, watch the agent list, stop on a signal).
//! - [`control`]: `status` and `down`, from another terminal.
//! - [`state`]: the lock and `run/stack.json` that tie those together, and the state dir's
//!   permissions.
//! - [`env`], [`secrets`]: what each part is told, and the secrets it is given as files.

pub mod control;
pub mod dotenv;
pub mod env;
pub mod parts;
pub mod process;
pub mod secrets;
pub mod state;
pub mod up;

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

/// Typed failures a user must act on; each names what to do.
#[derive(Debug, thiserror::Error)]
pub enum StackError {
    #[error(
        "vpsmon is already running from {state_dir} (supervisor pid {pid}); nothing was changed. `./vpsmon status` shows it, `./vpsmon down` stops it"
    )]
    AlreadyRunning { state_dir: String, pid: String },
    #[error("{0}")]
    PortsInUse(String),
    #[error(
        "parts of an earlier stack are still running ({0}); stop them first with `./vpsmon down`"
    )]
    Leftovers(String),
    #[error("{0}")]
    ProgramMissing(String),
}

#[derive(Debug, Parser)]
#[command(
    name = "vpsmon-stack",
    version,
    about = "Runs vpsmon's local stack (exporter, Prometheus, Alertmanager, receiver) on loopback. Usually started through ./vpsmon."
)]
pub struct Cli {
    /// Where configs, data, logs and the run files live.
    #[arg(
        long,
        env = "VPSMON_STATE_DIR",
        default_value = ".state",
        global = true
    )]
    pub state_dir: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate configs, start the four parts, print their URLs; Ctrl-C stops them.
    Up(UpArgs),
    /// Stop a running stack (SIGTERM, then SIGKILL after the grace period).
    Down(DownArgs),
    /// Show each part and whether it is up (exit code 0 all up, 3 otherwise).
    Status,
    /// Create an agent's action key (issue 19) and print what to install on the agent.
    ActionKey(ActionKeyArgs),
}

#[derive(Debug, Clone, Args)]
pub struct ActionKeyArgs {
    /// The agent's name, as in agents.yml
    pub agent: String,
    /// Replace an existing key (rotation)
    #[arg(long)]
    pub rotate: bool,
}

#[derive(Debug, Clone, Args)]
pub struct UpArgs {
    #[arg(long, env = "VPSMON_EXPORTER_PORT", default_value_t = 9100)]
    pub exporter_port: u16,
    #[arg(long, env = "VPSMON_PROMETHEUS_PORT", default_value_t = 9090)]
    pub prometheus_port: u16,
    #[arg(long, env = "VPSMON_ALERTMANAGER_PORT", default_value_t = 9093)]
    pub alertmanager_port: u16,
    #[arg(long, env = "VPSMON_RECEIVER_PORT", default_value_t = 9097)]
    pub receiver_port: u16,
    /// Directory holding vpsmon-exporter, vpsmon-gen-config and vpsmon-receiver
    /// [default: the directory of this program]
    #[arg(long, env = "VPSMON_BIN_DIR")]
    pub bin_dir: Option<PathBuf>,
    /// Prometheus server binary (also read from PROMETHEUS_BIN, testkit's name) [default:
    /// `prometheus` on PATH]
    #[arg(long, env = "VPSMON_PROMETHEUS_BIN")]
    pub prometheus_bin: Option<PathBuf>,
    /// Alertmanager binary (also read from ALERTMANAGER_BIN, testkit's name) [default:
    /// `prometheus-alertmanager` or `alertmanager` on PATH]
    #[arg(long, env = "VPSMON_ALERTMANAGER_BIN")]
    pub alertmanager_bin: Option<PathBuf>,
    /// gen-config profile (`fast`: 1 s scrape and evaluation, for demos and tests)
    #[arg(long, env = "VPSMON_PROFILE")]
    pub profile: Option<String>,
    /// KEY=VALUE file (BOT_TOKEN, ALERT_CHAT_ID, ...) passed to the parts; the environment wins
    #[arg(long, env = "VPSMON_ENV_FILE", default_value = ".env")]
    pub env_file: PathBuf,
    /// Seconds a part may take to become ready
    #[arg(long, env = "VPSMON_READY_TIMEOUT", default_value_t = 60)]
    pub ready_timeout: u64,
    /// Seconds each part gets to stop after SIGTERM before SIGKILL
    #[arg(long, env = "VPSMON_STOP_GRACE", default_value_t = 10)]
    pub grace: u64,
}

#[derive(Debug, Clone, Args)]
pub struct DownArgs {
    /// Seconds the stack gets to stop after SIGTERM before SIGKILL
    #[arg(long, env = "VPSMON_STOP_GRACE", default_value_t = 10)]
    pub grace: u64,
}

/// What the command line asks for.
#[derive(Debug)]
pub enum Parsed {
    Run(Cli),
    /// `--print-config`: the listing of the (sub)command's settings and their sources.
    PrintConfig(String),
}

/// Parses the command line (flag > env > default, a bad env value named by its variable).
pub fn parse<I, T>(args: I) -> Result<Parsed, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    use clap::{CommandFactory, FromArgMatches};
    use vpsmon_common::config;

    let mut cmd = Cli::command().arg(config::print_config_arg());
    // Hands the global flags (--state-dir, --print-config) down to the subcommands.
    cmd.build();
    let matches = config::parse(&cmd, args)?;
    let mut cli = Cli::from_arg_matches(&matches)?;
    let (sub, sub_matches) = matches.subcommand().expect("clap requires a subcommand");
    let sub_cmd = cmd
        .find_subcommand(sub)
        .expect("a parsed subcommand exists");
    let layers = config::Layers::new(sub_cmd, sub_matches);
    if let Command::Up(up) = &mut cli.command {
        // The names testkit, the scripts and CI already use for the Debian binaries.
        for (id, var, bin) in [
            ("prometheus_bin", "PROMETHEUS_BIN", &mut up.prometheus_bin),
            (
                "alertmanager_bin",
                "ALERTMANAGER_BIN",
                &mut up.alertmanager_bin,
            ),
        ] {
            if let Some(old) = layers.alias(id, var) {
                *bin = Some(PathBuf::from(old.value));
            }
        }
    }
    if layers.print_config_asked() {
        return Ok(Parsed::PrintConfig(layers.print()));
    }
    Ok(Parsed::Run(cli))
}

/// Exit code of `status` when some part is down (LSB: "program is not running").
pub const EXIT_NOT_RUNNING: u8 = 3;

/// Runs a parsed command; returns the process exit code.
pub fn run(cli: Cli) -> anyhow::Result<u8> {
    // Everything the stack and its parts create (logs, configs, data, tokens) is private to
    // this user; the parts inherit the umask.
    // SAFETY: umask only sets the process's file mode mask.
    unsafe {
        libc::umask(0o077);
    }
    let state_dir = absolute(&cli.state_dir)?;
    match cli.command {
        Command::Up(args) => up::run(&state_dir, &args),
        Command::Down(args) => control::down(&state_dir, Duration::from_secs(args.grace)),
        Command::Status => control::status(&state_dir),
        Command::ActionKey(args) => {
            let layout = parts::Layout::new(state_dir);
            let path = secrets::create_action_key(&layout, &args.agent, args.rotate)?;
            print!("{}", secrets::action_key_instructions(&args.agent, &path));
            Ok(0)
        }
    }
}

fn absolute(p: &Path) -> anyhow::Result<PathBuf> {
    Ok(if p.is_absolute() {
        p.to_owned()
    } else {
        std::env::current_dir()?.join(p)
    })
}
