//! vpsmon-receiver: see the library (`vpsmon_receiver`) for everything; this only wires the
//! process: flags, config (exit 2 when it is wrong), logging, and the signal that stops it.

use std::process::ExitCode;

use clap::Parser;
use vpsmon_common::{shutdown, telemetry};
use vpsmon_receiver::cli::Cli;
use vpsmon_receiver::config::Config;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(&cli, &|name| std::env::var(name).ok()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("vpsmon-receiver: {e}");
            return ExitCode::from(2);
        }
    };
    if cli.print_config {
        // What a start would log, on stderr so that stdout stays valid YAML.
        for warning in config.start_warnings() {
            eprintln!("warning: {warning}");
        }
        print!("{}", config.to_yaml());
        return ExitCode::SUCCESS;
    }
    // serve() logs the start warnings.
    telemetry::init(config.log_format, "info");
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("vpsmon-receiver: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(vpsmon_receiver::serve(config, shutdown::signal())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "vpsmon-receiver stopped");
            eprintln!("vpsmon-receiver: {e}");
            ExitCode::FAILURE
        }
    }
}
