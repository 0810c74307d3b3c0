//! A minimal Debian root (`debootstrap --variant=minbase`), made once and kept as a tarball in
//! the cargo target directory: the exporter's stock-machine test unpacks it and chroots into
//! it; the compose test imports it as the `debian:bookworm-slim` base image (no registry in CI).
//! Needs root and the Debian mirror apt uses the first time; CI has both.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::procs::require_binary;

/// The Debian release of the root, as the exporter's CI machines and the image use.
pub const SUITE: &str = "bookworm";

fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// The Debian mirror apt uses (`deb` lines of sources.list, `URIs:` of deb822 .sources files),
/// skipping the security archive, which has no base suites. `DEBOOTSTRAP_MIRROR` overrides it.
pub fn apt_mirror() -> String {
    if let Ok(m) = std::env::var("DEBOOTSTRAP_MIRROR") {
        return m;
    }
    let mut files = vec![PathBuf::from("/etc/apt/sources.list")];
    if let Ok(dir) = std::fs::read_dir("/etc/apt/sources.list.d") {
        let mut more: Vec<_> = dir.filter_map(|e| e.ok().map(|e| e.path())).collect();
        more.sort();
        files.extend(more);
    }
    let usable = |uri: &str| uri.starts_with("http") && !uri.contains("security");
    for file in &files {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        let name = file.to_string_lossy();
        if name.ends_with(".sources") {
            for stanza in text.split("\n\n") {
                let field = |key: &str| {
                    stanza
                        .lines()
                        .find_map(|l| l.strip_prefix(key))
                        .map(str::trim)
                        .unwrap_or("")
                };
                let enabled = !field("Enabled:").eq_ignore_ascii_case("no");
                if enabled
                    && field("Types:").split_whitespace().any(|t| t == "deb")
                    && let Some(uri) = field("URIs:").split_whitespace().find(|u| usable(u))
                {
                    return uri.to_owned();
                }
            }
        } else if name.ends_with(".list") {
            for line in text.lines() {
                let mut words = line
                    .split_whitespace()
                    .filter(|w| !w.starts_with('[') && !w.ends_with(']'));
                if words.next() == Some("deb")
                    && let Some(uri) = words.next().filter(|u| usable(u))
                {
                    return uri.to_owned();
                }
            }
        }
    }
    panic!(
        "no Debian mirror found in /etc/apt/sources.list or /etc/apt/sources.list.d: set DEBOOTSTRAP_MIRROR"
    );
}

/// `<target_dir>/debootstrap-bookworm.tar`, a minbase root's tarball (`./` paths): made by
/// debootstrap if it is missing (cold), else the cached one (warm). Returns the path and
/// whether debootstrap ran.
pub fn minbase_tarball(target_dir: &Path) -> (PathBuf, bool) {
    let cache = target_dir.join(format!("debootstrap-{SUITE}.tar"));
    if cache.is_file() {
        return (cache, false);
    }
    let dir = tempfile::tempdir_in(target_dir).expect("temp dir for debootstrap");
    let debootstrap = require_binary("DEBOOTSTRAP_BIN", &["debootstrap"], "debootstrap");
    let mirror = apt_mirror();
    let (ok, out) = run(Command::new(&debootstrap)
        .args(["--variant=minbase", SUITE])
        .arg(dir.path())
        .arg(&mirror));
    assert!(
        ok,
        "debootstrap --variant=minbase {SUITE} {} {mirror} failed (it needs root and the mirror; CI has both):\n{}",
        dir.path().display(),
        out.lines()
            .rev()
            .take(30)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n")
    );
    // Written under another name and renamed: a parallel run never reads half a tarball.
    let partial = cache.with_extension(format!("tar.{}", std::process::id()));
    let (ok, out) = run(Command::new("tar")
        .arg("-C")
        .arg(dir.path())
        .arg("-cf")
        .arg(&partial)
        .arg("."));
    assert!(ok, "caching the root in {}: {out}", partial.display());
    std::fs::rename(&partial, &cache).unwrap();
    (cache, true)
}

/// A minimal Debian root in `dir`, unpacked from [`minbase_tarball`]. Returns whether
/// debootstrap ran.
pub fn minimal_root(dir: &Path, target_dir: &Path) -> bool {
    let (cache, made) = minbase_tarball(target_dir);
    let (ok, out) = run(Command::new("tar")
        .arg("-C")
        .arg(dir)
        .arg("-xf")
        .arg(&cache));
    assert!(ok, "unpacking {}: {out}", cache.display());
    made
}
