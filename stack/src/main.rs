use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = vpsmon_stack::Cli::parse();
    match vpsmon_stack::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("vpsmon: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
