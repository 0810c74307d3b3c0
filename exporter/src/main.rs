//! `vpsmon-exporter`: parse the command line (`cli`), then serve (`http`) until SIGINT/SIGTERM.
//! Everything but this wiring lives in the library.

use std::process::ExitCode;

use vpsmon_common::telemetry;
use vpsmon_exporter::cli::{EXIT_CONFIG, Settings};
use vpsmon_exporter::http::{StartError, serve_blocking};

fn main() -> ExitCode {
    let settings = match Settings::try_parse_from(std::env::args_os()) {
        Ok(s) => s,
        // Prints help/version to stdout (exit 0) or the usage error to stderr (exit 2).
        Err(e) => e.exit(),
    };
    if let Some(listing) = &settings.print_config {
        print!("{listing}");
        return ExitCode::SUCCESS;
    }
    telemetry::init(settings.flags.log_format, &settings.flags.log_level);
    // Before any secret file is read (the auth files, the tunnels' API tokens).
    vpsmon_common::secret::set_strict(settings.flags.strict_secrets);
    match serve_blocking(settings) {
        Ok(()) => ExitCode::SUCCESS,
        Err(StartError::Config(msg)) => {
            eprintln!("vpsmon-exporter: {msg}");
            ExitCode::from(EXIT_CONFIG)
        }
        Err(e) => {
            eprintln!("vpsmon-exporter: {e:#}");
            ExitCode::FAILURE
        }
    }
}
