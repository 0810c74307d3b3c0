use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match vpsmon_stack::parse(std::env::args_os()) {
        Ok(vpsmon_stack::Parsed::Run(cli)) => cli,
        Ok(vpsmon_stack::Parsed::PrintConfig(listing)) => {
            print!("{listing}");
            return ExitCode::SUCCESS;
        }
        Err(e) => e.exit(),
    };
    match vpsmon_stack::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("vpsmon: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
