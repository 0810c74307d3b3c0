//! Thin entry point: parse flags, run, print the error once, exit with its code.

use vpsmon_common::config::Layers;
use vpsmon_gen_config::cli::{self, Cli};

fn main() {
    let cmd = cli::command();
    let (cli, matches) = match Cli::parse_from_env(&cmd, std::env::args_os()) {
        Ok(parsed) => parsed,
        Err(e) => e.exit(),
    };
    let layers = Layers::new(&cmd, &matches);
    let mut stdout = std::io::stdout().lock();
    let code = match vpsmon_gen_config::run(&cli, &layers, &mut stdout) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("vpsmon-gen-config: {e}");
            e.exit_code()
        }
    };
    std::process::exit(code);
}
