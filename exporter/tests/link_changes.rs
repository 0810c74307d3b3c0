//! The exporter keeps the link dump from one scrape to the next and asks only for fresh
//! counters while the kernel announces no link change (`collector/links.rs`), and netclass
//! keeps the sysfs attributes that change only with such a change. This proves, with the real
//! binary and a real veth pair, that a link created, changed (MTU, alias, address, up) or
//! deleted shows in the very next scrape.
//!
//! Needs root (ip link add); CI runs it as root. Without root the test fails saying so: a
//! skipped check would prove nothing.

use std::process::Command;
use std::time::Duration;

use testkit::procs::require_binary;

mod support;

async fn lines_about(base: &str, device: &str) -> Vec<String> {
    let body = support::scrape(base).await;
    let label = format!("device=\"{device}\"");
    body.lines()
        .filter(|l| l.starts_with("node_network_") && l.contains(&label))
        .map(str::to_owned)
        .collect()
}

/// Deletes the veth pair however the test ends.
struct Veth<'a> {
    ip: &'a std::path::Path,
    name: String,
}

impl Drop for Veth<'_> {
    fn drop(&mut self) {
        let _ = Command::new(self.ip)
            .args(["link", "del", &self.name])
            .status();
    }
}

fn ip(ip: &std::path::Path, args: &[&str]) {
    let status = Command::new(ip).args(args).status().unwrap();
    assert!(status.success(), "ip {args:?}: {status}");
}

#[tokio::test]
async fn a_link_created_changed_or_deleted_shows_in_the_next_scrape() {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "this test needs root (ip link add); CI runs it as root: run it with \
         `sudo -E cargo test -p vpsmon-exporter --test link_changes`"
    );
    let ip_bin = require_binary("IP_BIN", &["ip"], "iproute2");
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "--collector.disable-defaults",
        "--collector.netclass",
        "--collector.netdev",
    ];
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let running = support::start_ours(dir.path(), &args).await;
    let base = running.base.clone();

    let name = format!("vpsmt{}a", std::process::id() % 100_000);
    let peer = format!("vpsmt{}b", std::process::id() % 100_000);
    // Scraped before and after: the dump is kept from here on.
    for _ in 0..2 {
        assert_eq!(lines_about(&base, &name).await, Vec::<String>::new());
    }

    ip(
        &ip_bin,
        &["link", "add", &name, "type", "veth", "peer", "name", &peer],
    );
    let veth = Veth {
        ip: &ip_bin,
        name: name.clone(),
    };
    let created = lines_about(&base, &name).await;
    assert!(
        created.contains(&format!("node_network_mtu_bytes{{device=\"{name}\"}} 1500")),
        "{created:#?}"
    );
    assert!(
        created.contains(&format!("node_network_up{{device=\"{name}\"}} 0")),
        "{created:#?}"
    );
    // Unchanged: the kept dump, the same lines.
    assert_eq!(lines_about(&base, &name).await.len(), created.len());

    // A veth's address is random (addr_assign_type 1) until one is set (3): a file the dump
    // lacks, kept between scrapes until the kernel announces the change.
    assert!(
        created.contains(&format!(
            "node_network_address_assign_type{{device=\"{name}\"}} 1"
        )),
        "{created:#?}"
    );
    ip(
        &ip_bin,
        &["link", "set", &name, "mtu", "1400", "alias", "vpsmon-test"],
    );
    ip(
        &ip_bin,
        &["link", "set", &name, "address", "02:00:5e:00:53:01"],
    );
    ip(&ip_bin, &["link", "set", &peer, "up"]);
    ip(&ip_bin, &["link", "set", &name, "up"]);
    // The carrier comes up a moment after the link (linkwatch): wait for it, not for a cache.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let changed = loop {
        let lines = lines_about(&base, &name).await;
        if lines.contains(&format!("node_network_up{{device=\"{name}\"}} 1"))
            || std::time::Instant::now() > deadline
        {
            break lines;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        changed.contains(&format!("node_network_mtu_bytes{{device=\"{name}\"}} 1400")),
        "{changed:#?}"
    );
    assert!(
        changed
            .iter()
            .any(|l| l.starts_with("node_network_info{") && l.contains("ifalias=\"vpsmon-test\"")),
        "{changed:#?}"
    );
    assert!(
        changed.contains(&format!("node_network_up{{device=\"{name}\"}} 1")),
        "{changed:#?}"
    );
    assert!(
        changed.contains(&format!(
            "node_network_address_assign_type{{device=\"{name}\"}} 3"
        )),
        "{changed:#?}"
    );

    drop(veth);
    assert_eq!(lines_about(&base, &name).await, Vec::<String>::new());
}
