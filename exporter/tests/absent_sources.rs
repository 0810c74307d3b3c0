//! A source the host does not have (no selinuxfs, no bcache, no IPVS) is looked up once and
//! then remembered as missing, until the kernel announces a change: a uevent, or a change of
//! the exporter's mount table (`collector/absent.rs`). This proves, with the real binary and
//! strace, that nothing is looked up again while the kernel is quiet and that a uevent makes
//! the next scrape look again. tests/mount_changes.rs proves that a source a mount makes
//! appear is exported at the very next scrape.
//!
//! Needs root (strace -p, writing a device's `uevent`); CI runs it as root. Without root the
//! test fails saying so: a skipped check would prove nothing.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use testkit::procs::require_binary;

mod support;

/// The sources below that this host does not have; the test needs at least one.
fn missing_sources() -> Vec<&'static str> {
    let missing: Vec<&str> = [
        "/sys/fs/selinux/enforce",
        "/sys/fs/bcache",
        "/proc/net/ip_vs_stats",
    ]
    .into_iter()
    .filter(|p| !Path::new(p).exists())
    .collect();
    assert!(
        !missing.is_empty(),
        "this host has selinuxfs, bcache and IPVS: none is missing to test with"
    );
    missing
}

/// The lookups (open, stat) of `paths` that the exporter `pid` makes during one scrape of
/// `base`, as strace sees them.
async fn lookups_during_a_scrape(
    strace: &Path,
    pid: u32,
    base: &str,
    paths: &[&str],
) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("strace.txt");
    let mut child = Command::new(strace)
        .args([
            "-f",
            "-e",
            "trace=openat,open,stat,statx,newfstatat,lstat",
            "-o",
        ])
        .arg(&out)
        .args(["-p", &pid.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // strace says "Process N attached" on stderr once it is; wait for that line.
    let stderr = child.stderr.take().unwrap();
    let attached = tokio::task::spawn_blocking(move || {
        use std::io::BufRead;
        let mut lines = std::io::BufReader::new(stderr).lines();
        let found = lines
            .by_ref()
            .map_while(Result::ok)
            .any(|l| l.contains("attached"));
        // Keep draining, so that strace never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        found
    });
    assert!(
        tokio::time::timeout(Duration::from_secs(10), attached)
            .await
            .expect("strace attached within 10 s")
            .unwrap(),
        "strace did not attach to {pid}"
    );
    support::scrape(base).await;
    // SAFETY: kill(2) of our own child; strace detaches on SIGINT and writes what it saw.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    child.wait().unwrap();
    let seen = std::fs::read_to_string(&out).unwrap();
    seen.lines()
        .filter(|l| paths.iter().any(|p| l.contains(&format!("\"{p}\""))))
        .map(str::to_owned)
        .collect()
}

fn assert_each_looked_up(paths: &[&str], lookups: &[String], when: &str) {
    for p in paths {
        assert!(
            lookups.iter().any(|l| l.contains(p)),
            "{p} was not looked up {when}: {lookups:#?}"
        );
    }
}

/// A socket that hears the kernel's uevents as the exporter does, so that a test can tell a
/// quiet stretch from one in which the host itself announced something.
struct UeventEar(std::os::fd::OwnedFd);

impl UeventEar {
    fn open() -> UeventEar {
        use std::os::fd::FromRawFd;
        // SAFETY: plain socket(2); checked, then owned.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_DGRAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
                libc::NETLINK_KOBJECT_UEVENT,
            )
        };
        assert!(
            fd >= 0,
            "uevent socket: {}",
            std::io::Error::last_os_error()
        );
        // SAFETY: a fresh descriptor.
        let fd = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
        // SAFETY: sockaddr_nl is plain data.
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        addr.nl_groups = 1;
        use std::os::fd::AsRawFd;
        // SAFETY: addr is a sockaddr_nl of the size given.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&addr as *const libc::sockaddr_nl).cast(),
                size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        assert_eq!(rc, 0, "bind: {}", std::io::Error::last_os_error());
        UeventEar(fd)
    }

    /// Whether a uevent came since the last call (draining them).
    fn heard(&self) -> bool {
        use std::os::fd::AsRawFd;
        let mut any = false;
        let mut byte = [0u8; 1];
        // SAFETY: one writable byte; non-blocking.
        while unsafe {
            libc::recv(
                self.0.as_raw_fd(),
                byte.as_mut_ptr().cast(),
                1,
                libc::MSG_DONTWAIT | libc::MSG_TRUNC,
            )
        } >= 0
        {
            any = true;
        }
        any
    }
}

/// A scrape with nothing announced to the exporter since its last: no missing source is looked
/// up. A stretch in which the host itself sent a uevent (a device elsewhere) proves nothing and
/// is tried again, up to 10 times.
async fn assert_quiet_scrape_looks_nothing_up(
    strace: &Path,
    pid: u32,
    base: &str,
    missing: &[&str],
    ear: &UeventEar,
    when: &str,
) {
    for _ in 0..10 {
        ear.heard();
        // A scrape to take in anything announced before the stretch.
        support::scrape(base).await;
        if ear.heard() {
            continue;
        }
        let quiet = lookups_during_a_scrape(strace, pid, base, missing).await;
        if ear.heard() {
            continue;
        }
        assert_eq!(quiet, Vec::<String>::new(), "looked up {when}");
        return;
    }
    panic!("the host sent uevents in each of 10 tries: no quiet stretch to test {when}");
}

#[tokio::test]
async fn missing_sources_are_looked_up_again_after_a_uevent_and_not_while_the_kernel_is_quiet() {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "this test needs root (strace -p, a device's uevent file); CI runs it as root: run it \
         with `sudo -E cargo test -p vpsmon-exporter --test absent_sources`"
    );
    let strace = require_binary("STRACE_BIN", &["strace"], "strace");
    let missing = missing_sources();
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "--collector.disable-defaults",
        "--collector.selinux",
        "--collector.bcache",
        "--collector.ipvs",
    ];
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let running = support::start_ours(dir.path(), &args).await;
    let (base, pid) = (running.base.clone(), running.proc.pid());

    let ear = UeventEar::open();
    // The first scrape looks and remembers.
    let first = lookups_during_a_scrape(&strace, pid, &base, &missing).await;
    assert_each_looked_up(&missing, &first, "in the first scrape");
    // Nothing changed: nothing is looked up again, and the scrape says the same.
    assert_quiet_scrape_looks_nothing_up(
        &strace,
        pid,
        &base,
        &missing,
        &ear,
        "while nothing changed",
    )
    .await;
    assert!(
        support::scrape(&base)
            .await
            .contains("node_selinux_enabled 0")
    );

    // A uevent (as when a module is loaded or a device added): the next scrape looks again.
    std::fs::write("/sys/class/net/lo/uevent", "change").unwrap();
    let after = lookups_during_a_scrape(&strace, pid, &base, &missing).await;
    assert_each_looked_up(&missing, &after, "again after a uevent");
    assert_quiet_scrape_looks_nothing_up(&strace, pid, &base, &missing, &ear, "with no new uevent")
        .await;
}
