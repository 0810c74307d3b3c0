//! Running the binary and the Debian tools.

use std::path::{Path, PathBuf};
use std::process::Command;

use testkit::procs::require_binary;

pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// The binary under test, with no `VPSMON_*` variables leaking in from the caller's environment.
pub fn gen_config() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vpsmon-gen-config"));
    for (key, _) in std::env::vars() {
        if key.starts_with("VPSMON_") {
            cmd.env_remove(key);
        }
    }
    cmd
}

pub fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("run command");
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs gen-config with `args` and panics with its output unless it succeeds.
pub fn generate<S: AsRef<std::ffi::OsStr> + std::fmt::Debug>(args: &[S]) -> Output {
    let out = run(gen_config().args(args));
    assert_eq!(
        out.code, 0,
        "vpsmon-gen-config {args:?} failed:\n{}{}",
        out.stdout, out.stderr
    );
    out
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

pub fn promtool() -> PathBuf {
    require_binary("PROMTOOL_BIN", &["promtool"], "prometheus")
}

pub fn amtool() -> PathBuf {
    require_binary("AMTOOL_BIN", &["amtool"], "prometheus-alertmanager")
}

/// Runs a tool and panics with its output unless it exits 0.
pub fn tool_ok(tool: &Path, args: &[&str]) -> String {
    let out = run(Command::new(tool).args(args));
    assert_eq!(
        out.code,
        0,
        "{} {args:?} failed:\n{}{}",
        tool.display(),
        out.stdout,
        out.stderr
    );
    format!("{}{}", out.stdout, out.stderr)
}

pub fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Every file below `dir` (hidden ones too), as (relative path, bytes), sorted.
pub fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().display().to_string();
                files.push((rel, std::fs::read(&p).unwrap()));
            }
        }
    }
    files.sort();
    files
}
