//! `vpsmon-exporter`: everything but the exit code lives in the library (`cli`, `http`).

fn main() -> std::process::ExitCode {
    vpsmon_exporter::cli::main_with_args(std::env::args_os())
}
