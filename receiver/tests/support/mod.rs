//! What several test binaries share: loading a configuration as the binary does.

use std::path::Path;

use vpsmon_receiver::cli::Cli;
use vpsmon_receiver::config::Config;

/// Loads the configuration as `main` would: `yaml` written to `dir/receiver.yml` and given as
/// `--config` (no file when `dir` is `None`), and `env` as the process environment.
pub fn load_config(dir: Option<&Path>, yaml: &str, env: &[(&str, impl AsRef<str>)]) -> Config {
    let cli = Cli {
        config: dir.map(|dir| {
            let path = dir.join("receiver.yml");
            std::fs::write(&path, yaml).unwrap();
            path
        }),
        ..Cli::default()
    };
    Config::load(&cli, &|k| {
        env.iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| v.as_ref().to_string())
    })
    .unwrap()
}
