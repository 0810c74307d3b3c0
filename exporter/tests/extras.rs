//! The issue-7 host collectors (logins, ports, processes) on the committed fixture tree
//! `tests/fixtures/extras` (origin of each file in its README.md): the exact metric lines.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use vpsmon_exporter::collector::logins::{DEAD_PROCESS, USER_PROCESS, encode_record};
use vpsmon_exporter::collector::{Config, Paths, Scraper};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/extras")
}

/// The utmp fixture, record by record: boot and run-level records, a getty waiting on tty2, two
/// live sessions, one that ended (DEAD_PROCESS keeps the record until the tty is reused), and a
/// live session over IPv6.
fn utmp_records() -> Vec<u8> {
    [
        encode_record(2, 0, "~", "reboot", "6.1.0-27-amd64", 1_763_700_000),
        encode_record(1, 53, "~", "runlevel", "6.1.0-27-amd64", 1_763_700_004),
        encode_record(6, 611, "tty2", "LOGIN", "", 1_763_700_010),
        encode_record(
            USER_PROCESS,
            812,
            "pts/0",
            "alice",
            "203.0.113.7",
            1_763_740_000,
        ),
        encode_record(DEAD_PROCESS, 0, "pts/1", "", "", 1_763_741_000),
        encode_record(USER_PROCESS, 901, "tty1", "root", "", 1_763_742_000),
        encode_record(
            USER_PROCESS,
            1202,
            "pts/2",
            "deploy",
            "2001:db8::7",
            1_763_743_210,
        ),
    ]
    .concat()
}

#[test]
fn the_utmp_fixture_is_the_documented_records() {
    let path = fixture().join("rootfs/var/run/utmp");
    if std::env::var_os("VPSMON_REGENERATE_FIXTURES").is_some() {
        std::fs::write(&path, utmp_records()).unwrap();
    }
    assert_eq!(
        std::fs::read(&path).unwrap(),
        utmp_records(),
        "regenerate with VPSMON_REGENERATE_FIXTURES=1 cargo test -p vpsmon-exporter --test extras"
    );
}

fn scrape(collectors: &[&str]) -> Vec<String> {
    let root = fixture();
    let config = Config {
        paths: Paths {
            procfs: root.join("proc"),
            sysfs: root.join("sys"),
            rootfs: root.join("rootfs"),
            ..Paths::default()
        },
        enabled: collectors
            .iter()
            .map(|s| s.to_string())
            .collect::<BTreeSet<_>>(),
        ..Config::default()
    };
    let body = String::from_utf8(Scraper::new(config).unwrap().scrape()).unwrap();
    body.lines()
        .filter(|l| {
            !l.starts_with('#')
                && !l.starts_with("node_scrape_collector_duration_seconds")
                && !l.starts_with("vpsmon_exporter_build_info")
        })
        .map(str::to_owned)
        .collect()
}

#[test]
fn logins_one_series_per_live_session() {
    assert_eq!(
        scrape(&["logins"]),
        [
            "vpsmon_login_session_start_time_seconds{user=\"alice\",tty=\"pts/0\",remote_host=\"203.0.113.7\"} 1763740000",
            "vpsmon_login_session_start_time_seconds{user=\"deploy\",tty=\"pts/2\",remote_host=\"2001:db8::7\"} 1763743210",
            "vpsmon_login_session_start_time_seconds{user=\"root\",tty=\"tty1\",remote_host=\"\"} 1763742000",
            "node_scrape_collector_success{collector=\"logins\"} 1",
        ]
    );
}

#[test]
fn ports_listening_tcp_and_bound_udp() {
    assert_eq!(
        scrape(&["ports"]),
        [
            "vpsmon_listening_port{proto=\"tcp\",address=\"0.0.0.0\",port=\"2024\"} 1",
            "vpsmon_listening_port{proto=\"tcp\",address=\"127.0.0.1\",port=\"37075\"} 1",
            "vpsmon_listening_port{proto=\"tcp6\",address=\"::\",port=\"22\"} 1",
            "vpsmon_listening_port{proto=\"tcp6\",address=\"::1\",port=\"631\"} 1",
            "vpsmon_listening_port{proto=\"udp\",address=\"127.0.0.53\",port=\"53\"} 1",
            "node_scrape_collector_success{collector=\"ports\"} 1",
        ]
    );
}

#[test]
fn processes_as_node_exporter_names_them() {
    assert_eq!(
        scrape(&["processes"]),
        [
            "node_processes_threads 23",
            "node_processes_max_threads 15499",
            "node_processes_state{state=\"I\"} 2",
            "node_processes_state{state=\"S\"} 4",
            "node_processes_pids 6",
            "node_processes_max_processes 4194304",
            "node_scrape_collector_success{collector=\"processes\"} 1",
        ]
    );
}
