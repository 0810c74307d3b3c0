//! node_exporter 1.12's fixture tree laid out as its `end-to-end-test.sh` sees it: a directory
//! holding `collector/fixtures/{proc,sys,udev,textfile,usr,...}`, to run an exporter in with the
//! script's relative `--path.*` flags (some label values, like rapl's `path`, are those paths).
//!
//! `sys/` and `udev/` come out of their ttar archives, which takes long (8 s on an idle machine,
//! over a minute on a busy one), so the extraction is kept under the target directory, keyed by
//! a hash of the archives and the script; the rest are symlinks to the committed files.

use std::hash::{DefaultHasher, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The committed fixture directory.
pub fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/node_exporter-1.12")
}

const ARCHIVES: [&str; 2] = ["sys.ttar", "udev.ttar"];

/// The directory to run an exporter in: it holds `collector/fixtures/`.
pub fn e2e_tree() -> PathBuf {
    let src = fixture_dir();
    let mut hasher = DefaultHasher::new();
    for file in ["ttar", ARCHIVES[0], ARCHIVES[1]] {
        let bytes = std::fs::read(src.join(file)).unwrap_or_else(|e| panic!("reading {file}: {e}"));
        hasher.write(&bytes);
    }
    let root = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("node_exporter-1.12-e2e-{:016x}", hasher.finish()));
    let fixtures = root.join("collector/fixtures");
    if !fixtures.join("sys").is_dir() {
        extract(&src, &root);
    }
    // Everything else is read where it is committed, so an edit there counts at once.
    for entry in std::fs::read_dir(&src).expect("reading the fixture dir") {
        let name = entry.expect("fixture dir entry").file_name();
        let name = name.to_str().expect("fixture names are UTF-8");
        if name.ends_with(".ttar") || name == "ttar" {
            continue;
        }
        link(&src.join(name), &fixtures.join(name));
    }
    root
}

/// Extracts the archives into a fresh directory and renames it into place, so a concurrent
/// test never sees half a tree.
fn extract(src: &Path, root: &Path) {
    let parent = root.parent().expect("cache dir has a parent");
    std::fs::create_dir_all(parent).expect("creating the cache dir");
    let staging = tempfile::tempdir_in(parent).expect("staging dir");
    let fixtures = staging.path().join("collector/fixtures");
    std::fs::create_dir_all(&fixtures).expect("mkdir collector/fixtures");
    for archive in ARCHIVES {
        let out = Command::new("bash")
            .arg(src.join("ttar"))
            .arg("-C")
            .arg(&fixtures)
            .args(["-x", "-f"])
            .arg(src.join(archive))
            .output()
            .expect("running ttar");
        assert!(
            out.status.success(),
            "ttar -x -f {archive} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let staged = staging.keep();
    if std::fs::rename(&staged, root).is_err() {
        // Another test got there first; its tree is the same.
        let _ = std::fs::remove_dir_all(&staged);
    }
}

/// Makes `at` a symlink to `to`, replacing a stale one atomically.
fn link(to: &Path, at: &Path) {
    if std::fs::read_link(at).is_ok_and(|t| t == to) {
        return;
    }
    let tmp = at.with_extension(format!("link-{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(to, &tmp).expect("symlink into the e2e tree");
    std::fs::rename(&tmp, at).expect("renaming the symlink into place");
}
