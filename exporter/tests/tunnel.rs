//! The tunnel collector against testkit's fake Cloudflare API and a fake `systemctl` script that
//! records its calls: the poller is driven one check at a time (`check_once`), and each test
//! asserts the exact metric lines a scrape shows and the exact systemctl calls made.

use std::path::{Path, PathBuf};
use std::time::Duration;

use testkit::cloudflare::{CfReply, FakeCloudflare, FakeCloudflared};
use vpsmon_exporter::collector::tunnel::{self, scraper_of};
use vpsmon_exporter::collector::{Config, Scraper};
use vpsmon_exporter::tunnel::failover::Thresholds;
use vpsmon_exporter::tunnel::poller::Poller;
use vpsmon_exporter::tunnel::{FailoverOptions, TunnelOptions, poller_from_options};

const ACCOUNT: &str = "0123456789abcdef0123456789abcdef";
const TUNNEL: &str = "c1744f8b-faa1-48a4-9e5c-02ac921467fa";
const UNIT: &str = "cloudflared-backup.service";

/// A temp dir with the token file, the tunnel list and a fake systemctl that appends each call
/// to `calls.log` and keeps the unit's state in `unit.state`, as systemctl would.
struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    fn new(token: &str, failover_unit: bool) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("token"), format!("{token}\n")).unwrap();
        let unit = if failover_unit {
            format!("    failover_unit: {UNIT}\n")
        } else {
            String::new()
        };
        std::fs::write(
            dir.path().join("tunnels.yml"),
            format!(
                "tunnels:\n  - account_id: {ACCOUNT}\n    tunnel_id: {TUNNEL}\n    api_token_file: {}\n    name: web\n{unit}",
                dir.path().join("token").display()
            ),
        )
        .unwrap();
        let script = format!(
            r#"#!/bin/sh
d='{d}'
echo "$*" >> "$d/calls.log"
state=$(cat "$d/unit.state" 2>/dev/null || echo inactive)
case "$1" in
  is-active) echo "$state"; [ "$state" = active ] && exit 0 || exit 3 ;;
  start) echo active > "$d/unit.state" ;;
  stop) echo inactive > "$d/unit.state" ;;
  *) echo "unknown command $1" >&2; exit 1 ;;
esac
"#,
            d = dir.path().display()
        );
        let path = dir.path().join("systemctl");
        std::fs::write(&path, script).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        Setup { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn options(
        &self,
        fake: &FakeCloudflare,
        failover: bool,
        stop_on_recovery: bool,
    ) -> TunnelOptions {
        TunnelOptions {
            config: Some(self.path("tunnels.yml")),
            api_url: fake.api_base(),
            timeout: Duration::from_secs(2),
            failover: FailoverOptions {
                enabled: failover,
                thresholds: Thresholds {
                    stop_on_recovery,
                    ..Thresholds::default()
                },
                systemctl: self.path("systemctl"),
                ..FailoverOptions::default()
            },
            ..TunnelOptions::default()
        }
    }

    fn calls(&self) -> Vec<String> {
        calls_in(&self.path("calls.log"))
    }
}

fn calls_in(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The sample lines of the tunnel collector; the last-check timestamp's value is replaced by
/// `<ts>` after checking it is a recent Unix time.
fn samples(poller: &Poller) -> Vec<String> {
    let body = String::from_utf8(scraper_of(poller).scrape()).unwrap();
    body.lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("node_scrape_collector_duration"))
        .filter(|l| !l.starts_with("vpsmon_exporter_build_info"))
        .map(|l| {
            if l.starts_with("vpsmon_cloudflare_tunnel_last_check_timestamp_seconds") {
                let (series, value) = l.rsplit_once(' ').unwrap();
                let ts: f64 = value.parse().unwrap();
                assert!(ts > 1.7e9, "{l}");
                format!("{series} <ts>")
            } else {
                l.to_owned()
            }
        })
        .collect()
}

async fn run(poller: &mut Poller, n: usize) {
    for _ in 0..n {
        poller.check_once().await;
    }
}

fn status_lines(status: &str) -> Vec<String> {
    ["healthy", "degraded", "down", "inactive"]
        .iter()
        .map(|s| {
            format!(
                "vpsmon_cloudflare_tunnel_status{{tunnel_id=\"{TUNNEL}\",name=\"web\",status=\"{s}\"}} {}",
                u8::from(*s == status)
            )
        })
        .collect()
}

fn expected(status: &str, connections: u64, rest: &[&str]) -> Vec<String> {
    let mut v = status_lines(status);
    v.push(format!(
        "vpsmon_cloudflare_tunnel_connections{{tunnel_id=\"{TUNNEL}\",name=\"web\"}} {connections}"
    ));
    v.push(format!(
        "vpsmon_cloudflare_tunnel_last_check_timestamp_seconds{{tunnel_id=\"{TUNNEL}\",name=\"web\"}} <ts>"
    ));
    v.extend(rest.iter().map(|s| s.to_string()));
    v
}

/// The usual set-up: the fake plays `script`, the tunnel has a failover unit, failover is on and
/// stops the unit on recovery.
async fn failover_scenario(script: Vec<CfReply>) -> (FakeCloudflare, Setup, Poller) {
    let fake = FakeCloudflare::start().await;
    fake.script(ACCOUNT, TUNNEL, script);
    let setup = Setup::new(fake.token(), true);
    let poller = poller_from_options(&setup.options(&fake, true, true)).unwrap();
    (fake, setup, poller)
}

const SUCCESS: &str = "node_scrape_collector_success{collector=\"tunnel\"} 1";

#[tokio::test]
async fn healthy_down_x3_healthy_x3_starts_once_then_stops() {
    let mut script = vec![CfReply::status("healthy", 4)];
    script.extend(std::iter::repeat_n(CfReply::status("down", 0), 3));
    script.extend(std::iter::repeat_n(CfReply::status("healthy", 4), 3));
    let (fake, setup, mut poller) = failover_scenario(script).await;

    run(&mut poller, 3).await;
    assert_eq!(
        setup.calls(),
        Vec::<String>::new(),
        "two downs start nothing"
    );
    run(&mut poller, 1).await;
    assert_eq!(
        setup.calls(),
        [format!("is-active {UNIT}"), format!("start {UNIT}")]
    );
    let active = format!("vpsmon_failover_active{{tunnel_id=\"{TUNNEL}\"}} 1");
    let started = format!(
        "vpsmon_failover_actions_total{{tunnel_id=\"{TUNNEL}\",action=\"start\",result=\"ok\"}} 1"
    );
    assert_eq!(
        samples(&poller),
        expected(
            "down",
            0,
            &["vpsmon_cloudflare_api_up 1", &active, &started, SUCCESS]
        )
    );

    run(&mut poller, 2).await;
    assert_eq!(setup.calls().len(), 2, "two healthy checks stop nothing");
    run(&mut poller, 1).await;
    assert_eq!(
        setup.calls(),
        [
            format!("is-active {UNIT}"),
            format!("start {UNIT}"),
            format!("stop {UNIT}")
        ]
    );
    // The script's last reply (healthy) repeats: nothing more happens.
    run(&mut poller, 3).await;
    assert_eq!(setup.calls().len(), 3);
    let stopped = format!(
        "vpsmon_failover_actions_total{{tunnel_id=\"{TUNNEL}\",action=\"stop\",result=\"ok\"}} 1"
    );
    assert_eq!(
        samples(&poller),
        expected(
            "healthy",
            4,
            &[
                "vpsmon_cloudflare_api_up 1",
                &format!("vpsmon_failover_active{{tunnel_id=\"{TUNNEL}\"}} 0"),
                &started,
                &stopped,
                SUCCESS
            ]
        )
    );
    assert_eq!(fake.polls(ACCOUNT, TUNNEL), 10);
    assert!(
        fake.requests()
            .iter()
            .all(|r| r.authorized && r.method == "GET")
    );
    assert_eq!(
        fake.requests()[0].path,
        format!("/client/v4/accounts/{ACCOUNT}/cfd_tunnel/{TUNNEL}")
    );
}

#[tokio::test]
async fn down_interleaved_with_429_and_500_fails_over_only_after_three_real_downs_in_a_row() {
    let d = || CfReply::status("down", 0);
    let (_fake, setup, mut poller) = failover_scenario(vec![
        d(),
        CfReply::TooManyRequests,
        d(),
        CfReply::ServerError(500),
        d(),
        d(),
        CfReply::TooManyRequestsRetryAfter(30),
        d(),
        d(),
        d(),
    ])
    .await;
    run(&mut poller, 7).await;
    // After the 429: api_up 0, the last known status (down) kept, the errors counted by code.
    assert_eq!(
        samples(&poller),
        expected(
            "down",
            0,
            &[
                "vpsmon_cloudflare_api_up 0",
                "vpsmon_cloudflare_api_errors_total{code=\"429\"} 2",
                "vpsmon_cloudflare_api_errors_total{code=\"500\"} 1",
                &format!("vpsmon_failover_active{{tunnel_id=\"{TUNNEL}\"}} 0"),
                SUCCESS
            ]
        )
    );
    run(&mut poller, 2).await;
    assert_eq!(setup.calls(), Vec::<String>::new());
    run(&mut poller, 1).await;
    assert_eq!(
        setup.calls(),
        [format!("is-active {UNIT}"), format!("start {UNIT}")]
    );
    // Still down: never started twice.
    run(&mut poller, 5).await;
    assert_eq!(setup.calls().len(), 2);
}

#[tokio::test]
async fn degraded_for_a_long_time_is_not_down() {
    let (_fake, setup, mut poller) = failover_scenario(vec![CfReply::status("degraded", 1)]).await;
    run(&mut poller, 20).await;
    assert_eq!(setup.calls(), Vec::<String>::new());
    assert_eq!(
        samples(&poller),
        expected(
            "degraded",
            1,
            &[
                "vpsmon_cloudflare_api_up 1",
                &format!("vpsmon_failover_active{{tunnel_id=\"{TUNNEL}\"}} 0"),
                SUCCESS
            ]
        )
    );
}

#[tokio::test]
async fn a_timeout_is_unknown_not_down() {
    let (_fake, setup, mut poller) = failover_scenario(vec![
        CfReply::status("down", 0),
        CfReply::status("down", 0),
        CfReply::Timeout(Duration::from_secs(30)),
        CfReply::status("down", 0),
    ])
    .await;
    run(&mut poller, 3).await;
    assert_eq!(
        samples(&poller),
        expected(
            "down",
            0,
            &[
                "vpsmon_cloudflare_api_up 0",
                "vpsmon_cloudflare_api_errors_total{code=\"timeout\"} 1",
                &format!("vpsmon_failover_active{{tunnel_id=\"{TUNNEL}\"}} 0"),
                SUCCESS
            ]
        )
    );
    // down, down, timeout, down, down: the streak restarted after the timeout.
    run(&mut poller, 2).await;
    assert_eq!(setup.calls(), Vec::<String>::new());
    run(&mut poller, 1).await;
    assert_eq!(
        setup.calls(),
        [format!("is-active {UNIT}"), format!("start {UNIT}")]
    );
}

#[tokio::test]
async fn a_bad_token_is_api_down_with_the_http_code() {
    let fake = FakeCloudflare::start().await;
    fake.script(ACCOUNT, TUNNEL, vec![CfReply::status("down", 0)]);
    let setup = Setup::new("revoked-token", true);
    let mut poller = poller_from_options(&setup.options(&fake, true, true)).unwrap();
    run(&mut poller, 4).await;
    assert_eq!(
        samples(&poller),
        [
            "vpsmon_cloudflare_api_up 0",
            "vpsmon_cloudflare_api_errors_total{code=\"401\"} 4",
            &format!("vpsmon_failover_active{{tunnel_id=\"{TUNNEL}\"}} 0"),
            SUCCESS
        ]
    );
    assert_eq!(setup.calls(), Vec::<String>::new());
    assert!(
        fake.requests()
            .iter()
            .all(|r| r.authorization_present && !r.authorized)
    );
}

#[tokio::test]
async fn the_401_envelope_from_a_scripted_reply_reads_the_same() {
    let fake = FakeCloudflare::start().await;
    fake.script(
        ACCOUNT,
        TUNNEL,
        vec![CfReply::status("healthy", 2), CfReply::BadToken],
    );
    let setup = Setup::new(fake.token(), false);
    let mut poller = poller_from_options(&setup.options(&fake, false, false)).unwrap();
    run(&mut poller, 2).await;
    // No failover configured: no failover series at all.
    assert_eq!(
        samples(&poller),
        expected(
            "healthy",
            2,
            &[
                "vpsmon_cloudflare_api_up 0",
                "vpsmon_cloudflare_api_errors_total{code=\"401\"} 1",
                SUCCESS
            ]
        )
    );
}

#[tokio::test]
async fn gateway_down_means_no_failover_and_gateway_and_cloudflared_are_exported() {
    let fake = FakeCloudflare::start().await;
    fake.script(ACCOUNT, TUNNEL, vec![CfReply::status("down", 0)]);
    let cloudflared = FakeCloudflared::start(4).await;
    let setup = Setup::new(fake.token(), true);
    let mut opts = setup.options(&fake, true, true);
    // The IPv6 discard prefix (RFC 6666): never answers.
    opts.gateway = Some("[100::1]:9".into());
    // Also bounds each call to the fake Cloudflare: roomy enough for a busy machine, since one
    // slow answer would read as "unknown" and break the run of downs the failover needs.
    opts.timeout = Duration::from_secs(3);
    opts.cloudflared_url = Some(cloudflared.url());
    let mut poller = poller_from_options(&opts).unwrap();
    run(&mut poller, 4).await;
    assert_eq!(setup.calls(), Vec::<String>::new());
    assert_eq!(
        samples(&poller),
        expected(
            "down",
            0,
            &[
                "vpsmon_cloudflare_api_up 1",
                "vpsmon_gateway_up{gateway=\"[100::1]:9\"} 0",
                "vpsmon_cloudflared_ready_connections 4",
                &format!("vpsmon_failover_active{{tunnel_id=\"{TUNNEL}\"}} 0"),
                SUCCESS
            ]
        )
    );

    // A gateway that answers (a local listener): the failover goes ahead.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let gw = listener.local_addr().unwrap().to_string();
    opts.gateway = Some(gw.clone());
    cloudflared.set_ready_connections(0);
    let mut poller = poller_from_options(&opts).unwrap();
    run(&mut poller, 3).await;
    assert_eq!(
        setup.calls(),
        [format!("is-active {UNIT}"), format!("start {UNIT}")]
    );
    let body = samples(&poller);
    assert!(
        body.contains(&format!("vpsmon_gateway_up{{gateway=\"{gw}\"}} 1")),
        "{body:#?}"
    );
    assert!(
        body.contains(&"vpsmon_cloudflared_ready_connections 0".to_string()),
        "{body:#?}"
    );
}

#[tokio::test]
async fn a_unit_already_running_is_not_started_again() {
    let fake = FakeCloudflare::start().await;
    fake.script(ACCOUNT, TUNNEL, vec![CfReply::status("down", 0)]);
    let setup = Setup::new(fake.token(), true);
    std::fs::write(setup.path("unit.state"), "active\n").unwrap();
    let mut poller = poller_from_options(&setup.options(&fake, true, false)).unwrap();
    run(&mut poller, 6).await;
    assert_eq!(setup.calls(), [format!("is-active {UNIT}")]);
    let body = samples(&poller);
    assert!(body.contains(&format!(
        "vpsmon_failover_actions_total{{tunnel_id=\"{TUNNEL}\",action=\"start\",result=\"already_active\"}} 1"
    )));
    assert!(body.contains(&format!(
        "vpsmon_failover_active{{tunnel_id=\"{TUNNEL}\"}} 1"
    )));
}

#[tokio::test]
async fn failover_off_by_default_runs_nothing() {
    let fake = FakeCloudflare::start().await;
    fake.script(ACCOUNT, TUNNEL, vec![CfReply::status("down", 0)]);
    let setup = Setup::new(fake.token(), true);
    let mut opts = setup.options(&fake, false, false);
    opts.failover = FailoverOptions {
        systemctl: setup.path("systemctl"),
        ..FailoverOptions::default()
    };
    let mut poller = poller_from_options(&opts).unwrap();
    run(&mut poller, 5).await;
    assert_eq!(setup.calls(), Vec::<String>::new());
    assert!(
        !samples(&poller)
            .iter()
            .any(|l| l.starts_with("vpsmon_failover"))
    );
}

/// The real collector polls in the background. While Cloudflare holds the poll for 30 s, a
/// scrape answers: asserted by the fake still holding that request when the scrape returns.
#[test]
fn a_scrape_during_a_cloudflare_outage_answers_at_once() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let fake = rt.block_on(FakeCloudflare::start());
    fake.script(
        ACCOUNT,
        TUNNEL,
        vec![CfReply::Timeout(Duration::from_secs(30))],
    );
    let setup = Setup::new(fake.token(), false);
    let mut config = Config {
        enabled: ["tunnel".to_string()].into_iter().collect(),
        ..Config::default()
    };
    // What setup.options(&fake, false, false) holds, as the flags give it, with a 60 s timeout.
    for (flag, value) in [
        (
            &tunnel::CONFIG,
            setup.path("tunnels.yml").display().to_string(),
        ),
        (&tunnel::API_URL, fake.api_base()),
        (&tunnel::TIMEOUT, "60s".to_string()),
        (
            &tunnel::FAILOVER_SYSTEMCTL,
            setup.path("systemctl").display().to_string(),
        ),
    ] {
        config.options.set(flag, vec![value]);
    }
    let scraper = Scraper::new(config).unwrap();
    // Wait until the poll is being held.
    rt.block_on(async {
        testkit::procs::eventually(Duration::from_secs(30), "the first poll", || async {
            (!fake.requests().is_empty()).then_some(())
        })
        .await
        .unwrap()
    });
    let body = String::from_utf8(scraper.scrape()).unwrap();
    let requests = fake.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(
        requests[0].status, 0,
        "the scrape answered while the poll was held"
    );
    assert!(body.contains(SUCCESS), "{body}");
    assert!(
        !body.contains("vpsmon_cloudflare_api_up"),
        "no check finished yet: {body}"
    );
    // Dropping the scraper stops the poller without waiting for the held request.
    drop(scraper);
}

/// The real binary, configured by flags: a scrape answers while the fake API holds the first
/// poll, and the token appears nowhere in the log.
#[tokio::test]
async fn the_binary_scrapes_during_an_outage_and_never_logs_the_token() {
    let fake = FakeCloudflare::start().await;
    fake.script(
        ACCOUNT,
        TUNNEL,
        vec![CfReply::Timeout(Duration::from_secs(30))],
    );
    let setup = Setup::new(fake.token(), true);
    let port = testkit::procs::free_port();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_vpsmon-exporter"));
    cmd.arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--collector.disable-defaults")
        .arg(format!(
            "--collector.tunnel.config={}",
            setup.path("tunnels.yml").display()
        ))
        .arg(format!("--collector.tunnel.api-url={}", fake.api_base()))
        .arg("--collector.tunnel.timeout=60s")
        .arg("--failover.enabled")
        .arg(format!(
            "--failover.systemctl={}",
            setup.path("systemctl").display()
        ))
        .args(["--log.level=trace", "--log.format=json"])
        .env_remove("RUST_LOG");
    let mut proc =
        testkit::procs::Proc::spawn("vpsmon-exporter", cmd, &setup.path("exporter.log")).unwrap();
    let base = format!("http://127.0.0.1:{port}");
    testkit::procs::wait_http_ok(&mut proc, &format!("{base}/ping"), Duration::from_secs(30))
        .await
        .unwrap();
    testkit::procs::eventually(Duration::from_secs(30), "the first poll", || async {
        (!fake.requests().is_empty()).then_some(())
    })
    .await
    .unwrap();
    let resp = reqwest::Client::new()
        .get(format!("{base}/metrics"))
        .timeout(Duration::from_secs(25))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body = resp.text().await.unwrap();
    assert_eq!(
        fake.requests()[0].status,
        0,
        "the scrape answered while the poll was held"
    );
    assert!(body.contains(SUCCESS), "{body}");
    assert!(
        body.contains(&format!(
            "vpsmon_failover_active{{tunnel_id=\"{TUNNEL}\"}} 0\n"
        )),
        "{body}"
    );
    assert!(!body.contains("vpsmon_cloudflare_api_up"), "{body}");
    proc.kill();
    let log = proc.log_text();
    assert!(log.contains("vpsmon-exporter listening"), "{log}");
    assert!(
        !log.contains(fake.token()),
        "the token leaked into the log:\n{log}"
    );
}

#[test]
fn the_binary_refuses_a_bad_tunnel_list_naming_file_and_line() {
    let setup = Setup::new("tok", false);
    let list = setup.path("tunnels.yml");
    let text = std::fs::read_to_string(&list).unwrap() + "    token: inline-secret\n";
    std::fs::write(&list, text).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vpsmon-exporter"))
        .arg(format!("--collector.tunnel.config={}", list.display()))
        .arg("--web.listen-address=127.0.0.1:0")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "vpsmon-exporter: --collector.tunnel.config: {}:6: unknown field `token`",
            list.display()
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("inline-secret"), "{stderr}");
}
