//! Thin entry point: parse flags, run, print the error once, exit with its code.

use clap::Parser;

fn main() {
    let cli = vpsmon_gen_config::cli::Cli::parse();
    let mut stdout = std::io::stdout().lock();
    let code = match vpsmon_gen_config::run(&cli, &mut stdout) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("vpsmon-gen-config: {e}");
            e.exit_code()
        }
    };
    std::process::exit(code);
}
