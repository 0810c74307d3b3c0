//! The filesystem collector reads the mount table only when the kernel says it changed
//! (`MountWatch`: POLLPRI on the held mounts file), and reuses the rows otherwise. This proves
//! that a mount, a remount read-only and an unmount each show in the very next scrape.
//!
//! The real binary runs as PID 1 of new mount and pid namespaces with its own /proc, so that
//! `/proc/1/mounts` is its namespace's table, and the test mounts a tmpfs into that namespace
//! with nsenter. The same set-up proves that a source remembered missing (`collector/absent.rs`)
//! shows at the next scrape once a mount makes it appear. Needs root (unshare, nsenter, mount); CI runs it as root. Without root the test
//! fails saying so: a skipped check would prove nothing.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use testkit::procs::{NamespaceInit, Proc, free_port, require_binary, wait_http_ok};

/// The `node_filesystem_*` lines of a scrape about `dir`.
async fn lines_about(base: &str, dir: &Path) -> Vec<String> {
    let body = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let label = format!("mountpoint=\"{}\"", dir.display());
    body.lines()
        .filter(|l| l.starts_with("node_filesystem_") && l.contains(&label))
        .map(str::to_owned)
        .collect()
}

fn in_namespace(nsenter: &Path, pid: u32, args: &[&str]) {
    let status = Command::new(nsenter)
        .args(["-t", &pid.to_string(), "-m", "--"])
        .args(args)
        .status()
        .unwrap();
    assert!(status.success(), "nsenter {args:?}: {status}");
}

/// The exporter with `args`, as PID 1 of new mount and pid namespaces with its own /proc: its
/// process, the namespace (killed when dropped), the exporter's pid as seen here and its URL.
async fn in_own_namespaces(dir: &Path, args: &[&str]) -> (Proc, NamespaceInit, u32, String) {
    let unshare = require_binary("UNSHARE_BIN", &["unshare"], "util-linux");
    let port = free_port();
    let mut cmd = Command::new(&unshare);
    cmd.args([
        "--mount",
        "--pid",
        "--fork",
        "--kill-child",
        "--mount-proc",
        "--propagation=private",
        env!("CARGO_BIN_EXE_vpsmon-exporter"),
        &format!("--web.listen-address=127.0.0.1:{port}"),
        "--collector.disable-defaults",
    ]);
    cmd.args(args);
    let log = dir.join("exporter.log");
    let mut proc = Proc::spawn("vpsmon-exporter (own namespaces)", cmd, &log).unwrap();
    let init = NamespaceInit(proc.pid());
    let base = format!("http://127.0.0.1:{port}");
    wait_http_ok(&mut proc, &format!("{base}/ping"), Duration::from_secs(30))
        .await
        .unwrap();
    let exporter = init.child();
    (proc, init, exporter, base)
}

fn require_root() {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "this test needs root (unshare, nsenter and mount in a new mount namespace); CI runs it \
         as root: run it with `sudo -E cargo test -p vpsmon-exporter --test mount_changes`"
    );
}

#[tokio::test]
async fn a_mount_a_remount_and_an_unmount_each_show_in_the_next_scrape() {
    require_root();
    let nsenter = require_binary("NSENTER_BIN", &["nsenter"], "util-linux");
    let dir = tempfile::tempdir().unwrap();
    let point: PathBuf = dir.path().join("mnt");
    std::fs::create_dir(&point).unwrap();
    let (_proc, init, exporter, base) =
        in_own_namespaces(dir.path(), &["--collector.filesystem"]).await;

    // Two scrapes of an unchanged table: the second from the rows kept.
    for _ in 0..2 {
        assert_eq!(lines_about(&base, &point).await, Vec::<String>::new());
    }
    let size = "size=1m";
    let point_s = point.to_str().unwrap();
    in_namespace(
        &nsenter,
        exporter,
        &["mount", "-t", "tmpfs", "-o", size, "vpsmon-test", point_s],
    );
    let labels = format!("{{device=\"vpsmon-test\",fstype=\"tmpfs\",mountpoint=\"{point_s}\"}}");
    let mounted = lines_about(&base, &point).await;
    assert!(
        mounted.contains(&format!("node_filesystem_size_bytes{labels} 1048576")),
        "{mounted:#?}"
    );
    assert!(
        mounted.contains(&format!("node_filesystem_readonly{labels} 0")),
        "{mounted:#?}"
    );
    // Unchanged again: the same lines from the kept rows.
    assert_eq!(lines_about(&base, &point).await.len(), mounted.len());

    in_namespace(&nsenter, exporter, &["mount", "-o", "remount,ro", point_s]);
    let remounted = lines_about(&base, &point).await;
    assert!(
        remounted.contains(&format!("node_filesystem_readonly{labels} 1")),
        "{remounted:#?}"
    );

    in_namespace(&nsenter, exporter, &["umount", point_s]);
    assert_eq!(lines_about(&base, &point).await, Vec::<String>::new());
    drop(init);
}

async fn scrape_body(base: &str) -> String {
    reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// A source the exporter found missing and remembered (`collector/absent.rs`) is looked up
/// again once the mount table changes: selinuxfs mounted after the exporter started shows at
/// the next scrape.
#[tokio::test]
async fn a_source_that_a_mount_makes_appear_is_exported_at_the_next_scrape() {
    require_root();
    let nsenter = require_binary("NSENTER_BIN", &["nsenter"], "util-linux");
    assert!(
        !Path::new("/sys/fs/selinux/enforce").exists(),
        "this host has selinuxfs: the test needs a host without it"
    );
    let dir = tempfile::tempdir().unwrap();
    let (_proc, init, exporter, base) =
        in_own_namespaces(dir.path(), &["--collector.selinux"]).await;

    // Twice: the second answer comes from what was remembered.
    for _ in 0..2 {
        let body = scrape_body(&base).await;
        assert!(body.contains("node_selinux_enabled 0"), "{body}");
        assert!(!body.contains("node_selinux_current_mode"), "{body}");
    }
    // In the exporter's mount namespace only: a tmpfs over /sys/fs with an `enforce` file,
    // as mounting selinuxfs would give.
    let status = Command::new(&nsenter)
        .args(["-t", &exporter.to_string(), "-m", "--", "sh", "-c"])
        .arg(
            "mount -t tmpfs -o size=1m vpsmon-test /sys/fs && mkdir /sys/fs/selinux && \
             echo 1 > /sys/fs/selinux/enforce",
        )
        .status()
        .unwrap();
    assert!(status.success(), "nsenter mount: {status}");
    let body = scrape_body(&base).await;
    assert!(body.contains("node_selinux_enabled 1"), "{body}");
    assert!(body.contains("node_selinux_current_mode 1"), "{body}");
    drop(init);
}
